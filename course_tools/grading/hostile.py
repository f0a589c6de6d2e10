"""A hostile class: a submission for every attack family the grader must withstand, and honest students beside them.

Each entry of ATTACKS builds one student's notebooks from the registry and the course's own notebooks (so a
new exercise is attacked too, with no edit here) and says what the gradebook must show for each of its due
exercises. ``tests/test_grading.py`` grades the whole class in every sandbox this machine offers and
requires exactly that, plus what no status shows: classmates' files untouched, nothing left running, /tmp
capped, the audit copies written by the grader. The families follow issue #30:

1. isolation: reading or writing a classmate's work or the grader's, descriptors, memory, signals;
2. answers: the solution notebooks, ``.git``, earlier gradebooks;
3. the course's answer reached indirectly: getattr, vars, importlib, a wrapper class, partial, composition,
   exec of its source, base64 and exec, answers cached for the notebook's cases;
4. the audit trail: forged results and verdicts, colliding names;
5. honest work in unusual shapes: a def and its check in one cell, comments that mention a check, helpers
   further down, cells out of order, a roster;
6. one verdict: an input changed in place inside a dataclass;
7. leaks: disk, processes, network, bytecode, the grader's own files.
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from course_utils.checks import EXERCISES

from ..nbio import cell_source
from . import fakeclass as fc
from .gradebook import COULD_NOT_RUN, FAILED, MISSING, NOT_ATTEMPTED, PASSED, REFERENCE

MARK = "987654321"  # the argument of every process an attack leaves behind: none may survive grading


@dataclass
class Attack:
    family: int
    build: Callable[[Path, str, list[str]], None]
    expect: Callable[[list[str]], dict[str, str]]  # exercise id -> status
    plain_safe: bool = True  # harmless enough to run without a sandbox (it kills or deletes nothing of yours)


def _all(stems: list[str], status: str) -> dict[str, str]:
    return {e: status for s in stems for e in fc.exercises_of(s)}


def _first(stems: list[str], status: str, rest: str = PASSED) -> dict[str, str]:
    firsts = {fc.exercises_of(s)[0] for s in stems}
    return {e: status if e in firsts else rest for s in stems for e in fc.exercises_of(s)}


def _solutions(root: Path, name: str, stems: list[str], change: Callable[[dict, str], dict]) -> None:
    for stem in stems:
        fc.write(root / name / f"{stem}.ipynb", change(fc.load(stem, True), stem))


def _on_first(source: Callable[[str], str]) -> Callable:
    """Put ``source(exercise id)`` at the top of the cell defining each notebook's first exercise."""
    def change(nb: dict, stem: str) -> dict:
        first = fc.exercises_of(stem)[0]
        return fc.prepend_to_def(nb, EXERCISES[first].function, source(first))
    return change


def _each(body: Callable[[str, list[str]], str], which: Callable[[str], list[str]] | None = None) -> Callable:
    """Replace the body of each chosen exercise's function with ``body(exercise id, parameter names)``."""
    def change(nb: dict, stem: str) -> dict:
        for e in (which(stem) if which else fc.exercises_of(stem)):
            head, params = fc.signature(nb, EXERCISES[e].function)
            nb = fc.with_body(nb, EXERCISES[e].function, body(e, params))
        return nb
    return change


def _split(module: str) -> str:
    """A module name written so that no import statement names it."""
    head, _, tail = module.partition(".")
    return f'"{head}" + ".{tail}"'


# ---------------------------------------------------------------------------- 1. isolation


def spy_cell(classmate_files: list[str], out: str) -> str:
    """Look for other students' work in memory and on disk, write into it, kill the sandbox's first process."""
    return textwrap.dedent(f"""\
        import gc, glob, os, signal
        print("notebooks in memory:", sum(1 for o in gc.get_objects() if isinstance(o, dict) and "cells" in o))
        print("descriptors:", sorted(os.listdir("/proc/self/fd")))
        for path in {classmate_files!r} + glob.glob({out!r} + "/*"):
            try:
                with open(path, "w") as f:
                    f.write("{{}}")
                print("overwrote", path)
            except OSError as err:
                print("refused", path, type(err).__name__)
        for pid in (1, os.getppid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as err:
                print("could not kill", pid, type(err).__name__)
        """)


SABOTEUR = """\
# Write a forged results message into every descriptor this process holds (a classmate's result file, if any).
import os
forged = b'{"results": "01_adding_noise_by_hand"}'
for fd in range(3, 64):
    try:
        os.write(fd, b"J" + len(forged).to_bytes(4, "big") + forged + b"T" + (1000).to_bytes(4, "big") + b"0" * 1000)
    except OSError:
        pass
"""


# ---------------------------------------------------------------------------- 2. answers


def reader_cell(stem: str) -> str:
    return textwrap.dedent(f"""\
        # Read the answers next to the course: the solution notebook, .git, an earlier gradebook.
        import json, os
        import course_utils
        _here = os.path.dirname(os.path.dirname(course_utils.__file__))
        for _path in [os.path.join(_here, "notebooks", "solutions", "{stem}.ipynb"), os.path.join(_here, ".git", "HEAD"),
                      os.path.join(_here, "gradebook", "gradebook.csv")]:
            try:
                with open(_path) as _f:
                    _answers = _f.read()
                for _cell in json.loads(_answers)["cells"]:
                    if "BEGIN SOLUTION" in "".join(_cell["source"]):
                        exec("".join(_cell["source"]))
            except Exception as _err:
                print("no answers at", _path, type(_err).__name__)
        """)


# ---------------------------------------------------------------------------- 3. the course's answer


def _getattr_body(e: str, params: list[str]) -> str:
    module, name = fc.reference_path(e)
    half = len(name) // 2
    return (f"import importlib\nmodule = importlib.import_module({_split(module)})\n"
            f"return getattr(module, {name[:half]!r} + {name[half:]!r})({', '.join(params)})")


def _vars_body(e: str, params: list[str]) -> str:
    module, name = fc.reference_path(e)
    return f"return vars(__import__({_split(module)}, fromlist=['x']))[{name!r}]({', '.join(params)})"


def wrapper_source(e: str) -> str:
    module, name = fc.reference_path(e)
    return textwrap.dedent(f"""\
        class _Answer:
            def __call__(self, *args, **kwargs):
                import importlib
                return getattr(importlib.import_module({_split(module)}), {name!r})(*args, **kwargs)


        {EXERCISES[e].function} = _Answer()
        """)


def partial_source(e: str) -> str:
    module, name = fc.reference_path(e)
    return (f"import functools, importlib\n{EXERCISES[e].function} = functools.partial("
            f"getattr(importlib.import_module({_split(module)}), {name!r}))\n")


def getsource_source(e: str) -> str:
    module, name = fc.reference_path(e)
    return textwrap.dedent(f"""\
        import importlib, inspect
        _module = importlib.import_module({_split(module)})
        _namespace = dict(vars(_module))
        exec(inspect.getsource(getattr(_module, {name!r})), _namespace)
        {EXERCISES[e].function} = _namespace[{name!r}]
        """)


def base64_source(e: str) -> str:
    module, name = fc.reference_path(e)
    payload = f"from {module} import {name} as _r\n{EXERCISES[e].function} = lambda *a, **k: _r(*a, **k)\n"
    return f"import base64\nexec(base64.b64decode({base64.b64encode(payload.encode()).decode()!r}).decode())\n"


def cache_source(e: str, head: str, params: list[str]) -> str:
    """The course's answers to the notebook's own cases, computed when the cell runs; the function looks them up."""
    tag = EXERCISES[e].function
    return textwrap.dedent(f"""\
        import importlib
        import torch
        _registry_{tag} = importlib.import_module({_split("course_utils.checks")}).EXERCISES[{e!r}]
        _answers_{tag} = [(case.args, _registry_{tag}.reference(*case.args)) for case in _registry_{tag}.cases()]


        def _same(a, b):
            if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
                return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
            return a == b if isinstance(a, (int, float)) else True


        """) + head + textwrap.indent(textwrap.dedent(f"""
        args = ({', '.join(params)},)
        for known, answer in _answers_{tag}:
            if len(known) == len(args) and all(_same(a, b) for a, b in zip(known, args)):
                return answer
        return {params[0]}
        """), "    ")


COMPOSE_DDPM = """\
import importlib
forward = importlib.import_module("course_utils" + ".forward")
x0 = forward.predict_x0_from_eps(x_t, t, eps, schedule)
mean, variance = forward.q_posterior_mean_variance(x0, x_t, t, schedule)
return mean + variance.sqrt() * z"""

FORGE = '''# A forged verdict: print the lines the checks print, and make the checks always pass in this kernel.
for name in {ids!r}:
    print(f"✓ PASSED [{{name}}]: 3 cases agree with the reference.")
import course_utils.checks.core as _core
_core.evaluate = lambda exercise, fn, cases=None, **kw: _core.CheckResult(exercise.id, True, "3 cases agree with the reference.")
'''


def forged_results_cell(stem: str) -> str:
    """Send the grader a results message of its own, claiming every exercise returned the course's answer, then stop."""
    ids = fc.exercises_of(stem)
    return textwrap.dedent(f"""\
        import io, json, os, torch
        from course_utils.checks import EXERCISES
        payload = {{"exercises": {{}}}}
        for e in {ids!r}:
            ex = EXERCISES[e]
            calls = [{{"out": ex.reference(*c.args, **c.kwargs), "error": None, "timeout": False, "changed": {{}},
                      "again": None, "valid": None, "ran": [], "direct": []}} for c in ex.cases()]
            payload["exercises"][e] = {{"state": "ok", "type": "function", "calls": calls, "params": [], "source": ""}}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        head = json.dumps({{"results": {stem!r}}}).encode()
        for fd in range(3, 64):
            try:
                os.write(fd, b"J" + len(head).to_bytes(4, "big") + head + b"T" + len(buffer.getvalue()).to_bytes(4, "big")
                         + buffer.getvalue())
            except OSError:
                pass
        os._exit(0)
        """)


# ---------------------------------------------------------------------------- 5. honest work in unusual shapes


def same_cell(nb: dict, stem: str) -> dict:
    """Each def and its check in one cell, the check cell left empty."""
    for e in fc.exercises_of(stem):
        d, c = fc.def_cell(nb, EXERCISES[e].function), fc.check_cell(nb, e)
        nb["cells"][d]["source"] = cell_source(nb["cells"][d]).rstrip("\n") + "\n\n\n" + cell_source(nb["cells"][c])
        nb["cells"][c]["source"] = "# (checked above)\n"
    return nb


def commented(nb: dict, stem: str) -> dict:
    """Comments and strings that mention every check, early in the notebook."""
    lines = [f"# usage: f = {EXERCISES[e].check}(f)" for e in fc.exercises_of(stem)]
    lines += [f'NOTE = "remember to run {EXERCISES[e].check}({EXERCISES[e].function}) below"' for e in fc.exercises_of(stem)]
    return fc.insert_cell(nb, "\n".join(lines) + "\n", at=1)


def reordered(nb: dict, stem: str) -> dict:
    """Each def moved below its check, calling a helper defined at the very end of the notebook."""
    for e in fc.exercises_of(stem):
        function = EXERCISES[e].function
        d = fc.def_cell(nb, function)
        cell = nb["cells"].pop(d)
        c = fc.check_cell(nb, e)
        nb["cells"].insert(c + 1, cell)
        head, params = fc.signature(nb, function)
        body = cell_source(cell)[len(head):]
        helper = f"_helper_{function}"
        nb["cells"][c + 1]["source"] = head + f"\n    return {helper}({', '.join(params)})\n"
        nb["cells"].append(fc.code_cell(f"def {helper}({', '.join(params)}):\n" + body.lstrip("\n")))
    return nb


AT_DDPM = """\
mean = (x_t - schedule.at("betas", t, x_t) / schedule.at("sqrt_one_minus_alphas_cumprod", t, x_t) * eps) \\
    / schedule.at("alphas", t, x_t).sqrt()
return mean + schedule.at("posterior_variance", t, x_t).sqrt() * z"""

INPLACE_DDPM = """\
schedule.posterior_variance.mul_(1.0)  # harmless, but in place
schedule.posterior_variance[0] += 0.0
schedule.posterior_variance.add_(1e-3)
mean = (x_t - schedule.betas[t] / schedule.sqrt_one_minus_alphas_cumprod[t] * eps) / schedule.alphas[t].sqrt()
return mean + (schedule.posterior_variance[t] - 1e-3).sqrt() * z"""


# ---------------------------------------------------------------------------- 7. leaks


def hog_cell() -> str:
    return textwrap.dedent(f"""\
        # Fill /tmp, leave processes behind, reach the network.
        import os, socket, subprocess
        written = 0
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(2048):
                    f.write(b"0" * 2**20)
                    f.flush()
                    written += 1
        except OSError as err:
            print("could not write more:", type(err).__name__)
        print(f"wrote {{written}} MB to /tmp")
        os.remove("/tmp/fill")
        try:
            subprocess.Popen(["sleep", "{MARK}"], start_new_session=True)
            subprocess.Popen(["sh", "-c", "(setsid sleep {MARK} &) ; exit 0"])
        except OSError as err:
            print("no processes:", err)
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            print("network: reached")
        except OSError as err:
            print("network: refused", type(err).__name__)
        """)


def vandal_cell(targets: dict[str, str]) -> str:
    """A cell that deletes, overwrites and creates files the student must not touch (and goes on if it cannot)."""
    lines = ["import os, subprocess", "for action, path in ["]
    lines += [f"    ({action!r}, {path!r})," for action, path in targets.items()]
    lines += ["]:",
              "    try:",
              "        if action.startswith('delete'):",
              "            os.remove(path)",
              "        elif action.startswith('touch'):",
              "            subprocess.run(['touch', path], check=True)",
              "        else:",
              "            with open(path, 'w') as f:",
              "                f.write('{}')",
              "        print('done:', action, path)",
              "    except Exception as err:",
              "        print('refused:', action, path, type(err).__name__)"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- the class


def _only(ids: set[str], status: str, stems: list[str], rest: str = PASSED) -> dict[str, str]:
    return {e: status if e in ids else rest for s in stems for e in fc.exercises_of(s)}


HIDING = ["getattr", "vars", "wrapper", "partial", "getsource", "base64"]


def build_hider(root: Path, name: str, stems: list[str], offset: int = 0) -> None:
    """Every exercise reaches the reference a different hidden way (ddpm_step: composed from course functions)."""
    ids = [e for s in stems for e in fc.exercises_of(s) if e != "nb05.ddpm_step"]
    plan = {e: HIDING[(i + offset) % len(HIDING)] for i, e in enumerate(ids)}
    for stem in stems:
        nb = fc.load(stem, False)
        for e in fc.exercises_of(stem):
            function = EXERCISES[e].function
            how = "compose" if e == "nb05.ddpm_step" else plan[e]
            if how in ("getattr", "vars"):
                head, params = fc.signature(nb, function)
                nb = fc.with_body(nb, function, (_getattr_body if how == "getattr" else _vars_body)(e, params))
            elif how == "compose":
                nb = fc.with_body(nb, function, COMPOSE_DDPM)
            else:
                source = {"wrapper": wrapper_source, "partial": partial_source, "getsource": getsource_source,
                          "base64": base64_source}[how](e)
                nb = fc.with_function(nb, function, source)
        fc.write(root / name / f"{stem}.ipynb", nb)


def build_forger(root: Path, name: str, stems: list[str]) -> None:
    for stem in stems:
        fc.write(root / name / f"{stem}.ipynb", fc.insert_cell(fc.load(stem, False), FORGE.format(ids=fc.exercises_of(stem))))


def build_copier(root: Path, name: str, stems: list[str]) -> None:
    """The reference imported outright, or called through a plain import (found in the source)."""
    for stem in stems:
        nb = fc.load(stem, False)
        for k, e in enumerate(fc.exercises_of(stem)):
            module, ref = fc.reference_path(e)
            function = EXERCISES[e].function
            if k % 2 == 0:
                nb = fc.with_function(nb, function, f"from {module} import {ref} as {function}\n")
            else:
                head, params = fc.signature(nb, function)
                nb = fc.with_body(nb, function, f"import {module}\nreturn {module}.{ref}({', '.join(params)})")
        fc.write(root / name / f"{stem}.ipynb", nb)


def build_looper(root: Path, name: str, stems: list[str]) -> None:
    _solutions(root, name, stems, lambda nb, stem: _each(lambda e, p: "while True:\n    pass",
                                                       lambda s: fc.exercises_of(s)[:1])(nb, stem))


def build_crasher(root: Path, name: str, stems: list[str]) -> None:
    """The first notebook's process exits in the middle; the others are right."""
    def change(nb, stem):
        if stem != stems[0]:
            return nb
        first = fc.exercises_of(stem)[0]
        return fc.prepend_to_def(nb, EXERCISES[first].function, "import os\nos._exit(3)\n")
    _solutions(root, name, stems, change)


def build_killer(root: Path, name: str, stems: list[str]) -> None:
    """Right answers, after trying to kill the sandbox's supervisor and the grader."""
    cell = ("import os, signal\nfor pid in (1, os.getppid()):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
            "    except OSError as err:\n        print('could not kill', pid, type(err).__name__)\n")
    _solutions(root, name, stems, _on_first(lambda e: cell))


def build_inplace(root: Path, name: str, stems: list[str]) -> None:
    """ddpm_step right but changing schedule.posterior_variance in place; the first exercise changing its first input."""
    def change(nb, stem):
        for e in fc.exercises_of(stem):
            if e == "nb05.ddpm_step":
                nb = fc.with_body(nb, EXERCISES[e].function, INPLACE_DDPM)
        first = fc.exercises_of(stem)[0]
        if first != "nb05.ddpm_step":
            function = EXERCISES[first].function
            i = fc.def_cell(nb, function)
            nb["cells"][i]["source"] = (cell_source(nb["cells"][i]) + f"\n\n_right_{function} = {function}\n\n\n"
                                        f"def {function}(*args, **kwargs):\n    out = _right_{function}(*args, **kwargs)\n"
                                        "    for a in args:\n        if hasattr(a, 'mul_') and a.is_floating_point():\n"
                                        "            a.mul_(2.0)\n            break\n    return out\n")
        return nb
    _solutions(root, name, stems, change)


def _inplace_expect(stems: list[str]) -> dict[str, str]:
    ids = {fc.exercises_of(s)[0] for s in stems} | {"nb05.ddpm_step"}
    return _only(ids, FAILED, stems)


def build_schedule_at(root: Path, name: str, stems: list[str]) -> None:
    """Honest: ddpm_step written with the schedule's own accessor (a course method the exercise hands over)."""
    def change(nb, stem):
        if "nb05.ddpm_step" in fc.exercises_of(stem):
            nb = fc.with_body(nb, "ddpm_step", AT_DDPM)
        return nb
    _solutions(root, name, stems, change)


def build_cache(root: Path, name: str, stems: list[str]) -> None:
    for stem in stems:
        nb = fc.load(stem, False)
        for e in fc.exercises_of(stem):
            head, params = fc.signature(nb, EXERCISES[e].function)
            nb = fc.with_function(nb, EXERCISES[e].function, cache_source(e, head, params))
        fc.write(root / name / f"{stem}.ipynb", nb)


def build_forged_results(root: Path, name: str, stems: list[str]) -> None:
    def change(nb, stem):
        first = fc.exercises_of(stem)[0]
        return fc.prepend_to_def(fc.load(stem, False), EXERCISES[first].function, forged_results_cell(stem))
    _solutions(root, name, stems, change)


def build_hog(root: Path, name: str, stems: list[str]) -> None:
    _solutions(root, name, stems, _on_first(lambda e: hog_cell()))


def build_reader(root: Path, name: str, stems: list[str]) -> None:
    for stem in stems:
        first = fc.exercises_of(stem)[0]
        fc.write(root / name / f"{stem}.ipynb", fc.prepend_to_def(fc.load(stem, False), EXERCISES[first].function,
                                                                  reader_cell(stem)))


ATTACKS: dict[str, Attack] = {
    # 3. the course's answer
    "hider": Attack(3, build_hider, lambda stems: _all(stems, REFERENCE)),
    "hider2": Attack(3, lambda r, n, s: build_hider(r, n, s, offset=4), lambda stems: _all(stems, REFERENCE)),
    "copier": Attack(3, build_copier, lambda stems: _all(stems, REFERENCE)),
    "cache": Attack(3, build_cache, lambda stems: _all(stems, FAILED)),
    # 4. the audit trail
    "forger": Attack(4, build_forger, lambda stems: _all(stems, NOT_ATTEMPTED)),
    "forged_results": Attack(4, build_forged_results, lambda stems: _all(stems, FAILED)),
    # 5. honest work
    "samecell": Attack(5, lambda r, n, s: _solutions(r, n, s, same_cell), lambda stems: _all(stems, PASSED)),
    "commenter": Attack(5, lambda r, n, s: _solutions(r, n, s, commented), lambda stems: _all(stems, PASSED)),
    "reordered": Attack(5, lambda r, n, s: _solutions(r, n, s, reordered), lambda stems: _all(stems, PASSED)),
    "schedule_at": Attack(5, build_schedule_at, lambda stems: _all(stems, PASSED)),
    # 6. one verdict
    "inplace": Attack(6, build_inplace, _inplace_expect),
    # 7. leaks and robustness
    "looper": Attack(7, build_looper, lambda stems: _first(stems, COULD_NOT_RUN)),
    "crasher": Attack(7, build_crasher, lambda stems: {e: COULD_NOT_RUN if EXERCISES[e].notebook == stems[0] else PASSED
                                                        for s in stems for e in fc.exercises_of(s)}),
    "hog": Attack(7, build_hog, lambda stems: _all(stems, PASSED)),
    # 1 and 2 need paths of the class (see hostile_class); 7's killer and saboteur are not run without a sandbox
    "killer": Attack(1, build_killer, lambda stems: _all(stems, PASSED), plain_safe=False),
    "reader": Attack(2, build_reader, lambda stems: _all(stems, REFERENCE)),
}


def hostile_class(root: Path, out: Path, stems: list[str], *, sandboxed: bool = True,
                  vandal_targets: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Write the class into ``root``; return {student: {exercise id: expected status}}.

    ``out`` is the gradebook folder the saboteur aims at; ``vandal_targets`` are files the vandal tries to
    delete, create or overwrite (action -> path).
    """
    expected: dict[str, dict[str, str]] = {}
    for name, kind in (("ada", "correct"), ("blank", "blank"), ("wrong", "wrong"), ("missing", "missing")):
        fc.honest(root, name, kind, stems)
        expected[name] = _all(stems, PASSED) if kind == "correct" else \
            _all(stems, {"blank": NOT_ATTEMPTED, "wrong": FAILED}.get(kind, PASSED))
    expected["missing"] = {e: MISSING if EXERCISES[e].notebook == stems[-1] else PASSED
                           for s in stems for e in fc.exercises_of(s)}
    for name in ("li na", "li_na"):  # two names that clean up alike
        fc.honest(root, name, "correct", stems)
        expected[name] = _all(stems, PASSED)
    for name, attack in ATTACKS.items():
        if sandboxed or attack.plain_safe:
            attack.build(root, name, stems)
            expected[name] = attack.expect(stems)
    if sandboxed:
        classmate = [str(root / "ada" / f"{s}.ipynb") for s in stems]
        _solutions(root, "spy", stems, _on_first(lambda e: spy_cell(classmate, str(out))))
        expected["spy"] = _all(stems, COULD_NOT_RUN)  # it looked into the process (gc): not trusted
        _solutions(root, "saboteur", stems, _on_first(lambda e: SABOTEUR))
        expected["saboteur"] = _all(stems, PASSED)  # its forgery reached only its own pipe, and the real results came last
    if vandal_targets:
        _solutions(root, "vandal", stems, _on_first(lambda e: vandal_cell(vandal_targets)))
        expected["vandal"] = _all(stems, PASSED)
    fc.write(root / "malformed" / "hw" / "my work (final).ipynb", '{"cells": [ not json')
    expected["malformed"] = _all(stems, COULD_NOT_RUN)
    (root / "empty").mkdir(parents=True, exist_ok=True)
    expected["empty"] = _all(stems, MISSING)
    if len(stems) > 1:  # notebook 2 saved under notebook 1's name
        fc.write(root / "wronglesson" / f"{stems[0]}.ipynb", fc.load(stems[1], True))
        expected["wronglesson"] = {e: PASSED if EXERCISES[e].notebook == stems[1] else MISSING
                                   for s in stems for e in fc.exercises_of(s)}
    fc.canvas(root, "zoe", stems, solution=True)
    expected["zoe"] = {e: PASSED if EXERCISES[e].notebook == stems[0] else NOT_ATTEMPTED
                       for s in stems for e in fc.exercises_of(s)}
    (root / "notes.txt").write_text("not a submission", encoding="utf-8")
    return expected


def roster_csv(path: Path, names: list[str], extra: list[str]) -> None:
    """A Canvas-like gradebook export naming ``names`` (and ``extra`` students with no submission)."""
    lines = ["Student,ID,SIS User ID,SIS Login ID,Section", "Points Possible,,,,"]
    lines += [f'"{n}",{1000 + i},,{n.replace(" ", "")},A' for i, n in enumerate(names + extra)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def expected_json(expected: dict[str, dict[str, str]]) -> str:
    return json.dumps(expected, indent=1, sort_keys=True)
