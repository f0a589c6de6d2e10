"""Exercise checks: ``use_fn = check_<function>(student_fn)`` right after each exercise.

Each check prints a verdict (and a hint when something is wrong) and returns the function later cells
should use. The machinery has one module per idea:

    registry     what an exercise is (its cases, known mistakes, hints) and the registry EXERCISES
    compare      comparing a result with the reference's: type, shape, dtype, values
    inputs       in-place detection: did a function change a tensor it was given (also inside a dataclass)?
    judging      running a check (evaluate, run_check) and lending the reference when it fails
    diagnosis    what is wrong with an answer: a kind and a hint, never the answer
    formatting   the verdict line

The exercises themselves are registered in one module per notebook (``nb01`` ... ``nbNN``), imported here;
every registered exercise gets its ``check_<function>`` in this package (and its old check names, if it had
other ids before). INSTRUCTORS.md's exercise index lists them all (``python -m course_tools.exercise_index``).
"""

import importlib
import pkgutil
import re

from .formatting import VERDICT_PATTERN
from .inputs import changed_inputs, input_tensors, snapshot_inputs
from .judging import CheckResult, evaluate, make_check, run_check
from .registry import EXERCISES, Case, Exercise, cases_of, register

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if re.fullmatch(r"nb\d+", m.name)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["EXERCISES", "Case", "CheckResult", "Exercise", "VERDICT_PATTERN", "cases_of", "changed_inputs", "evaluate",
           "input_tensors", "make_check", "register", "run_check", "snapshot_inputs"]

for _exercise in EXERCISES.values():
    for _name in (_exercise.check, *_exercise.old_checks):
        globals()[_name] = make_check(_exercise) if _name == _exercise.check else globals()[_exercise.check]
        __all__.append(_name)
