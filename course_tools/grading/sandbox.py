"""Running each student's work in a sandbox of its own, several at a time, and killing it whole.

A sandbox is started per student (:class:`jobs.Job`): a fresh Python, started with exec, never a fork of the
grader, running :mod:`harness` with one descriptor open besides its standard input: the write end of its own
result pipe. It sees a course tree that holds only the student edition (:mod:`coursetree`), read-only, and
writes no bytecode. One class per isolation mode:

:class:`OsSandbox` (``--isolation os``; root on Linux)
    new mount, pid, network, IPC and UTS namespaces; a fresh root file system holding only the system's
    libraries, Python and the course tree, all read-only; a private ``/tmp`` and ``/dev/shm`` capped at
    ``TMP_BYTES``; no network; each notebook's process under a user id of its own (never reused in a run),
    with ``RLIMIT_NPROC`` and ``RLIMIT_FSIZE`` caps and no way to gain privileges.
:class:`BwrapSandbox` (``--isolation bwrap``; any user, needs bubblewrap >= 0.8)
    the same file system view, namespaces and ``/tmp`` cap, built by ``bwrap``; one user id for the
    sandbox (bubblewrap drops every capability).
:class:`PlainSandbox` (only with ``--unsafe-plain``)
    a fresh Python in an empty temporary folder with a minimal environment, and nothing more.

The whole tree of a sandbox is killed on its timeout, on the grader's SIGTERM or Ctrl-C, and when it ends:
in ``os`` and ``bwrap`` by ending its pid namespace (its first process dies with the launcher, the kernel
kills the rest); in ``plain`` by killing its process group, and every process orphaned under the grader.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from . import jobs

TMP_BYTES = 512 * 1024 * 1024  # each sandbox's /tmp (and /dev/shm), and the largest file it may write
NPROC = 256  # processes per notebook's user id (os mode)
FIRST_UID = 200_000
COURSE = "/course"  # where the course tree appears inside os and bwrap sandboxes
SYSTEM = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
ETC = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
       "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/fonts"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
_PR_SET_CHILD_SUBREAPER = 36


def _python_paths() -> list[str]:
    """The folders Python and its packages live in (real paths), for read-only binds."""
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p) and ("site-packages" in p or "dist-packages" in p)}
    paths |= {os.path.dirname(os.path.realpath(sys.executable))}
    out = []
    for p in sorted(paths, key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out) and not any(
                p == s or p.startswith(s + "/") for s in SYSTEM):
            out.append(p)
    return out


def python_executable() -> str:
    """The interpreter to start in a sandbox: this one, by a path that exists inside it (a venv's bin is kept)."""
    venv = os.path.join(os.path.realpath(sys.prefix), "bin", "python")
    return venv if os.path.exists(venv) else os.path.realpath(sys.executable)


def minimal_env(home: str, course: str, quick: bool) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home,
            "TMPDIR": home, "MPLCONFIGDIR": home, "IPYTHONDIR": os.path.join(home, ".ipython"),
            "COURSE_QUICK": "1" if quick else "0", "COURSE_DATA_DIR": os.path.join(course, "data"), "MPLBACKEND": "Agg",
            "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0"}


class Sandbox(ABC):
    """One isolation mode: can it work here, and how to start (and kill) one job in it."""

    name = ""
    note = ""

    def __init__(self, tree: Path):
        self.tree = tree

    @classmethod
    @abstractmethod
    def unavailable(cls) -> str:
        """Why this mode cannot work on this machine ("" when it can)."""

    @abstractmethod
    def start(self, job: jobs.Job, out_fd: int, scratch: Path) -> subprocess.Popen:
        """Start the job's sandbox; its standard input is a pipe the grader writes the job to."""

    def kill(self, proc: subprocess.Popen) -> None:
        """Kill the sandbox and everything in it."""
        for target in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
            try:
                target()
            except OSError:
                pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def after(self) -> None:  # noqa: B027 - most modes have nothing to do here
        """Called after each sandbox ends (plain mode kills what escaped its process group)."""

    def uids(self, count: int) -> tuple[int, ...]:
        return ()

    def _popen(self, argv: list[str], env: dict, out_fd: int, cwd: str) -> subprocess.Popen:
        # stderr: what the launcher or the harness says before the harness closes it (it does, before any student
        # code runs); the grader quotes its last line when a sandbox stops without results.
        log = tempfile.TemporaryFile(dir=cwd if os.access(cwd, os.W_OK) else None)
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=log, pass_fds=(out_fd,), close_fds=True, start_new_session=True)
        proc.log = log
        return proc


class OsSandbox(Sandbox):
    name = "os"
    note = ("each student in new namespaces (no network, own pid space), a root file system holding only Python "
            "and the student edition, read-only, a private /tmp; each notebook under its own user id")

    def __init__(self, tree: Path):
        super().__init__(tree)
        self.next_uid = FIRST_UID + (os.getpid() % 4096) * 4096

    @classmethod
    def unavailable(cls) -> str:
        if not sys.platform.startswith("linux"):
            return "needs Linux"
        if os.geteuid() != 0:
            return "needs root (namespaces and user ids)"
        try:
            done = subprocess.run([python_executable(), "-I", "-B", "-S", "-c", LAUNCHER, "probe"], capture_output=True,
                                  timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"could not test it ({err})"
        return "" if done.returncode == 0 else f"this machine refused the namespaces ({done.stderr.decode()[-200:].strip()})"

    def uids(self, count: int) -> tuple[int, ...]:
        first, self.next_uid = self.next_uid, self.next_uid + count
        return tuple(range(first, first + count))

    def start(self, job: jobs.Job, out_fd: int, scratch: Path) -> subprocess.Popen:
        root = Path(tempfile.mkdtemp(prefix="root-", dir=scratch))
        binds = [[p, p] for p in SYSTEM + ETC if os.path.exists(p)] + [[p, p] for p in _python_paths()]
        binds.append([str(self.tree), COURSE])
        config = {"root": str(root), "binds": binds, "devices": [d for d in DEVICES if os.path.exists(d)],
                  "tmp_bytes": TMP_BYTES, "nproc": NPROC, "python": python_executable(),
                  "argv": [python_executable(), "-I", "-B", f"{COURSE}/grader/harness.py", str(out_fd), COURSE],
                  "env": minimal_env("/tmp", COURSE, job.quick)}
        argv = [python_executable(), "-I", "-B", "-S", "-c", LAUNCHER, json.dumps(config)]
        return self._popen(argv, {"PATH": "/usr/bin:/bin"}, out_fd, str(root))


class BwrapSandbox(Sandbox):
    name = "bwrap"
    note = ("each student inside bubblewrap: new namespaces (no network, own pid space), only Python and the "
            "student edition visible, read-only, a private /tmp")

    @classmethod
    def unavailable(cls) -> str:
        exe = shutil.which("bwrap")
        if not exe:
            return "needs bubblewrap (apt-get install bubblewrap)"
        try:
            done = subprocess.run([exe, *cls._base_args(), "true"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"could not test it ({err})"
        if done.returncode != 0:
            return f"bubblewrap refused to start ({done.stderr.decode()[-200:].strip()}); it needs version 0.8 or " \
                   "newer and user namespaces"
        return ""

    @staticmethod
    def _base_args() -> list[str]:
        args = ["--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL",
                "--hostname", "sandbox"]
        for p in SYSTEM + ETC + _python_paths():
            if os.path.exists(p):
                args += ["--ro-bind", p, p]
        return args + ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                       "--size", str(TMP_BYTES), "--tmpfs", "/dev/shm", "--chdir", "/tmp"]

    def start(self, job: jobs.Job, out_fd: int, scratch: Path) -> subprocess.Popen:
        argv = ["bwrap", *self._base_args(), "--ro-bind", str(self.tree), COURSE, "--clearenv",
                python_executable(), "-I", "-B", f"{COURSE}/grader/harness.py", str(out_fd), COURSE]
        env = minimal_env("/tmp", COURSE, job.quick)
        at = argv.index("--clearenv") + 1
        argv[at:at] = [x for k, v in env.items() for x in ("--setenv", k, v)]
        return self._popen(argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, out_fd, str(scratch))


class PlainSandbox(Sandbox):
    name = "plain"
    note = ("NOT ISOLATED: student code runs with your rights (your files, the network, your processes, the "
            "grader itself); changes to the course are reported, not prevented")

    def __init__(self, tree: Path):
        super().__init__(tree)
        self.homes: list[str] = []
        try:  # orphans of a submission come back to the grader, which kills them (see after())
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except Exception:
            pass
        self.known: set[int] = set()

    @classmethod
    def unavailable(cls) -> str:
        return ""

    def start(self, job: jobs.Job, out_fd: int, scratch: Path) -> subprocess.Popen:
        home = tempfile.mkdtemp(prefix="plain-", dir=scratch)
        argv = [python_executable(), "-I", "-B", str(self.tree / "grader" / "harness.py"), str(out_fd), str(self.tree)]
        proc = self._popen(argv, minimal_env(home, str(self.tree), job.quick), out_fd, home)
        self.known.add(proc.pid)
        return proc

    def after(self) -> None:
        """Kill every process orphaned under the grader that is not a sandbox it started (and reap it)."""
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in self.known:
                continue
            try:
                with open(f"/proc/{entry}/status", encoding="utf-8") as f:
                    ppid = next((int(line.split()[1]) for line in f if line.startswith("PPid:")), 0)
            except (OSError, ValueError):
                continue
            if ppid == me:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    os.waitpid(int(entry), 0)
                except OSError:
                    pass


MODES = {cls.name: cls for cls in (OsSandbox, BwrapSandbox, PlainSandbox)}
ISOLATIONS = ("auto", "os", "bwrap")


def choose(requested: str, *, allow_plain: bool = False) -> type[Sandbox]:
    """The sandbox class for ``--isolation``: auto takes os, then bwrap; plain only when explicitly allowed."""
    if allow_plain:
        return PlainSandbox
    names = ["os", "bwrap"] if requested == "auto" else [requested]
    reasons = []
    for name in names:
        why = MODES[name].unavailable()
        if not why:
            return MODES[name]
        reasons.append(f"{name}: {why}")
    raise SystemExit("error: no sandbox works here (" + "; ".join(reasons) + "). Install bubblewrap "
                     "(apt-get install bubblewrap), run as root, or grade in a container; --unsafe-plain grades "
                     "without a sandbox (read its help first)")


# ---------------------------------------------------------------------------- running jobs


@dataclass
class Running:
    job: jobs.Job
    proc: subprocess.Popen
    out: int
    started: float
    deadline: float
    pending: bytes  # still to write on its standard input
    reader: jobs.Reader = field(default_factory=jobs.Reader)
    outcomes: dict = field(default_factory=dict)  # notebook key -> jobs.Outcome
    expect_tensors: str | None = None  # the notebook whose results the next b"T" message holds
    current: str | None = None
    done: bool = False
    problem: str = ""


class Interrupted(Exception):
    """SIGTERM or Ctrl-C reached the grader: stop, kill every sandbox, write what finished."""


def run_jobs(jobs_: list[jobs.Job], cases: dict[str, bytes], sandbox: Sandbox, *, n_jobs: int, deadline: float | None = None,
             progress=None, watch=None) -> tuple[dict[tuple[str, str], jobs.Outcome], bool]:
    """Run every job, ``n_jobs`` at a time; return ({(student, notebook key): outcome}, interrupted).

    ``cases`` holds, per student, the ``torch.save`` bytes of the cases their notebooks are called on.
    ``deadline`` (time.monotonic()) stops everything still running then. ``watch(running keys)`` is called
    after each sandbox ends, to look for changes to the course's files.
    """
    outcomes: dict[tuple[str, str], jobs.Outcome] = {}
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    scratch.chmod(0o711)
    queue = list(jobs_)
    running: dict[int, Running] = {}
    selector = selectors.DefaultSelector()
    interrupted = False
    previous = {}

    def stop(signum, frame):  # noqa: ARG001
        raise Interrupted()

    if _main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, stop)
    try:
        while queue or running:
            while queue and len(running) < max(1, n_jobs) and not (deadline and time.monotonic() > deadline):
                job = queue.pop(0)
                r, w = os.pipe()
                os.set_inheritable(r, False)
                os.set_blocking(r, False)
                try:
                    proc = sandbox.start(job, w, scratch)
                finally:
                    os.close(w)
                os.set_blocking(proc.stdin.fileno(), False)
                limit = sum(n.timeout for n in job.notebooks) + 120  # the harness keeps each notebook to its own
                entry = Running(job, proc, r, time.monotonic(), time.monotonic() + limit,
                                jobs.frame(b"J", job.wire()) + jobs.frame(b"T", cases[job.student]))
                running[r] = entry
                selector.register(r, selectors.EVENT_READ, entry)
                selector.register(proc.stdin, selectors.EVENT_WRITE, entry)
            if not running:
                break
            for key, _ in selector.select(timeout=0.5):
                entry = key.data
                if key.fileobj is entry.proc.stdin:
                    _feed(entry, selector)
                else:
                    _drain(entry, selector)
            now = time.monotonic()
            for r, entry in list(running.items()):
                late = now > entry.deadline or (deadline is not None and now > deadline)
                if not entry.done and not late:
                    continue
                if late and not entry.done:
                    entry.problem = ("it did not finish within the time budget" if deadline and now > deadline
                                     else f"it did not finish within {entry.deadline - entry.started:.0f} s")
                _finish(entry, sandbox, selector, outcomes, queue, progress, watch, list(running.values()))
                del running[r]
            if deadline and time.monotonic() > deadline:
                for job in queue:
                    for n in job.notebooks:
                        outcomes[(job.student, n.key)] = jobs.Outcome(problem="it was not run: the time budget ran out")
                queue.clear()
    except Interrupted:
        interrupted = True
    finally:
        for entry in running.values():
            entry.problem = entry.problem or "grading was interrupted before it finished"
            sandbox.kill(entry.proc)
            _collect(entry, outcomes)
            _close(entry, selector)
        sandbox.after()
        for job in queue:
            for n in job.notebooks:
                outcomes.setdefault((job.student, n.key), jobs.Outcome(problem="grading was interrupted before it ran"))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        selector.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return outcomes, interrupted


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _feed(entry: Running, selector) -> None:
    try:
        n = os.write(entry.proc.stdin.fileno(), entry.pending[:1 << 16])
        entry.pending = entry.pending[n:]
    except BlockingIOError:
        return
    except OSError:
        entry.pending = b""
    if not entry.pending:
        selector.unregister(entry.proc.stdin)
        try:
            entry.proc.stdin.close()
        except OSError:
            pass


def _drain(entry: Running, selector) -> None:
    try:
        data = os.read(entry.out, 1 << 20)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        entry.done = True
        selector.unregister(entry.out)
        return
    for kind, body in entry.reader.feed(data):
        _message(entry, kind, body)
    if entry.reader.problem:
        entry.problem = entry.reader.problem
        entry.done = True
        selector.unregister(entry.out)


def _outcome(entry: Running, key: str) -> jobs.Outcome | None:
    if key not in {n.key for n in entry.job.notebooks}:
        return None
    return entry.outcomes.setdefault(key, jobs.Outcome(results={"cells": {}}, problem="", seconds=0.0))


def _message(entry: Running, kind: bytes, body: bytes) -> None:
    """One message from the sandbox's supervisor (the harness), which tags each with its notebook."""
    if kind == b"T":
        key, entry.expect_tensors = entry.expect_tensors, None
        outcome = _outcome(entry, key) if key else None
        if outcome is None:
            return
        import io

        import torch  # safe: weights_only refuses anything but tensors and plain containers

        try:
            payload = torch.load(io.BytesIO(body), weights_only=True)
        except Exception as err:
            outcome.problem = f"its results could not be read ({type(err).__name__})"
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("exercises"), dict):
            outcome.problem = "its results were not in the grader's format"
            return
        outcome.results["exercises"] = payload["exercises"]
        return
    try:
        message = json.loads(body.decode("utf-8"))
    except ValueError:
        entry.problem = "it sent something that is not in the grader's format"
        return
    if not isinstance(message, dict):
        return
    if message.get("fatal"):
        entry.problem = str(message["fatal"])[:300]
        return
    key = message.get("notebook")
    outcome = _outcome(entry, key) if isinstance(key, str) else None
    if outcome is None:
        return
    if "tensors" in message:
        entry.expect_tensors = key
        return
    if "end" in message:
        outcome.problem = outcome.problem or str(message["end"] or "")[:300]
        outcome.seconds = time.monotonic() - entry.started - sum(o.seconds for o in entry.outcomes.values())
        outcome.results["ended"] = True
        return
    inner = message.get("message")
    if not isinstance(inner, dict):
        return
    if "event" in inner and len(outcome.events) < 200:
        outcome.events.append({k: str(inner.get(k, ""))[:500] for k in ("event", "detail", "where")})
    elif "cell" in inner and isinstance(inner["cell"], int):
        outcome.results["cells"][inner["cell"]] = {k: inner.get(k) for k in ("count", "seconds", "stdout", "stderr", "error")}
    elif "results" in inner:
        pass  # the tensors follow, tagged by the supervisor


def _last_words(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log", None)
    if log is None:
        return ""
    try:
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - 4000))
        lines = [line for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        log.close()
    except (OSError, ValueError):
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _collect(entry: Running, outcomes: dict) -> None:
    """The outcome of every notebook of this job: what came back, or why nothing did."""
    if not entry.problem and entry.proc.returncode not in (0, None):
        words = _last_words(entry.proc)
        entry.problem = f"the sandbox stopped (exit code {entry.proc.returncode})" + (f": {words}" if words else "")
    for n in entry.job.notebooks:
        outcome = entry.outcomes.get(n.key)
        if outcome is None or (not outcome.results.get("ended") and "exercises" not in outcome.results):
            problem = entry.problem or "the sandbox stopped before it ran this notebook"
            if outcome is not None and outcome.results.get("cells"):
                problem = entry.problem or "the sandbox stopped while it ran this notebook"
            events = outcome.events if outcome else []
            cells = outcome.results.get("cells", {}) if outcome else {}
            outcome = jobs.Outcome(results={"cells": cells}, problem=problem, events=events)
        if "exercises" not in outcome.results:
            outcome.problem = outcome.problem or entry.problem or "no results came back"
        outcomes[(entry.job.student, n.key)] = outcome


def _close(entry: Running, selector) -> None:
    for obj in (entry.out, entry.proc.stdin):
        try:
            selector.unregister(obj)
        except (KeyError, ValueError):
            pass
    try:
        os.close(entry.out)
    except OSError:
        pass
    try:
        entry.proc.stdin.close()
    except OSError:
        pass


def _finish(entry: Running, sandbox: Sandbox, selector, outcomes: dict, queue: list, progress, watch, running: list) -> None:
    sandbox.kill(entry.proc)
    sandbox.after()
    _close(entry, selector)
    _collect(entry, outcomes)
    if watch is not None:
        watch([e.job.student for e in running])
    if progress:
        progress(entry.job, {n.key: outcomes[(entry.job.student, n.key)] for n in entry.job.notebooks})


# ---------------------------------------------------------------------------- the os mode's launcher

# Run as `python -I -B -S -c LAUNCHER CONFIG` by the grader (root), with the harness's result pipe open.
# It is stdlib only and reads nothing from the course checkout. It enters new namespaces, forks the sandbox's
# first process (pid 1 of the new pid namespace, killed with the launcher), builds a fresh read-only root
# with pivot_root, caps /tmp, and execs the harness. "probe" only tests that the namespaces can be made.
LAUNCHER = r'''
import ctypes, json, os, resource, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
NEWNS, NEWNET, NEWPID, NEWIPC, NEWUTS = 0x20000, 0x40000000, 0x20000000, 0x8000000, 0x4000000
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
def check(ok, what):
    if ok != 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
def mount(src, dst, fs, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None
    check(libc.mount(enc(src), enc(dst), enc(fs), ctypes.c_ulong(flags), enc(data)), "mount " + dst)
check(libc.unshare(NEWNS | NEWNET | NEWPID | NEWIPC | NEWUTS), "unshare")
if sys.argv[1] == "probe":
    sys.exit(0)
cfg = json.loads(sys.argv[1])
pid = os.fork()
if pid:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: this namespace dies with the launcher
mount(None, "/", None, REC | PRIVATE)
root = cfg["root"]
mount("tmpfs", root, "tmpfs", NOSUID | NODEV, "size=16m,mode=0755")
for src, dst in cfg["binds"]:
    target = root + dst
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(src, target, None, BIND)
    mount(None, target, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV)
os.makedirs(root + "/proc")
mount("proc", root + "/proc", "proc", NOSUID | NODEV | NOEXEC)
os.makedirs(root + "/tmp")
mount("tmpfs", root + "/tmp", "tmpfs", NOSUID | NODEV, "size=%d,mode=1777" % cfg["tmp_bytes"])
os.makedirs(root + "/dev/shm")
mount("tmpfs", root + "/dev/shm", "tmpfs", NOSUID | NODEV | NOEXEC, "size=%d,mode=1777" % cfg["tmp_bytes"])
for dev in cfg["devices"]:
    open(root + dev, "a").close()
    mount(dev, root + dev, None, BIND)
os.makedirs(root + "/.old")
syscall = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
os.chdir(root)
if syscall is not None and libc.syscall(syscall, b".", b".old") == 0:
    os.chdir("/")
    check(libc.umount2(b"/.old", 2), "umount the old root")
    os.rmdir("/.old")
else:
    mount(root, "/", None, 8192)  # MS_MOVE
    os.chroot(".")
    os.chdir("/")
mount(None, "/", None, REMOUNT | RDONLY | NOSUID | NODEV)
libc.sethostname(b"sandbox", 7)
resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["tmp_bytes"], cfg["tmp_bytes"]))
resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.chdir("/tmp")
os.execve(cfg["python"], cfg["argv"], cfg["env"])
'''
