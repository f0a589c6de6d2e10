"""Sentences about measurements, computed from the numbers: a lesson's claims follow its run.

A notebook never writes "the EMA weights recognise more samples" in its prose, because a shorter or
differently seeded run may print the opposite. It prints :func:`compare`'s sentence instead, which
says which of two scores is better only when the gap is larger than twice the larger of their
standard deviations (notebook 8's rule 3), and "within noise" otherwise.

    compare("EMA weights", 0.264, 0.020, "raw weights", 0.060, 0.011, what="recognised", percent=True)
    -> 'EMA weights: recognised 26.4% ± 2.0, raw weights: 6.0% ± 1.1; EMA weights higher by 20.4 points,
        beyond the noise (twice the larger sd: 4.0)'
"""

from __future__ import annotations

import math

NOISE_SDS = 2.0  # a gap is claimed only beyond this many of the larger standard deviation


def binomial_sd(fraction: float, n: int) -> float:
    """The standard deviation of a share measured on ``n`` samples: sqrt(p (1 - p) / n)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return math.sqrt(max(fraction * (1 - fraction), 0.0) / n)


def beyond_noise(a: float, sd_a: float, b: float, sd_b: float, sds: float = NOISE_SDS) -> bool:
    """True when |a - b| is larger than ``sds`` times the larger of the two standard deviations."""
    return abs(a - b) > sds * max(sd_a, sd_b)


def compare(name_a: str, a: float, sd_a: float, name_b: str, b: float, sd_b: float, *, what: str,
            percent: bool = False, lower_is_better: bool = False) -> str:
    """One sentence comparing two scores with their sds: which is better, by how much, and whether beyond noise.

    ``percent``: the scores are fractions, printed as percentages and their gap in points.
    ``lower_is_better``: for scores such as digit-FID.
    """
    scale, unit, gap_unit = (100.0, "%", " points") if percent else (1.0, "", "")
    fmt = lambda v: f"{scale * v:.1f}{unit}" if percent else f"{v:.2f}"  # noqa: E731
    head = f"{name_a}: {what} {fmt(a)} ± {scale * sd_a:.1f}, {name_b}: {fmt(b)} ± {scale * sd_b:.1f}"
    limit = NOISE_SDS * max(sd_a, sd_b) * scale
    if not beyond_noise(a, sd_a, b, sd_b):
        gap = f"{scale * abs(a - b):.1f}{gap_unit}"
        return f"{head}; the same within the noise (the gap, {gap}, is under twice the larger sd, {limit:.1f})"
    better_a = (a < b) if lower_is_better else (a > b)
    winner, loser = (name_a, name_b) if better_a else (name_b, name_a)
    direction = "lower" if lower_is_better else "higher"
    return (f"{head}; {winner} {direction} (better) than {loser} by {scale * abs(a - b):.1f}{gap_unit}, "
            f"beyond the noise (twice the larger sd: {limit:.1f})")
