"""How a check's verdict reads: one line that a person and a program can both read, then what the cells use.

    ✓ PASSED [nb01.add_noise]: 3 cases agree with the reference.
       → The cells below use your `add_noise`.

    ✗ NOT YET [nb01.add_noise]: the values are off (case: sigma=0.5).
       Hint: σ is a standard deviation: ...
       → The cells below use the course's reference `add_noise` until yours passes.

:data:`VERDICT_PATTERN` parses the first line (tests and tools read verdicts with it).
"""

from __future__ import annotations

# A mark that every font has (✓ U+2713, ✗ U+2717: no emoji font needed), paired with a word that stands out.
PASS_MARK = "✓ PASSED"
FAIL_MARK = "✗ NOT YET"
VERDICT_PATTERN = r"^(?P<verdict>✓ PASSED|✗ NOT YET) \[(?P<exercise>[\w.]+)\]: ?(?P<message>.*)$"


def format_result(result) -> str:
    """The verdict line of a :class:`~course_utils.checks.judging.CheckResult`, and its hint on a line of its own."""
    if result.passed:
        return f"{PASS_MARK} [{result.exercise}]: {result.message}"
    line = f"{FAIL_MARK} [{result.exercise}]: {result.message}"
    if result.hint:
        line += f"\n   Hint: {result.hint}"
    return line


def format_hand_back(function: str, passed: bool) -> str:
    """The line that says which function the cells below use."""
    if passed:
        return f"   → The cells below use your `{function}`."
    return f"   → The cells below use the course's reference `{function}` until yours passes."
