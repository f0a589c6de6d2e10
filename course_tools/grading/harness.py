"""The grader's side inside the sandbox: run one student's notebooks and report what their functions returned.

    python -I -B /grader/harness.py OUT_FD COURSE_ROOT     (started by course_tools.grading.sandbox, never by hand)

It is a fresh interpreter (started with exec, never a fork of the grader) that holds one student's work
and nothing else. It reads the job (:class:`jobs.Job`, JSON) and the cases (``torch.save`` bytes, from the
grader) on its standard input, closes it, and then, for each notebook, forks a process that drops to a user
id of its own (os mode) and

* runs the planned cells in a fresh IPython shell, taking each exercise function where the check would have
  received it (just before the check's line runs);
* calls each function on the public and the hidden cases, with a profiler that names every course function
  the student's code calls and an audit hook (``sys.addaudithook``, which cannot be removed) that sees reads
  of the course's source, file writes, and attempts to look into or change this process;
* sends back only data: what the function returned (tensors, numbers, the names of exceptions), which input
  tensors it changed (found by the checks' own ``course_utils.checks.inputs``: inside dataclasses, modules,
  lists and dicts too), the source it was compiled from, the course functions it called, and each executed
  cell's output.

No verdict is computed here: the grader judges in its own process. Messages go out framed (jobs.frame) on
the one descriptor this process keeps; a notebook's process writes to this supervisor, which tags each message
with the notebook it came from, so one notebook cannot speak for another. After each notebook every other
process in the sandbox is killed.
"""

from __future__ import annotations

import ast
import copy
import ctypes
import hashlib
import inspect
import io
import json
import linecache
import os
import select
import signal
import sys
import time
import types

try:
    from . import jobs
except ImportError:  # run as a script inside a sandbox, where jobs.py is shipped next to this file
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    import jobs

MAX_OUTPUT_CHARS = 20_000  # per cell, in the audit copy
MAX_DEPTH = 6
MAX_EVENTS = 200  # per notebook: the first ones are what matters
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38


# ---------------------------------------------------------------------------- messages


class Channel:
    """Framed messages on one descriptor (the harness holds its own copy of os.write: student code may replace os's)."""

    def __init__(self, fd: int):
        self.fd = fd
        self._write = os.write

    def send(self, kind: bytes, body: bytes) -> None:
        data = jobs.frame(kind, body)
        while data:
            try:
                n = self._write(self.fd, data)
            except InterruptedError:
                continue
            except OSError:
                return  # the reader is gone; nothing more to say
            data = data[n:]

    def json(self, message: dict) -> None:
        self.send(b"J", json.dumps(message, ensure_ascii=False, default=str).encode("utf-8"))


def _read_exact(fd: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, min(n - len(out), 1 << 20))
        if not chunk:
            raise EOFError("the grader's input ended early")
        out += chunk
    return bytes(out)


def _read_message(fd: int) -> tuple[bytes, bytes]:
    kind, length = jobs.HEADER.unpack(_read_exact(fd, jobs.HEADER.size))
    return kind, _read_exact(fd, length)


# ---------------------------------------------------------------------------- where code comes from


GENERATED = {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__le__", "__gt__",
             "__ge__", "__new__", "__getnewargs__", "_make", "_replace", "_asdict", "__getstate__", "__setstate__"}


class Places:
    """Sorts code by where it lives: the course (course_utils), a library, the grader, or the student."""

    def __init__(self, course_root: str):
        self.course = os.path.join(os.path.realpath(course_root), "course_utils") + os.sep
        self.checks = os.path.join(self.course, "checks") + os.sep
        self.grader = os.path.dirname(os.path.realpath(__file__)) + os.sep
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        prefixes |= {p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p)}
        # as code names its file (a symlinked virtual environment's own path) and as it resolves
        self.libraries = tuple(sorted({f(p) + os.sep for p in prefixes if p for f in (os.path.abspath, os.path.realpath)}))
        self.fingerprints: dict[str, str] = {}  # bytecode fingerprint -> "module:qualname" of a course function
        self._names: dict[types.CodeType, str | None] = {}

    def kind(self, filename: str, name: str = "") -> str:
        if filename.startswith(self.course):
            return "course"
        if filename.startswith(self.grader):
            return "grader"
        if filename.startswith("<frozen ") or filename.startswith(self.libraries):
            return "library"
        if filename == "<string>" and name in GENERATED:
            return "library"  # a method dataclasses or namedtuple wrote (the course's own dataclasses have them)
        return "student"

    def module_name(self, filename: str) -> str:
        rel = os.path.relpath(filename, os.path.dirname(self.course.rstrip(os.sep)))
        rel = rel[:-3] if rel.endswith(".py") else rel
        parts = rel.split(os.sep)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def learn_course(self) -> None:
        """Fingerprint every function of the course's source, so a copy of its code is known wherever it runs."""
        for folder, _, files in os.walk(self.course):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                try:
                    with open(path, encoding="utf-8") as f:
                        code = compile(f.read(), path, "exec", dont_inherit=True)
                except (OSError, SyntaxError, ValueError):
                    continue
                module = self.module_name(path)
                stack = [code]
                while stack:
                    c = stack.pop()
                    stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
                    if distinctive(c):
                        self.fingerprints.setdefault(fingerprint(c), f"{module}:{c.co_qualname}")

    def course_function(self, code: types.CodeType) -> str | None:
        """``module:qualname`` when ``code`` is a course function or an exact copy of one's bytecode, else None."""
        try:
            return self._names[code]
        except KeyError:
            pass
        except TypeError:
            return None
        name = None
        if code.co_filename.startswith(self.course):
            name = f"{self.module_name(code.co_filename)}:{code.co_qualname}"
        elif self.kind(code.co_filename, code.co_name) == "student" and code.co_name != "<module>":
            copied = self.fingerprints.get(fingerprint(code))
            if copied:
                name = copied + " (a copy of its code)"
        self._names[code] = name
        return name


MIN_INSTRUCTIONS = 25  # below this, and without a docstring, code is what anyone writes alike


def distinctive(code: types.CodeType) -> bool:
    """Could only a copy have this code? A named function with a docstring (copies carry it: ``exec`` of the
    course's source), or a long one. Not a generator expression, comprehension or lambda, nor a one-line helper
    (``(a.double() for a in ...)``, ``t.view(-1, 1, 1, 1)``): honest students write those alike."""
    import dis

    if code.co_name.startswith("<"):
        return False
    documented = bool(code.co_consts) and isinstance(code.co_consts[0], str)
    return documented or sum(1 for _ in dis.get_instructions(code)) >= MIN_INSTRUCTIONS


def fingerprint(code: types.CodeType) -> str:
    """The bytecode, names, constants (docstring included) and nested functions of ``code``: equal for exact copies."""
    h = hashlib.sha256()
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_argcount, code.co_kwonlyargcount)).encode())
    for const in code.co_consts:
        h.update(fingerprint(const).encode() if isinstance(const, types.CodeType) else repr(const).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------- the audit hook and the profiler


WRITE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                "os.link", "os.symlink", "shutil.rmtree", "shutil.move", "shutil.copyfile"}
INTROSPECTION = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.setprofile",
                 "sys.settrace", "sys.addaudithook", "code.__new__", "function.__new__", "marshal.loads",
                 "sys._getframe", "object.__getattr__"}
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
LIBRARY_USES = {"sys._getframe", "object.__getattr__", "marshal.loads", "code.__new__", "function.__new__"}
PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen",
                  "_thread.start_new_thread", "os.kill", "os.killpg", "pty.spawn"}


class Watch:
    """The audit hook's state: what counts, where we are (a cell or a graded call), and what was seen."""

    def __init__(self, places: Places, channel: Channel, work: str):
        self.places = places
        self.channel = channel
        self.work = os.path.realpath(work) + os.sep
        self.where = "setup"  # "cell N" or "call" while student code runs
        self.calling = False  # inside a graded call: stricter
        self.busy = False
        self.sent = 0
        self.sources: dict[str, list[str]] = {}  # compiled filename -> source texts, newest last
        self._getframe = sys._getframe

    def report(self, kind: str, detail: str) -> None:
        if self.sent < MAX_EVENTS:
            self.sent += 1
            self.channel.json({"event": kind, "detail": detail[:500], "where": self.where})

    def _caller(self):
        """The innermost Python frame outside this hook (0: here, 1: _hook, 2: hook), and whose code it is."""
        frame = self._getframe(3)
        return frame, (self.places.kind(frame.f_code.co_filename, frame.f_code.co_name) if frame is not None else "library")

    def _import_read(self, frame) -> bool:
        """An ``open`` made by the import system itself (a loader's get_data called by get_code)."""
        return (frame is not None and frame.f_code.co_name == "get_data" and frame.f_back is not None
                and frame.f_back.f_code.co_name == "get_code"
                and frame.f_code.co_filename.startswith("<frozen importlib"))

    def _initiator(self, frame) -> str:
        """Whose code asked, through any library between: the kind of the innermost frame that is not a library's."""
        while frame is not None:
            kind = self.places.kind(frame.f_code.co_filename, frame.f_code.co_name)
            if kind != "library":
                return kind
            frame = frame.f_back
        return "library"

    def _quoting(self, frame) -> bool:
        """A source line shown by warnings or by this harness (not a student's read)."""
        depth = 0
        while frame is not None and depth < 12:
            name = frame.f_code.co_filename
            if name.endswith(("warnings.py", "linecache.py")) and frame.f_code.co_name in ("formatwarning",
                                                                                        "_formatwarnmsg_impl"):
                return True
            if self.places.kind(name) == "grader":
                return True
            frame, depth = frame.f_back, depth + 1
        return False

    def install(self) -> None:
        """Start watching (for good: an audit hook cannot be removed), and forget every source line read so far:
        importing the course reads some of it into linecache (torch keeps a stack trace when it is seeded)."""
        sys.addaudithook(self.hook)
        linecache.clearcache()

    def hook(self, event: str, args: tuple) -> None:
        if self.busy or self.where == "setup":
            return
        self.busy = True
        try:
            self._hook(event, args)
        finally:
            self.busy = False

    def _hook(self, event: str, args: tuple) -> None:
        if event == "compile":
            source, filename = args[0], args[1]
            if isinstance(source, (bytes, str)):
                text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
                self.sources.setdefault(str(filename), []).append(text)
                frame, who = self._caller()
                if who == "student" and isinstance(filename, str) and self.places.kind(filename) in ("course", "library") \
                        and not filename.startswith("<"):
                    self.report("disguised code", f"compiled code under the file name {filename}")
            return
        if event == "open":
            path, mode = args[0], args[1] if len(args) > 1 else "r"
            if not isinstance(path, (str, bytes)):
                return
            path = os.path.realpath(os.fsdecode(path))
            writing = isinstance(mode, str) and any(m in mode for m in "wax+")
            if isinstance(args[-1], int) and args[-1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
                writing = True
            if writing:
                if not path.startswith((self.work, "/tmp/", "/dev/")):
                    self.report("write", f"opened {path} for writing")
                return
            if path.startswith(self.places.course) and path.endswith((".py", ".pyc")):
                frame, who = self._caller()
                if self._import_read(frame) or who == "grader":
                    return  # the import system, or the harness learning the course's functions
                if self._initiator(frame) == "student" and not self._quoting(frame):
                    self.report("read course source", path)
                # Refused whoever asks: a library's read on its own behalf (torch.manual_seed keeps a stack trace,
                # IPython shows one) would leave the file in linecache, where student code could read it unseen.
                raise PermissionError(f"{path}: the course's source is not readable while the grader runs a notebook")
            elif "/notebooks/solutions/" in path or path.endswith(("/INSTRUCTORS.md", "/.git")) or "/.git/" in path:
                self.report("read answers", path)
            return
        if event in WRITE_EVENTS:
            path = os.path.realpath(os.fsdecode(args[0])) if args and isinstance(args[0], (str, bytes)) else str(args[:1])
            if not path.startswith((self.work, "/tmp/")):
                self.report("write", f"{event} {path}")
            return
        if event.startswith("ctypes."):
            frame, who = self._caller()
            if who == "grader":
                return
            if self.calling or who == "student":
                self.report("introspection", f"{event} (ctypes) {'during a graded call' if self.calling else ''}".strip())
            if self.calling:
                raise PermissionError(f"{event} is not allowed while the grader calls your function")
            return
        if event in INTROSPECTION:
            if event == "object.__getattr__" and (len(args) < 2 or args[1] not in FRAME_ATTRIBUTES):
                return
            frame, who = self._caller()
            if who == "grader" or (who != "student" and (event in LIBRARY_USES or not self.calling)):
                return  # the harness's own profiler, or a library's own use (warnings, dataclasses, torch)
            self.report("introspection", f"{event}" + (f" {args[1]}" if event == "object.__getattr__" else ""))
            if self.calling:
                raise PermissionError(f"{event} is not allowed while the grader calls your function")
            return
        if event in PROCESS_EVENTS or event.startswith("socket."):
            if self.calling and self._caller()[1] != "grader":
                self.report("process", f"{event} during a graded call")
                raise PermissionError(f"{event} is not allowed while the grader calls your function")
            if event.startswith("socket.") and event in ("socket.connect", "socket.bind"):
                self.report("network", f"{event} {args[1:2]}")


class Profile:
    """During a graded call: every course function that runs, and those the student's code calls itself."""

    def __init__(self, places: Places):
        self.places = places
        self.ran: set[str] = set()
        self.direct: set[str] = set()

    def __call__(self, frame, event, arg):  # noqa: ARG002
        if event != "call":
            return
        name = self.places.course_function(frame.f_code)
        if name is None:
            return
        self.ran.add(name)
        caller = frame.f_back
        while caller is not None:  # the nearest frame that is not a library's or the checks' own plumbing
            filename = caller.f_code.co_filename
            kind = self.places.kind(filename, caller.f_code.co_name)
            if kind == "library" or (kind == "course" and filename.startswith(self.places.checks)):
                caller = caller.f_back
                continue
            if kind == "student" and self.places.course_function(caller.f_code) is None:
                self.direct.add(name)
            return


# ---------------------------------------------------------------------------- running cells


class _TimeLimit(BaseException):
    """Raised by the alarm inside a cell or a call that ran too long (a BaseException: `except Exception` won't eat it)."""


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


def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    cfg.InteractiveShell.xmode = "Plain"
    shell = InteractiveShell.instance(config=cfg)
    shell.showtraceback = lambda *a, **k: None  # the harness records errors itself, without reading any source
    shell.showsyntaxerror = lambda *a, **k: None
    return shell


def _source_of(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(src) if isinstance(src, list) else str(src)


def _split(source: str, lines: list[int]) -> list[tuple[int | None, str]]:
    """``source`` cut before each of ``lines`` (1-based): [(line the piece starts at or None for the first, text)]."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        text = TransformerManager().transform_cell(source)
    except Exception:
        text = source
    rows = text.split("\n")
    pieces, start = [], 0
    for line in sorted(set(lines)):
        pieces.append((None if start == 0 else start + 1, "\n".join(rows[start:line - 1])))
        start = line - 1
    pieces.append((None if start == 0 else start + 1, "\n".join(rows[start:])))
    return pieces


def run_cells(task: jobs.NotebookTask, shell, watch: Watch, channel: Channel, cell_timeout: float) -> tuple[dict, set]:
    """Run the planned cells; return ({exercise id: the function as the check would have received it}, ids unbound)."""
    ns = shell.user_ns
    missing = object()
    taken: dict[str, object] = {}
    snapshots: dict[int, list[tuple[int, jobs.ExerciseTask]]] = {}
    for e in task.exercises:
        if e.snapshot is not None:
            snapshots.setdefault(e.snapshot[0], []).append((e.snapshot[1], e))
    run = set(task.run_cells)
    count = 0
    real_out, real_err = sys.stdout, sys.stderr
    for index, cell in enumerate(task.notebook.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            for _, e in snapshots.get(index, []):
                taken[e.id] = ns.get(e.function, missing)
            continue
        if index not in run:
            for _, e in snapshots.get(index, []):
                taken[e.id] = ns.get(e.function, missing)
            continue
        count += 1
        here = snapshots.get(index, [])
        pieces = _split(_source_of(cell), [line for line, _ in here])
        out, err = _Bounded(), _Bounded()
        started = time.monotonic()
        error = None
        for piece_line, text in pieces:
            for line, e in here:
                if piece_line == line:
                    taken[e.id] = ns.get(e.function, missing)
            if error is not None:
                continue
            sys.stdout, sys.stderr = out, err
            watch.where = f"cell {index}"
            try:
                with _Alarm(cell_timeout):
                    result = shell.run_cell(text, store_history=False)
                error = result.error_before_exec or result.error_in_exec
            except BaseException as exc:  # the alarm fired outside IPython's own handler
                error = exc
            finally:
                watch.where = "harness"
                sys.stdout, sys.stderr = real_out, real_err
        message = {"cell": index, "count": count, "seconds": round(time.monotonic() - started, 3),
                   "stdout": out.getvalue(), "stderr": err.getvalue()}
        if error is not None:
            timed_out = isinstance(error, _TimeLimit)
            message["error"] = ["TimeoutError" if timed_out else type(error).__name__,
                                f"the cell ran longer than {cell_timeout:g} s" if timed_out else str(error)[:2000]]
        channel.json(message)
    for e in task.exercises:
        if e.snapshot is None:
            taken[e.id] = ns.get(e.function, missing)
    return {k: (None if v is missing else v) for k, v in taken.items()}, {k for k, v in taken.items() if v is missing}


# ---------------------------------------------------------------------------- calling the functions


def sanitize(value, depth: int = 0):
    """What a function returned, as plain data that ``torch.load(weights_only=True)`` can read back safely."""
    import torch

    if depth > MAX_DEPTH:
        return {"__type__": type(value).__name__}
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, float):  # a float subclass (numpy.float64): a float to the checks
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, complex):
        return {"__complex__": [value.real, value.imag]}
    if isinstance(value, torch.Tensor):
        try:
            with torch._C.DisableTorchFunctionSubclass():
                plain = value.detach().to("cpu").clone().contiguous()
            return plain.as_subclass(torch.Tensor)
        except Exception:
            return {"__type__": type(value).__name__}
    if type(value) in (tuple, list):
        items = [sanitize(v, depth + 1) for v in value[:10_000]]
        return tuple(items) if isinstance(value, tuple) else items
    if type(value) is dict:
        return {str(k): sanitize(v, depth + 1) for k, v in list(value.items())[:1000]}
    return {"__type__": type(value).__name__}


def inputs_api():
    """(snapshot_inputs, changed_inputs) of course_utils.checks.inputs: the checks' own in-place detection,
    taken before any student code runs, so that the grader and the notebook see the same changes."""
    from course_utils.checks import inputs

    return inputs.snapshot_inputs, inputs.changed_inputs


def _function_source(fn, watch: Watch) -> str:
    """The text ``fn`` was compiled from (a cell, or a string given to exec), or ""."""
    code = getattr(fn, "__code__", None)
    if code is None:
        code = getattr(vars(type(fn)).get("__call__"), "__code__", None)
    if code is None:
        return ""
    for text in reversed(watch.sources.get(code.co_filename, [])):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name \
                    and node.lineno <= code.co_firstlineno <= (node.end_lineno or node.lineno):
                return ast.get_source_segment(text, node) or ""
    return ""


def _one_call(run, fn, args: tuple, kwargs: dict, call_timeout: float, watch: Watch | None, profile: Profile | None):
    """Call ``fn`` as the check does (through the exercise's ``run``, gradients on, a time limit):
    (what the case compares, error, timed out)."""
    import torch

    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Bounded(), _Bounded()
    got, error, timeout = None, None, False
    try:
        if watch is not None:
            watch.where, watch.calling = "call", True
        with torch.enable_grad(), jobs.threads(), _Alarm(call_timeout):  # a cell may have changed the threads
            if profile is not None:
                sys.setprofile(profile)
            try:
                got = run(fn, args, kwargs)
            finally:
                sys.setprofile(None)
    except _TimeLimit:
        timeout = True
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
        error = (type(exc).__name__, str(exc)[:500])
    finally:
        if watch is not None:
            watch.where, watch.calling = "harness", False
        sys.stdout, sys.stderr = real_out, real_err
    return got, error, timeout


def _direct(fn, args, kwargs):
    return fn(*args, **kwargs)


def call_cases(fn, cases: list, call_timeout: float, watch: Watch | None = None, places: Places | None = None,
               validate=None, run=None, inputs=None) -> list[dict]:
    """Call ``fn`` on every case as the check does (``run``: the exercise's ``Exercise.run``, for an exercise whose
    answer is what the function does), then each case again (the check asks a wrong answer twice, to spot fresh
    random numbers); report what came back, which input tensors changed, and what it used."""
    import torch

    run = run or _direct
    snapshot, changed = inputs or inputs_api()
    with torch.random.fork_rng(devices=[]):  # one random state for all the calls, as the check's evaluate has
        calls = []
        for case in cases:
            record: dict = {"out": None, "error": None, "timeout": False, "changed": {}, "again": None, "valid": None}
            profile = Profile(places) if places is not None else None
            args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
            before = snapshot(args, kwargs)
            got, record["error"], record["timeout"] = _one_call(run, fn, args, kwargs, call_timeout, watch, profile)
            record["out"] = sanitize(got)
            record["changed"] = {path: sanitize(t) if t is not None else None
                                 for path, t in changed(before, args, kwargs).items()}
            if profile is not None:
                record["ran"], record["direct"] = sorted(profile.ran), sorted(profile.direct)
            if validate is not None and record["error"] is None and not record["timeout"]:
                try:
                    problem = validate(got, *args)
                    record["valid"] = list(problem) if problem else None
                except Exception as exc:
                    record["valid"] = [f"the check's validation failed ({type(exc).__name__})", ""]
            calls.append(record)
            if record["timeout"] or (record["error"] and record["error"][0] == "NotImplementedError"):
                break  # as the check: it stops at "not implemented yet"; after a time-out nothing more can be asked
        for case, record in zip(cases, calls):
            if record["error"] is None and not record["timeout"]:
                again, error, timeout = _one_call(run, fn, copy.deepcopy(case.args), copy.deepcopy(case.kwargs),
                                                  call_timeout, watch, None)
                record["again"] = sanitize(again) if error is None and not timeout else None
    return calls


def grade_notebook(task: jobs.NotebookTask, job: jobs.Job, cases: dict, channel: Channel, course_root: str,
                   work: str) -> None:
    """In the notebook's own process: run it, call its functions, send the results."""
    import torch

    from course_utils.checks import EXERCISES

    places = Places(course_root)
    places.learn_course()
    inputs = inputs_api()  # taken before any student code runs, as are the exercises' own validators and runners
    validators = {e.id: getattr(EXERCISES.get(e.id), "validate", None) for e in task.exercises}
    runners = {e.id: getattr(EXERCISES.get(e.id), "run", None) for e in task.exercises}
    watch = Watch(places, channel, work)
    watch.install()
    shell = _shell()
    taken, missing = run_cells(task, shell, watch, channel, job.cell_timeout)
    threads = [t.name for t in __import__("threading").enumerate() if t is not __import__("threading").main_thread()]
    results = {}
    for e in task.exercises:
        fn = taken.get(e.id)
        record: dict = {"state": "ok", "type": type(fn).__name__, "calls": [], "params": [], "source": ""}
        results[e.id] = record
        if e.id in missing:
            record["state"] = "undefined"
            continue
        if not callable(fn):
            record["state"] = "not callable"
            continue
        if threads:
            record["state"] = "threads"
            record["threads"] = threads[:5]
            continue
        try:
            record["params"] = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            pass
        record["source"] = _function_source(fn, watch)[:20_000]
        record["marked_reference"] = bool(getattr(fn, "__course_reference__", False))
        record["calls"] = call_cases(fn, cases.get(e.id, []), job.call_timeout, watch, places, validators[e.id],
                                     runners[e.id], inputs)
    buffer = io.BytesIO()
    torch.save({"exercises": results}, buffer)
    channel.json({"results": task.key})
    channel.send(b"T", buffer.getvalue())


# ---------------------------------------------------------------------------- the supervisor


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _kill_others(me: int) -> None:
    """Kill what a notebook left running: in the sandbox's own pid namespace (this process is its pid 1) every
    other process; without one (plain mode), every process that descends from this one."""
    for _ in range(5):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            if me != 1 and not _descends(pid, me):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                found = True
            except OSError:
                pass
        _reap()
        if not found:
            return
        time.sleep(0.02)


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as f:
                pid = next((int(line.split()[1]) for line in f if line.startswith("PPid:")), 0)
        except OSError:
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _relay(task: jobs.NotebookTask, pid: int, fd: int, out: Channel) -> None:
    """Forward what the notebook's process sends, tagged with its notebook; kill it at its deadline."""
    reader = jobs.Reader()
    deadline = time.monotonic() + task.timeout
    problem = ""
    sent_results = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            problem = f"it did not finish within {task.timeout:g} s"
            break
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        try:
            data = os.read(fd, 1 << 20)
        except OSError:
            data = b""
        if not data:
            break
        for kind, body in reader.feed(data):
            if kind == b"J":
                try:
                    message = json.loads(body.decode("utf-8"))
                except ValueError:
                    problem = "it sent something that is not in the grader's format"
                    break
                out.json({"notebook": task.key, "message": message})
            else:
                out.json({"notebook": task.key, "tensors": len(body)})
                out.send(b"T", body)
                sent_results = True
        if reader.problem or problem:
            problem = problem or reader.problem
            break
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os.close(fd)
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code = None
    if not problem and not sent_results and code not in (0, None):
        problem = f"its process stopped (exit code {code}) before it sent results"
    out.json({"notebook": task.key, "end": problem})


def _child(task: jobs.NotebookTask, job: jobs.Job, cases: dict, fd: int, uid: int, course_root: str) -> None:
    """The notebook's own process (never returns)."""
    code = 1
    try:
        os.setsid()
        work = os.path.join("/tmp", f"work-{task.key}")
        os.makedirs(work, exist_ok=True)
        if uid and os.geteuid() == 0:
            os.chown(work, uid, uid)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        os.chdir(work)
        os.environ["HOME"] = os.environ["TMPDIR"] = os.environ["MPLCONFIGDIR"] = work
        grade_notebook(task, job, cases, Channel(fd), course_root, work)
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _prepare_path(course_root: str) -> None:
    """Import the course from the sandbox's copy only; write no bytecode anywhere."""
    sys.dont_write_bytecode = True
    sys.path[:] = [course_root, os.path.dirname(os.path.realpath(__file__))] + [
        p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(course_root) and not p.startswith("__editable__")]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                        and "editable" not in getattr(f, "__name__", "").lower()]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in getattr(h, "__module__", "").lower()]
    sys.path_importer_cache.clear()


def main(argv: list[str]) -> int:
    out_fd, course_root = int(argv[1]), argv[2]
    _prepare_path(course_root)
    _prctl(_PR_SET_DUMPABLE, 0)  # the notebooks' processes cannot read this one's memory or descriptors
    if os.getpid() != 1:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # what a notebook leaves running comes back here, to be killed
    null = os.open(os.devnull, os.O_RDWR)
    out = Channel(out_fd)
    try:
        kind, spec = _read_message(0)
        job = jobs.Job.from_wire(spec)
        kind, blob = _read_message(0)
    except (EOFError, ValueError, OSError) as err:
        out.json({"fatal": f"could not read the job: {err}"})
        return 1
    for target in (0, 1, 2):  # standard input is spent; output goes nowhere (the audit copy has each cell's output)
        os.dup2(null, target)
    os.environ.update(MPLBACKEND="Agg", TQDM_DISABLE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
                      COURSE_QUICK="1" if job.quick else "0", PYTHONDONTWRITEBYTECODE="1")
    import torch

    torch.set_num_threads(jobs.THREADS)
    cases = torch.load(io.BytesIO(blob), weights_only=False)  # from the grader, before any student code ran
    del blob
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import course_utils.checks  # noqa: F401
    out.json({"ready": True})
    me = os.getpid()
    for number, task in enumerate(job.notebooks):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(out_fd)
            _child(task, job, cases, w, job.uids[number] if number < len(job.uids) else 0, course_root)
        os.close(w)
        _relay(task, pid, r, out)
        _kill_others(me)
    out.json({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
