"""The part of the grader that runs inside the sandbox, next to the student's code.

It runs the chosen cells of one notebook in a fresh IPython shell, takes each
exercise function as the check would have received it, calls it on the check's
cases and sends back only what it returned (tensors, numbers, the names of
exceptions) and the executed cells' outputs, for the audit copy. It sends no
verdict: the grader judges the results in its own process
(:mod:`course_tools.grading.verdicts`), so printing a verdict line, or
monkeypatching the checks in this process, changes no grade.

In the default fork mode the grader forks and calls :func:`run` after isolating
the child; ``python -m course_tools.grading.harness SPEC FD`` is the same for
the bubblewrap mode, where a fresh interpreter starts inside ``bwrap``.
"""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import sys
import time
import types

import torch

MAX_OUTPUT_CHARS = 20_000  # per cell, in the audit copy
MAX_DEPTH = 6


class _TimeLimit(Exception):
    """Raised by the alarm inside a cell or a call that ran too long."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _TimeLimit("time limit reached")


class _Alarm:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001))

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


class _Bounded(io.StringIO):
    """A stdout/stderr that keeps the first MAX_OUTPUT_CHARS characters and drops the rest."""

    def write(self, s):
        if self.tell() < MAX_OUTPUT_CHARS:
            super().write(str(s)[: MAX_OUTPUT_CHARS - self.tell()])
        return len(s)


def sanitize(value, depth: int = 0):
    """What a function returned, as plain data that ``torch.load(weights_only=True)`` can read back safely."""
    if depth > MAX_DEPTH:
        return {"__type__": type(value).__name__}
    if value is None or isinstance(value, (bool, int, float, str)) and type(value) in (bool, int, float, str):
        return value
    if isinstance(value, float):  # a float subclass (numpy.float64): a float to the checks
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, torch.Tensor):
        try:
            return value.detach().to("cpu").clone().contiguous()
        except Exception:
            return {"__type__": type(value).__name__}
    if type(value) in (tuple, list):
        items = [sanitize(v, depth + 1) for v in value[:10_000]]
        return tuple(items) if isinstance(value, tuple) else items
    if type(value) is dict:
        return {str(k): sanitize(v, depth + 1) for k, v in list(value.items())[:1000]}
    return {"__type__": type(value).__name__}


def runtime_reference(fn, reference, namespace: dict) -> str:
    """Why the live function is the course's reference or reaches it through its globals ("" if not seen)."""
    from course_tools.grading.cells import is_reference

    if getattr(fn, "__course_reference__", False):
        return "it is the course's stand-in for the reference"
    if is_reference(fn, reference):
        return "it is the course's reference"
    module = getattr(fn, "__module__", "") or ""
    if module == "course_utils" or module.startswith("course_utils."):
        return f"it comes from {module}"
    seen: set[int] = set()

    def scan(f, depth: int) -> str:
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen or depth > 4:
            return ""
        seen.add(id(code))
        names: set[str] = set()
        stack = [code]
        while stack:
            c = stack.pop()
            names |= set(c.co_names)
            stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
        globs = getattr(f, "__globals__", {})
        for name in names:
            value = globs.get(name)
            if value is None:
                continue
            if is_reference(value, reference):
                return f"it calls {name}"
            if isinstance(value, types.ModuleType) and any(is_reference(getattr(value, n, None), reference) for n in names):
                return f"it calls the reference in {value.__name__}"
            if isinstance(value, types.FunctionType) and globs is namespace:
                inner = scan(value, depth + 1)
                if inner:
                    return f"{inner} (through {name})"
        return ""

    return scan(fn, 0)


def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    cfg.InteractiveShell.xmode = "Plain"
    return InteractiveShell.instance(config=cfg)


def _text_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def run(job: dict, fd: int, cases: dict | None = None) -> None:
    """Run one submission as ``job`` describes and write the results to file descriptor ``fd``."""
    torch.set_num_threads(1)
    if cases is None:
        from course_tools.grading.verdicts import cases_for

        cases = {e["id"]: cases_for(e["id"]).cases for e in job["exercises"]}
    from course_utils.checks import EXERCISES

    nb = job["notebook"]
    run_cells = set(job["run_cells"])
    snapshot_at: dict[int, list[dict]] = {}
    for e in job["exercises"]:
        snapshot_at.setdefault(e["snapshot_at"] if e["snapshot_at"] is not None else -1, []).append(e)
    shell = _shell()
    ns = shell.user_ns
    taken: dict[str, object] = {}
    missing = object()
    executed = copy.deepcopy(nb)
    cell_errors: dict[int, str] = {}
    count = 0
    real_out, real_err = sys.stdout, sys.stderr
    for index, cell in enumerate(executed.get("cells", [])):
        for e in snapshot_at.get(index, []):
            taken[e["id"]] = ns.get(e["function"], missing)
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if index not in run_cells:
            cell.setdefault("metadata", {})["grading"] = "not run (checks-only mode)"
            continue
        count += 1
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        out, err = _Bounded(), _Bounded()
        sys.stdout, sys.stderr = out, err
        started = time.monotonic()
        try:
            with _Alarm(job["cell_timeout"]):
                result = shell.run_cell(source, store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except BaseException as exc:  # the alarm fired outside IPython's own handler
            error = exc
        finally:
            sys.stdout, sys.stderr = real_out, real_err
        cell["execution_count"] = count
        cell.setdefault("metadata", {})["grading"] = f"ran in {time.monotonic() - started:.2f} s"
        for name, stream in (("stdout", out), ("stderr", err)):
            if stream.getvalue():
                cell["outputs"].append({"output_type": "stream", "name": name, "text": _text_lines(stream.getvalue())})
        if error is not None:
            ename = "TimeoutError" if isinstance(error, _TimeLimit) else type(error).__name__
            evalue = f"the cell ran longer than {job['cell_timeout']} s" if isinstance(error, _TimeLimit) else str(error)
            cell_errors[index] = f"{ename}: {evalue}"[:500]
            cell["outputs"].append({"output_type": "error", "ename": ename, "evalue": evalue[:2000], "traceback": []})
    for e in snapshot_at.get(-1, []):
        taken[e["id"]] = ns.get(e["function"], missing)

    results = {}
    for e in job["exercises"]:
        fn = taken.get(e["id"], missing)
        record: dict = {"state": "ok", "type": type(fn).__name__, "reference": "", "calls": []}
        results[e["id"]] = record
        if fn is missing:
            record["state"] = "undefined"
            continue
        if not callable(fn):
            record["state"] = "not callable"
            continue
        try:
            record["reference"] = runtime_reference(fn, EXERCISES[e["id"]].reference, ns)
        except Exception:
            record["reference"] = ""
        for case in cases[e["id"]]:
            args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
            tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
            before = [t.clone() for t in tensors]
            call: dict = {"out": None, "error": None, "timeout": False, "changed": {}}
            sys.stdout, sys.stderr = _Bounded(), _Bounded()
            try:
                with _Alarm(job["call_timeout"]):
                    got = fn(*args, **kwargs)
                call["out"] = sanitize(got)
            except _TimeLimit:
                call["timeout"] = True
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
                call["error"] = (type(exc).__name__, str(exc)[:500])
            finally:
                sys.stdout, sys.stderr = real_out, real_err
            for position, (b, a) in enumerate(zip(before, tensors)):
                if b.shape != a.shape or not torch.equal(b, a):
                    call["changed"][position] = a.detach().clone()
            record["calls"].append(call)
            if call["timeout"] or call["error"]:
                break
    payload = {"version": 1, "exercises": results, "cell_errors": cell_errors,
               "executed": json.dumps(executed, ensure_ascii=False)}
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    with os.fdopen(os.dup(fd), "wb") as f:
        torch.save(payload, f)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_tools.grading.harness SPEC.json|- FD``: the bubblewrap mode's entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "-":
        job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    else:
        with open(argv[0], encoding="utf-8") as f:
            job = json.load(f)
    fd = int(argv[1])
    # stdout and stderr of the sandbox go nowhere: the audit copy has each cell's output
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    run(job, fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
