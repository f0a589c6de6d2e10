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
import re
from dataclasses import dataclass

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
    sd_fmt = ".1f" if percent else ".2f"  # an sd to the precision of its score
    head = f"{name_a}: {what} {fmt(a)} ± {scale * sd_a:{sd_fmt}}, {name_b}: {fmt(b)} ± {scale * sd_b:{sd_fmt}}"
    limit = _short(NOISE_SDS * max(sd_a, sd_b) * scale)
    if not beyond_noise(a, sd_a, b, sd_b):
        gap = f"{_short(scale * abs(a - b))}{gap_unit}"
        return f"{head}; the same within the noise (the gap, {gap}, is under twice the larger sd, {limit})"
    better_a = (a < b) if lower_is_better else (a > b)
    winner, loser = (name_a, name_b) if better_a else (name_b, name_a)
    direction = "lower" if lower_is_better else "higher"
    return (f"{head}; {winner} {direction} (better) than {loser} by {_short(scale * abs(a - b))}{gap_unit}, "
            f"beyond the noise (twice the larger sd: {limit})")


def _short(value: float) -> str:
    """One decimal for gaps of 1 or more, two significant digits below (0.034 s, not 0.0)."""
    return f"{value:.1f}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"


# ----------------------------------------------------------------------------- reading sentences back
#
# A notebook's markdown may state what a printed comparison says, but only next to a marker that a test checks
# against the run (tests/test_lesson_claims.py), so the prose cannot drift from the numbers:
#
#     <!-- claim: DDPM-1000 lower (better) than DDIM-50 -->           the verdict compare() printed for that pair
#     <!-- claim: DDIM-100 vs DDIM-50: the same within the noise -->
#     <!-- claim: [class accuracy] w = 1.5 higher (better) than w = 1 -->   only the comparisons of that score
#     <!-- printed: the two runs are identical: True -->             any text a cell printed, word for word

_NUMBER = r"-?\d+(?:\.\d+)?"
COMPARISON = re.compile(
    rf"(?P<a_name>[^:;\n]+): (?P<what>[^\n]*?) ?(?P<a>{_NUMBER})%? ± (?P<sa>{_NUMBER}), "
    rf"(?P<b_name>[^:;\n]+): (?P<b>{_NUMBER})%? ± (?P<sb>{_NUMBER}); (?P<verdict>[^\n]+)")
_BETTER = re.compile(r"^(?P<winner>.+?) (?P<direction>lower|higher) \(better\) than (?P<loser>.+?)(?: by |$)")
_SAME = re.compile(r"^(?P<a>.+?) vs (?P<b>.+?): the same within the noise$")
CLAIM_MARKER = re.compile(r"<!--\s*(?P<kind>claim|printed):\s*(?P<text>.+?)\s*-->", re.DOTALL)


@dataclass(frozen=True)
class Comparison:
    """One sentence of :func:`compare`, read back: the two names and scores, and the printed outcome."""

    a_name: str
    a: float
    sd_a: float
    b_name: str
    b: float
    sd_b: float
    winner: str | None  # None: "the same within the noise"
    what: str = ""  # the score compared, e.g. "digit-FID"

    @property
    def pair(self) -> frozenset:
        return frozenset((self.a_name, self.b_name))


def parse_comparisons(text: str) -> list[Comparison]:
    """Every :func:`compare` sentence in ``text`` (for instance a notebook's printed output), read back."""
    found = []
    for m in COMPARISON.finditer(text):
        a_name, b_name = m["a_name"].strip(), m["b_name"].strip()
        verdict = m["verdict"]
        if verdict.startswith("the same within the noise"):
            winner = None
        else:
            better = _BETTER.match(verdict)
            if better is None:
                continue
            winner = better["winner"].strip()
        found.append(Comparison(a_name, float(m["a"]), float(m["sa"]), b_name, float(m["b"]), float(m["sb"]), winner,
                                m["what"].strip()))
    return found


def parse_claim(text: str) -> tuple[frozenset, str | None, str]:
    """A ``claim:`` marker's text -> (the pair of names, the winner or None for "the same within the noise", the
    score it is about: what ``[...]`` at its start names, or "" for any)."""
    text = " ".join(text.split())
    what = ""
    if text.startswith("["):
        what, _, text = text[1:].partition("] ")
    same = _SAME.match(text)
    if same:
        return frozenset((same["a"].strip(), same["b"].strip())), None, what
    better = _BETTER.match(text)
    if better:
        return frozenset((better["winner"].strip(), better["loser"].strip())), better["winner"].strip(), what
    raise ValueError(f"a claim reads 'A lower (better) than B', 'A higher (better) than B' or "
                     f"'A vs B: the same within the noise', after an optional '[score] ', got {text!r}")


def claim_problems(markdown: str, printed: str) -> list[str]:
    """Why the ``claim:`` and ``printed:`` markers in ``markdown`` disagree with ``printed`` (a run's outputs)."""
    problems = []
    comparisons = parse_comparisons(printed)
    flat = " ".join(printed.split())
    for m in CLAIM_MARKER.finditer(markdown):
        text = " ".join(m["text"].split())
        if m["kind"] == "printed":
            if text not in flat:
                problems.append(f"the prose relies on the printed text {text!r}, which this run did not print")
            continue
        try:
            pair, winner, what = parse_claim(text)
        except ValueError as err:
            problems.append(str(err))
            continue
        same_pair = [c for c in comparisons if c.pair == pair and (not what or c.what == what)]
        if not same_pair:
            problems.append(f"the prose claims {text!r}, but this run printed no comparison of {' and '.join(sorted(pair))}")
        for c in same_pair:
            if c.winner != winner:
                said = "the same within the noise" if c.winner is None else f"{c.winner} better"
                problems.append(f"the prose claims {text!r}, but the run printed: {c.a_name} {c.a:g} ± {c.sd_a:g}, "
                                f"{c.b_name} {c.b:g} ± {c.sd_b:g}: {said}")
    return problems
