"""The exercise registry: every exercise of the course, with what its check needs to know about it.

An exercise is registered once, in the module of its notebook (``course_utils/checks/nbNN.py``)::

    register(Exercise(
        "nb01.add_noise", "01_adding_noise_by_hand", "add_noise", "additive Gaussian noise x + σε", "easy",
        forward.add_noise,
        cases=lambda: [Case((x, 0.5, eps), label="sigma=0.5"), ...],
        mistakes=(KnownMistake("σ² for σ", lambda x, s, n: x + s**2 * n, "σ is a standard deviation: ..."), ...),
    ))

Its id is ``nbNN.<function>`` and its check is ``check_<function>``, which :mod:`course_utils.checks` makes
from the registry (nothing else to write). Ids an exercise had before (``aliases``, e.g. ``"nb03.x0_from_eps"``)
keep working wherever an id is looked up, and so do the old check names made from them
(``check_x0_from_eps``), so stored notebooks and gradebooks still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class Case:
    """Arguments for one call, a description used in messages, and optional names for the batch items.

    ``items`` names the entries along the result's first dimension (e.g. ``("t = 0", "t = 999")``),
    so that a wrong answer can be told "right for t = 0 but off for t = 999".
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownMistake:
    """A plausible wrong answer: if the student's results match ``wrong(*args)`` on every case, say ``hint``.

    ``name`` is the short description listed in INSTRUCTORS.md's exercise index. Results are matched within
    0.1% of their size, plus ``tolerance`` times their size for mistakes whose float32 rounding varies a lot.
    """

    name: str
    wrong: Callable
    hint: str
    tolerance: float = 0.0


@dataclass(frozen=True)
class KnownError:
    """An exception a plausible wrong answer raises: ``pattern`` (a regex) is searched in "Type: message".

    ``hint`` is a text, or a function ``hint(match, names, float_inputs)`` that fills in names (see
    :func:`course_utils.checks.diagnosis.error_hint`)."""

    name: str
    pattern: str
    hint: str | Callable


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it practises, the reference that answers it, and how to check it.

    ``cases`` builds the cases (called once, on the first check). ``type_hint`` explains why the
    following cells need the result's type (a tensor, a Python float); ``dtype_hint`` likewise for
    its dtype. ``validate(got, *args)`` may return ``(message, hint)`` for a further requirement
    (e.g. a loss that can be back-propagated). When no known mistake matches, the hint says how the
    values are off and adds what to check by hand: the hint of the first of ``checkpoints``
    (``(case label, hint)`` pairs, e.g. ``("t = 0", "at t = 0, ᾱ ≈ 1, so ...")``) whose case the answer
    gets wrong, else ``generic_hint``, which must not point at one case. Like every hint these name a
    method, never the formula asked for. ``aliases`` are ids the exercise had before (they still find it).
    """

    id: str  # "nb01.add_noise": "nb" + the notebook's number + "." + the function's name
    notebook: str  # "01_adding_noise_by_hand"
    function: str  # the name the student completes
    practises: str
    difficulty: str  # "easy" | "medium" | "hard"
    reference: Callable
    cases: Callable[[], list[Case]] | None = None
    mistakes: tuple[KnownMistake, ...] = ()
    errors: tuple[KnownError, ...] = ()
    generic_hint: str = ""
    checkpoints: tuple[tuple[str, str], ...] = ()
    type_hint: str = ""
    dtype_hint: str = ""
    validate: Callable | None = None
    atol: float = 1e-5
    rtol: float = 1e-4
    aliases: tuple[str, ...] = ()
    check: str = ""  # the check's name; "check_<function>" unless given
    # How a case runs a function, for an exercise whose answer is what it *does* (a training step changes the
    # weights): call(fn, *case.args) runs it and returns what is compared. None: fn(*case.args) is compared.
    call: Callable | None = None
    random_hint: str = ""  # said when the answer differs from call to call (default: "use the noise it is given")

    def __post_init__(self):
        if not self.check:
            object.__setattr__(self, "check", f"check_{self.function}")

    @property
    def old_checks(self) -> tuple[str, ...]:
        """The check names of the old ids (``check_x0_from_eps`` for ``nb03.x0_from_eps``), kept working."""
        names = (f"check_{alias.split('.', 1)[1]}" for alias in self.aliases)
        return tuple(name for name in names if name != self.check)

    def run(self, fn: Callable, args: tuple, kwargs: dict):
        """What a case compares for ``fn`` (the student's function, the reference or a known mistake)."""
        return self.call(fn, *args, **kwargs) if self.call is not None else fn(*args, **kwargs)

    def hints(self) -> list[str]:
        """Every fixed hint this exercise can print (the dynamic ones only add numbers or names)."""
        fixed = [m.hint for m in self.mistakes] + [e.hint for e in self.errors if isinstance(e.hint, str)]
        fixed += [hint for _, hint in self.checkpoints]
        return fixed + [h for h in (self.generic_hint, self.type_hint, self.dtype_hint, self.random_hint) if h]


class Registry(Mapping):
    """Exercise id -> :class:`Exercise`, in registration order. An old id (an alias) finds its exercise too,
    but iterating gives each exercise once, under its id; :meth:`canonical` turns an old id into the id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Exercise] = {}
        self._aliases: dict[str, str] = {}

    def canonical(self, exercise_id: str) -> str:
        return self._aliases.get(exercise_id, exercise_id)

    def __getitem__(self, exercise_id: str) -> Exercise:
        return self._by_id[self.canonical(exercise_id)]

    def __contains__(self, exercise_id: object) -> bool:
        return isinstance(exercise_id, str) and self.canonical(exercise_id) in self._by_id

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, exercise: Exercise) -> Exercise:
        for name in (exercise.id, *exercise.aliases):
            owner = self._by_id.get(self.canonical(name))
            if owner is not None and owner.id != exercise.id:
                raise ValueError(f"exercise id {name!r} is taken by {owner.id} ({owner.notebook})")
        self._by_id[exercise.id] = exercise
        self._aliases.update({alias: exercise.id for alias in exercise.aliases})
        return exercise


EXERCISES = Registry()


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to :data:`EXERCISES` (registering the same id again replaces it) and return it."""
    return EXERCISES.add(exercise)


_CASES: dict[str, list[Case]] = {}


def cases_of(exercise: Exercise) -> list[Case]:
    """The exercise's cases, built once."""
    if exercise.id not in _CASES:
        _CASES[exercise.id] = exercise.cases() if exercise.cases is not None else []
    return _CASES[exercise.id]


def per_image(values: torch.Tensor, t) -> torch.Tensor:
    """``values[t]`` shaped (B, 1, 1, 1), to broadcast a per-step schedule quantity over a batch of images
    (for writing an exercise's cases and mistakes)."""
    return values[t].view(-1, 1, 1, 1)
