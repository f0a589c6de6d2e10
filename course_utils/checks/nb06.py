"""Checks for notebook 6, DDIM: sigma(eta), one DDIM step, slerp between noises."""

from __future__ import annotations

import torch

from .. import samplers
from ..schedules import linear_betas, make_schedule, schedule_from_betas
from .registry import Case, Exercise, KnownMistake, register

_g = torch.Generator().manual_seed(2468)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)
_z0 = torch.randn(3, 1, 28, 28, generator=_g)
_z1 = torch.randn(3, 1, 28, 28, generator=_g)
_z1[1] = 0.6 * _z0[1] + 0.8 * _z1[1]  # a different angle for each image


def _sigma_cases():
    a = schedule_from_betas("linear", linear_betas(1000)).alphas_cumprod
    return [Case((a[600], a[400], 0.5), label="η = 0.5, t = 600 → 400"), Case((a[600], a[400], 1.0), label="η = 1"),
            Case((a[999], a[979], 0.3), label="η = 0.3, t = 999 → 979"), Case((a[600], a[400], 0.0), label="η = 0"),
            Case((a[20], torch.tensor(1.0), 1.0), label="last step, ᾱ_prev = 1"),
            Case((a[600], a[599], 1.0), label="η = 1, one step back (t = 600 → 599)")]


def _ratio(at, ap):  # the noise left after the step over the noise before it
    return (1 - ap) / (1 - at)


def _shrink(at, ap):
    return 1 - at / ap


register(Exercise(
    "nb06.ddim_sigma", "06_ddim_fast_deterministic_sampling", "ddim_sigma",
    "σ(η), DDIM's fresh-noise level (Eq. 16 of Song et al. 2021)", "medium", samplers.ddim_sigma,
    cases=_sigma_cases,
    mistakes=(
        KnownMistake("σ² for σ", lambda at, ap, eta: eta**2 * _ratio(at, ap) * _shrink(at, ap),
                     "That is σ², a variance; return the standard deviation σ."),
        KnownMistake("η left out", lambda at, ap, eta: (_ratio(at, ap) * _shrink(at, ap)).sqrt(),
                     "η is missing: η = 0 must give σ = 0 (deterministic DDIM)."),
        KnownMistake("η squared", lambda at, ap, eta: eta**2 * (_ratio(at, ap) * _shrink(at, ap)).sqrt(),
                     "η scales σ itself, once: σ is proportional to η, not to η²."),
        KnownMistake("no square roots", lambda at, ap, eta: eta * _ratio(at, ap) * _shrink(at, ap),
                     "The two factors under the roots are variance ratios: σ needs their square roots."),
        KnownMistake("no square root on the second factor", lambda at, ap, eta: eta * _ratio(at, ap).sqrt() * _shrink(at, ap),
                     "The second factor needs its square root too."),
        KnownMistake("the first ratio upside down", lambda at, ap, eta: eta * (1 / _ratio(at, ap) * _shrink(at, ap)).sqrt(),
                     "The first ratio is upside down: it is the noise left *after* the step over the noise before it, "
                     "so it is below 1 (and σ = 0 at the last step, where ᾱ_prev = 1)."),
        KnownMistake("the ratio inside the second root upside down",
                     lambda at, ap, eta: eta * (_ratio(at, ap) * (1 - ap / at)).sqrt(),
                     "Inside the second root the ratio is upside down: ᾱ_t < ᾱ_prev, so your version takes the root "
                     "of a negative number."),
        KnownMistake("the ratio inside the second root upside down, with abs()",
                     lambda at, ap, eta: eta * (_ratio(at, ap) * (1 - ap / at)).abs().sqrt(),
                     "Inside the second root the ratio is upside down (ᾱ_t < ᾱ_prev, so the factor lies between 0 "
                     "and 1); taking the absolute value hides the mistake."),
        KnownMistake("the first ratio left out", lambda at, ap, eta: eta * _shrink(at, ap).sqrt(),
                     "One of the two factors is missing: with η = 1 and one step back (t_prev = t − 1), σ² must equal "
                     "β̃_t, the DDPM posterior variance."),
        KnownMistake("the second factor left out", lambda at, ap, eta: eta * _ratio(at, ap).sqrt(),
                     "One of the two factors is missing: with η = 1 and one step back (t_prev = t − 1), σ² must equal "
                     "β̃_t, the DDPM posterior variance."),
    ),
    type_hint="σ must be a tensor: the cells below square σ and stack the results with torch.stack. Use tensor "
              "operations (`.sqrt()`, `torch.sqrt`), not `math.sqrt` or `float(...)`, also for η = 0.",
    checkpoints=(("η = 0", "η = 0 must give σ = 0 (no fresh noise at all)."),
                 ("last step, ᾱ_prev = 1", "At the last step (ᾱ_prev = 1) σ must be 0: nothing may be added to the "
                                           "clean image."),
                 ("η = 1, one step back (t = 600 → 599)", "With η = 1 and one step back (t_prev = t − 1), σ² must equal "
                                                          "the DDPM posterior variance β̃_t (schedule.posterior_variance[t]).")),
    generic_hint="Check the special cases by hand: η = 0 and the last step (ᾱ_prev = 1) must both give σ = 0, and with "
                 "η = 1 and one step back (t_prev = t − 1) σ² must equal the DDPM posterior variance β̃_t.",
))


def _ddim_cases():
    x_t = _x0 * 0.6 + _eps * 0.8
    a_t, a_prev = _schedule.alphas_cumprod[600], _schedule.alphas_cumprod[400]
    return [Case((x_t, _eps, a_t, a_prev, 0.0, _z), label="η = 0"), Case((x_t, _eps, a_t, a_prev, 1.0, _z), label="η = 1"),
            Case((x_t, _eps, a_t, torch.tensor(1.0), 0.0, _z), label="last step, abar_prev = 1"),
            Case((x_t, _eps, _schedule.alphas_cumprod[999], _schedule.alphas_cumprod[949], 0.5, _z), label="η = 0.5, t = 999 → 949")]


def _x0_hat(x, e, a):
    return (x - (1 - a).sqrt() * e) / a.sqrt()


def _sigma(a, ap, eta):
    return samplers.ddim_sigma(a, ap, eta)


def _step(x, e, a, ap, eta, z, x0=_x0_hat, direction=None, noise=None):
    s = _sigma(a, ap, eta)
    d = (1 - ap - s**2).clamp(min=0).sqrt() if direction is None else direction(a, ap, s)
    return ap.sqrt() * x0(x, e, a) + d * e + (s * z if noise is None else noise(s) * z)


register(Exercise(
    "nb06.ddim_step", "06_ddim_fast_deterministic_sampling", "ddim_step", "one DDIM update and the meaning of η", "hard",
    samplers.ddim_step,
    cases=_ddim_cases,
    mistakes=(
        KnownMistake("η ignored (the deterministic step for every η)",
                     lambda x, e, a, ap, eta, z: ap.sqrt() * _x0_hat(x, e, a) + (1 - ap).sqrt() * e,
                     "Right for η = 0 only: with η > 0 part of the noise is fresh, so the direction term must leave room "
                     "for σ², and the fresh noise term must be added."),
        KnownMistake("no square roots", lambda x, e, a, ap, eta, z: ap * _x0_hat(x, e, a) + (1 - ap) * e,
                     "The coefficients of x̂₀ and ε are standard deviations: square roots of ᾱ_prev and of the noise variance."),
        KnownMistake("the sign in x̂₀", lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ + (1 - a_).sqrt() * e_) / a_.sqrt()),
                     "Sign error in x̂₀: x_t *contains* the scaled noise, so it is taken away (notebook 3)."),
        KnownMistake("x̂₀ with one step's α (ᾱ_t/ᾱ_prev) for ᾱ_t",
                     lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ - (1 - a_ / ap).sqrt() * e_) / (a_ / ap).sqrt()),
                     "x̂₀ undoes the whole noising from x₀ to x_t, so it uses the cumulative ᾱ_t, not one step's α."),
        KnownMistake("x̂₀ divided by ᾱ_t without its root",
                     lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ - (1 - a_).sqrt() * e_) / a_),
                     "In x̂₀, x_t holds the image scaled by the *square root* of ᾱ_t: divide by that."),
        KnownMistake("ᾱ_t in the direction term", lambda x, e, a, ap, eta, z: _step(
                     x, e, a, ap, eta, z, direction=lambda a_, ap_, s: (1 - a_ - s**2).clamp(min=0).sqrt()),
                     "The direction term points to the noise level of the step you arrive at, so it uses ᾱ_prev, not ᾱ_t."),
        KnownMistake("no room left for σ² in the direction term", lambda x, e, a, ap, eta, z: _step(
                     x, e, a, ap, eta, z, direction=lambda a_, ap_, s: (1 - ap_).sqrt()),
                     "With η > 0 the fresh noise brings variance σ², so the direction term must carry that much less."),
        KnownMistake("the fresh noise left out", lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, noise=lambda s: 0 * s),
                     "Add the fresh noise z, scaled by σ; only η = 0 makes it vanish."),
        KnownMistake("σ² for σ on the fresh noise", lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, noise=lambda s: s**2),
                     "The fresh noise z is scaled by the standard deviation σ, not by σ²."),
        KnownMistake("x̂₀ clipped to [-1, 1]", lambda x, e, a, ap, eta, z: _step(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: _x0_hat(x_, e_, a_).clamp(-1, 1)),
                     "Do not clip x̂₀ here: the exercise is the plain update (the course's DDIMSampler clips as an option)."),
        KnownMistake("x̂₀ and ε coefficients swapped", lambda x, e, a, ap, eta, z: (1 - ap).sqrt() * _x0_hat(x, e, a) + ap.sqrt() * e,
                     "The coefficients are swapped: at the last step (ᾱ_prev = 1) the result must be x̂₀ itself."),
    ),
    checkpoints=(("last step, abar_prev = 1", "Check the last step in your head: with ᾱ_prev = 1 and η = 0 the result "
                                              "must be exactly x̂₀."),
                 ("η = 0", "With η = 0 the step is q_sample(x̂₀, t_prev) with the noise ε̂: the same noise, rescaled to "
                           "the arrival step's level.")),
    generic_hint="Compare your code with Eq. 12 term by term: x̂₀ and its coefficient, the direction term, the fresh "
                 "noise.",
))


def _flat_cos(a, b):
    fa, fb = a.flatten(1), b.flatten(1)
    return ((fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1))).view(-1, 1, 1, 1)


def _theta(a, b):
    return _flat_cos(a, b).clamp(-1, 1).acos()


def _lerp(a, b, w):
    return (1 - w) * a + w * b


def _whole_batch(a, b, w):  # one angle for the whole batch
    th = ((a * b).sum() / (a.norm() * b.norm())).clamp(-1, 1).acos()
    return (((1 - w) * th).sin() * a + (w * th).sin() * b) / th.sin()


def _arc(a, b, w, th, divide=True):
    out = ((1 - w) * th).sin() * a + (w * th).sin() * b
    return out / th.sin() if divide else out


def _no_limit(a, b, w):  # the formula as written: 0/0 when θ = 0
    return _arc(a, b, w, _theta(a, b))


def _no_clamp(a, b, w):  # the θ → 0 limit taken, but arccos of a cosine that rounds above 1 is NaN
    th = _flat_cos(a, b).acos()
    return torch.where(th < 1e-4, _lerp(a, b, w), _arc(a, b, w, th))


_ANGLE_ITEMS = ("pair 0", "pair 1", "pair 2")
_same = torch.randn(16, 1, 28, 28, generator=_g)  # enough pairs that the cosine of some rounds above 1

register(Exercise(
    "nb06.slerp", "06_ddim_fast_deterministic_sampling", "slerp", "spherical interpolation between two noises", "medium",
    samplers.slerp,
    cases=lambda: [Case((_z0, _z1, 0.3), label="u = 0.3", items=_ANGLE_ITEMS), Case((_z0, _z1, 0.5), label="u = 0.5", items=_ANGLE_ITEMS),
                   Case((_z0, _z1, 0.0), label="u = 0 gives z0", items=_ANGLE_ITEMS),
                   Case((_z0, _z1, 1.0), label="u = 1 gives z1", items=_ANGLE_ITEMS),
                   Case((_same, _same.clone(), 0.3), label="an identical pair (θ = 0)"),
                   Case((_z0[:1], 3 * _z0[:1], 0.5), label="a pair pointing the same way (z1 = 3 z0)")],
    mistakes=(
        KnownMistake("the straight line (lerp)", _lerp,
                     "That is the straight line between z0 and z1; slerp follows the arc, so the angle θ between "
                     "them enters the weights."),
        KnownMistake("not divided by sin θ", lambda a, b, w: _arc(a, b, w, _theta(a, b), divide=False),
                     "Divide by sin θ, so that u = 0 gives z0 and u = 1 gives z1 exactly."),
        KnownMistake("cos θ used as the angle", lambda a, b, w: _arc(a, b, w, _flat_cos(a, b)),
                     "θ is the angle itself, θ = arccos(cos θ) (torch.acos), not its cosine."),
        KnownMistake("one angle for the whole batch", _whole_batch,
                     "Take the angle per image: flatten each image (x.flatten(1)) and sum over dim=1, not over the whole batch."),
        KnownMistake("the two weights swapped", lambda a, b, w: _arc(b, a, w, _theta(a, b)),
                     "The weights are swapped: u = 0 must give z0 and u = 1 must give z1."),
        KnownMistake("cos θ without dividing by the lengths",
                     lambda a, b, w: _arc(a, b, w, (a.flatten(1) * b.flatten(1)).sum(1).clamp(-1, 1).acos().view(-1, 1, 1, 1)),
                     "cos θ is the dot product divided by both lengths (norms); without that it is not a cosine."),
        KnownMistake("the lengths of the batch, not of each image",
                     lambda a, b, w: _arc(a, b, w, ((a.flatten(1) * b.flatten(1)).sum(1) / (a.norm() * b.norm()))
                                          .clamp(-1, 1).acos().view(-1, 1, 1, 1)),
                     "Divide each image's dot product by that image's own lengths (`.norm(dim=1)`), not by the norms "
                     "of the whole batch."),
        KnownMistake("no limit for θ = 0 (0/0 on an identical pair)", _no_limit,
                     "When z0 and z1 point the same way, θ = 0 and the formula divides 0 by 0 (NaN). Work out what the "
                     "two weights tend to as θ → 0, and return that limit when θ is (almost) 0."),
        KnownMistake("arccos of a cosine that rounds above 1", _no_clamp,
                     "Rounding can make the cosine of two noises that point the same way come out a hair above 1, and "
                     "its arccos is NaN: clamp the cosine into [−1, 1] before taking the arccos."),
        KnownMistake("the straight line, rescaled",
                     lambda a, b, w: _lerp(a, b, w) / _lerp(a, b, w).flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                     * _lerp(a.flatten(1).norm(dim=1), b.flatten(1).norm(dim=1), w).view(-1, 1, 1, 1),
                     "Rescaling the straight line fixes its length but not its direction: slerp moves along the arc, "
                     "with weights that depend on the angle θ."),
    ),
    checkpoints=(("u = 0 gives z0", "Check the ends: u = 0 must give z0 exactly."),
                 ("u = 1 gives z1", "Check the ends: u = 1 must give z1 exactly."),
                 ("an identical pair (θ = 0)", "For an identical pair θ = 0, and the result must be z0 itself (what do "
                                               "the two weights tend to as θ → 0?)."),
                 ("a pair pointing the same way (z1 = 3 z0)", "For a pair pointing the same way θ = 0: return the limit "
                                                             "of the arc as θ → 0.")),
    generic_hint="Check that halfway the length stays close to that of z0 and z1, and that the angle is taken for each "
                 "pair on its own.",
))


def _second_order_cases():
    g = torch.Generator().manual_seed(606)
    x0_hat, x0_hat_prev = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1, torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    h = lambda v: torch.tensor(v)  # noqa: E731
    return [Case((x0_hat, x0_hat_prev, h(0.5), h(0.5)), label="h = h_prev = 0.5"),
            Case((x0_hat, x0_hat_prev, h(1.2), h(0.4)), label="a step three times the previous one"),
            Case((x0_hat, x0_hat_prev, h(0.2), h(0.9)), label="a shorter step than the previous one"),
            Case((x0_hat, x0_hat.clone(), h(0.7), h(0.3)), label="the same prediction twice")]


def _line(x0, x0p, h, hp, base=None, weight=None):
    """A point on the straight line through the two predictions; ``weight`` times their difference from ``base``."""
    return (x0 if base is None else base) + (h / (2 * hp) if weight is None else weight) * (x0 - x0p)


register(Exercise(
    "nb06.second_order_x0", "06_ddim_fast_deterministic_sampling", "second_order_x0",
    "DPM-Solver++(2M)'s second-order correction of x̂₀", "medium", samplers.second_order_x0,
    cases=_second_order_cases,
    mistakes=(
        KnownMistake("the line taken at the end of the step", lambda x0, x0p, h, hp: _line(x0, x0p, h, hp, weight=h / hp),
                     "Your correction is twice too large: D is the line's value halfway through the step ahead, "
                     "not at its end."),
        KnownMistake("the step ratio upside down", lambda x0, x0p, h, hp: _line(x0, x0p, h, hp, weight=hp / (2 * h)),
                     "The ratio of the steps is upside down: a longer step ahead must give a larger correction."),
        KnownMistake("the correction's sign", lambda x0, x0p, h, hp: _line(x0, x0p, h, hp, weight=-h / (2 * hp)),
                     "Wrong direction: the line runs from x0_hat_prev through x0_hat and on, so D lies beyond x0_hat, "
                     "away from x0_hat_prev."),
        KnownMistake("the average of the two predictions", lambda x0, x0p, h, hp: (x0 + x0p) / 2,
                     "Averaging the two predictions looks backwards; D extrapolates forward from the newest one."),
        KnownMistake("h_prev left out of the slope", lambda x0, x0p, h, hp: _line(x0, x0p, h, hp, weight=h / 2),
                     "The slope of the line is the change in x̂₀ per unit of λ: divide the change by the distance h_prev "
                     "between the two predictions."),
        KnownMistake("extrapolated from the older prediction", lambda x0, x0p, h, hp: _line(x0, x0p, h, hp, base=x0p),
                     "Start from the newest prediction, x0_hat, and move forward along the line from there."),
    ),
    checkpoints=(("the same prediction twice", "With the same prediction twice the line is flat: no correction at all."),),
    generic_hint="Draw the line through the two predictions (λ across, x̂₀ up) and read off its value halfway through "
                 "the step ahead; doubling the step ahead must double the correction.",
))
