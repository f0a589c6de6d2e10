"""The old home of the checks' machinery, kept so that old imports (``from course_utils.checks.core import ...``)
still work. The machinery lives in one module per idea: see :mod:`course_utils.checks`."""

from .compare import Mismatch, same
from .diagnosis import COMMON_ERRORS, Diagnosis, describe_values
from .formatting import FAIL_MARK, PASS_MARK, VERDICT_PATTERN, format_result
from .inputs import changed_inputs, input_tensors, snapshot_inputs
from .judging import CheckResult, evaluate, make_check, reference_stand_in, run_check
from .registry import EXERCISES, Case, Exercise, KnownError, KnownMistake, cases_of, per_image, register

__all__ = ["COMMON_ERRORS", "EXERCISES", "FAIL_MARK", "PASS_MARK", "VERDICT_PATTERN", "Case", "CheckResult", "Diagnosis",
           "Exercise", "KnownError", "KnownMistake", "Mismatch", "cases_of", "changed_inputs", "describe_values", "evaluate",
           "format_result", "input_tensors", "make_check", "per_image", "reference_stand_in", "register", "run_check",
           "same", "snapshot_inputs"]
