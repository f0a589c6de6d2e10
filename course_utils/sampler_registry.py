"""The samplers that can be named, one entry each: what ``"DDIM-50"`` or ``"SDE-DPM++2M-20"`` means.

    make_sampler("DDIM", 50, schedule, eta=0.0)   -> DDIMSampler(schedule, 50, eta=0.0)
    parse_row("DDIM-50")                          -> ("DDIM", 50)

The benchmark (``python -m course_utils.bench --rows ...``) reads this table, and so can anyone who wants a
sampler by name. An unknown name is an error that lists the known ones, never a silent default.

Adding a sampler: write its class (keeping the contract of :class:`course_utils.samplers.Sampler`), then one
:class:`SamplerEntry` below. ``model`` says what it runs on: ``"ddpm"`` (a noise-predicting model and its
schedule) or ``"flow"`` (a velocity model, continuous time, no schedule: :mod:`course_utils.flow`), as
Euler and Heun below. The number in a row's name is always its network calls (``Heun-9``: 5 steps).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from .flow import FlowEulerSampler, FlowHeunSampler
from .samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, Sampler
from .schedules import NoiseSchedule

MODEL_KINDS = ("ddpm", "flow")


@dataclass(frozen=True)
class SamplerEntry:
    """One nameable sampler: ``make(calls, schedule, eta)`` builds it for a run of ``calls`` network calls.

    ``every_step``: it always runs all T steps of the schedule (DDPM), so ``NAME-T`` is its only row.
    ``uses_eta``: it takes DDIM's η (the benchmark names a row by its η when it is not 0).
    """

    name: str
    make: Callable[[int, NoiseSchedule | None, float], Sampler]
    model: str = "ddpm"
    every_step: bool = False
    uses_eta: bool = False

    def __post_init__(self):
        if self.model not in MODEL_KINDS:
            raise ValueError(f"SamplerEntry {self.name!r}: model must be one of {MODEL_KINDS}, got {self.model!r}")


def _heun(calls: int) -> FlowHeunSampler:
    """Heun's method with exactly ``calls`` network calls (two per step, one for the last): an odd number."""
    sampler = FlowHeunSampler.for_calls(calls)
    if sampler.network_calls != calls:
        raise ValueError(f"Heun calls the network twice per step and once for its last, so its network calls are odd "
                         f"(Heun-{calls - 1} or Heun-{calls + 1}), got Heun-{calls}")
    return sampler


SAMPLERS: dict[str, SamplerEntry] = {entry.name: entry for entry in (
    # one network call per step: DDPM (all T of them), DDIM, DPM-Solver++(2M) and Euler; Heun two, one for its last
    SamplerEntry("DDPM", lambda calls, schedule, eta: DDPMSampler(schedule), every_step=True),
    SamplerEntry("DDIM", lambda calls, schedule, eta: DDIMSampler(schedule, calls, eta=eta), uses_eta=True),
    SamplerEntry("DPM++2M", lambda calls, schedule, eta: DPMSolverSampler(schedule, calls)),
    SamplerEntry("SDE-DPM++2M", lambda calls, schedule, eta: DPMSolverSampler(schedule, calls, stochastic=True)),
    SamplerEntry("Euler", lambda calls, schedule, eta: FlowEulerSampler(calls), model="flow"),
    SamplerEntry("Heun", lambda calls, schedule, eta: _heun(calls), model="flow"),
)}


def sampler_entry(name: str) -> SamplerEntry:
    """The entry called ``name``, or a ValueError that lists the names there are."""
    if name not in SAMPLERS:
        close = difflib.get_close_matches(str(name), SAMPLERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown sampler {name!r}{hint}: the samplers are {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def make_sampler(name: str, calls: int, schedule: NoiseSchedule | None = None, eta: float = 0.0) -> Sampler:
    """The sampler called ``name`` with ``calls`` network calls (η = ``eta`` for DDIM), for ``schedule``."""
    return sampler_entry(name).make(calls, schedule, eta)


def parse_row(text: str, num_timesteps: int = 1000) -> tuple[str, int]:
    """``"DDIM-50"`` -> ("DDIM", 50): a sampler's name, a dash and its network calls, 1 to T = ``num_timesteps``;
    a sampler that runs every step (DDPM) only as ``NAME-T``."""
    name, _, calls = text.rpartition("-")
    examples = [f"{e.name}-{num_timesteps}" if e.every_step else f"{e.name}-<calls>" for e in SAMPLERS.values()]
    usage = f"a row is {', '.join(examples)} with 1 <= calls <= {num_timesteps} (e.g. DDIM-50)"
    if name not in SAMPLERS:
        upper = {known.upper(): known for known in SAMPLERS}  # "ddim" is surely DDIM
        close = difflib.get_close_matches((name or text).upper(), upper, n=1, cutoff=0.5)
        hint = f" (did you mean {upper[close[0]]}-{calls}?)" if close and calls else ""
        raise ValueError(f"{usage}; {text!r} names no sampler{hint}")
    if not calls.isdigit() or not 1 <= int(calls) <= num_timesteps:
        raise ValueError(f"{usage}, got {text!r}")
    if SAMPLERS[name].every_step and int(calls) != num_timesteps:
        raise ValueError(f"{usage}; {name} runs every one of the T = {num_timesteps} steps, so its row is "
                         f"{name}-{num_timesteps}, got {text!r}")
    if SAMPLERS[name].model == "flow":
        make_sampler(name, int(calls))  # needs no schedule: built here, so a count it cannot take is refused now
    return name, int(calls)
