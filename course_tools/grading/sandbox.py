"""Running submissions isolated from the course, from each other and from the grader, several at a time.

Three isolation modes (``--isolation``):

``os`` (the default when the grader runs as root on Linux)
    The grader forks a child per submission. Before any student code runs, the
    child enters new mount and network namespaces (no network at all; a private,
    empty ``/tmp`` and ``/dev/shm``), remounts the course checkout, the
    submissions folder and the gradebook folder read-only, then drops root for a
    user id of its own (one per submission, never reused in a run). It cannot
    write the course, the data or any file it does not own, cannot signal or
    trace the grader or another submission, and every process left under its
    user id is killed when it ends.
``bwrap`` (for a non-root instructor; needs bubblewrap: ``apt-get install bubblewrap``)
    Each submission runs ``python -m course_tools.grading.harness`` inside
    ``bwrap --ro-bind / / --tmpfs /tmp --unshare-all``: the whole filesystem
    read-only, no network, its own process tree. Slower (a fresh interpreter per
    submission).
``plain``
    A forked child in a fresh temporary folder (its working directory, ``HOME``
    and ``TMPDIR``) with a minimal environment. It protects nothing else:
    student code runs with the grader's rights and can read, change or delete any
    file the grader can, and use the network. Changes to the course are
    detected and reported (checksums before and after), not prevented.

In every mode the results come back through a file descriptor the grader
opened, and only as data; the grade is computed in the grader's process.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import harness

ISOLATIONS = ("auto", "os", "bwrap", "plain")
MAX_RESULT_BYTES = 256 * 1024 * 1024
FIRST_UID = 200_000  # per-submission user ids in os mode (no passwd entry needed)

_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


@dataclass
class Job:
    key: tuple  # (student, file) as the gradebook names it
    spec: dict  # what the harness needs: notebook, run_cells, exercises, timeouts
    cases: dict  # exercise id -> cases (fork modes hand these over in memory)


@dataclass
class Outcome:
    results: dict | None = None  # the harness's payload, or None
    problem: str = ""  # why there are no results
    seconds: float = 0.0
    tampered: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- what the OS offers


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    if _libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _can_fork_isolate() -> bool:
    """Whether this process may create namespaces and change user (root with CAP_SYS_ADMIN on Linux)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        try:
            ok = _libc().unshare(_CLONE_NEWNS | _CLONE_NEWNET) == 0
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "true"],
                              capture_output=True, timeout=30).returncode == 0
    except Exception:
        return False


def choose_isolation(requested: str) -> tuple[str, str]:
    """(mode, note): ``auto`` becomes os, then bwrap, then plain; a mode that cannot work here is an error."""
    if requested == "os" or (requested == "auto" and _can_fork_isolate()):
        if not _can_fork_isolate():
            raise SystemExit("error: --isolation os needs root on Linux (namespaces and setuid); "
                             "use --isolation bwrap (apt-get install bubblewrap) or run in a container")
        return "os", "each submission in its own network and mount namespace, course read-only, its own user id"
    if requested == "bwrap" or (requested == "auto" and _bwrap_works()):
        if not _bwrap_works():
            raise SystemExit("error: --isolation bwrap needs bubblewrap (apt-get install bubblewrap) and user namespaces")
        return "bwrap", "each submission inside bubblewrap: filesystem read-only, no network"
    return "plain", ("NOT ISOLATED: submissions run with your rights and network access; changes to the course "
                     "are reported, not prevented (see INSTRUCTORS.md, Grading)")


# ---------------------------------------------------------------------------- tamper evidence


def fingerprint(paths: list[Path], full: bool = False) -> dict[str, tuple]:
    """Every file under ``paths``: (size, mtime) or, with ``full``, its SHA-256 too."""
    out = {}
    for root in paths:
        if not root.exists():
            continue
        files = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file() or p.is_symlink())
        for p in files:
            if "__pycache__" in p.parts:
                continue
            try:
                st = p.lstat()
                entry = (st.st_size, st.st_mtime_ns, st.st_mode)
                if full and p.is_file():
                    entry += (hashlib.sha256(p.read_bytes()).hexdigest(),)
            except OSError:
                continue
            out[str(p)] = entry
    return out


def differences(before: dict, after: dict) -> list[str]:
    changed = [f"changed: {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return ([f"deleted: {p}" for p in sorted(set(before) - set(after))]
            + [f"created: {p}" for p in sorted(set(after) - set(before))] + changed)


# ---------------------------------------------------------------------------- the child


def _minimal_env(home: str, quick: bool) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH",
                                                         "COURSE_DATA_DIR", "COURSE_DEVICE", "VIRTUAL_ENV")}
    keep.update(HOME=home, TMPDIR=home, MPLCONFIGDIR=home, IPYTHONDIR=os.path.join(home, ".ipython"),
                COURSE_QUICK="1" if quick else "0", MPLBACKEND="Agg", TQDM_DISABLE="1", OMP_NUM_THREADS="1",
                CUDA_VISIBLE_DEVICES="")
    return keep


def _blocked_ancestor(path: str) -> str | None:
    """The first directory on the way to ``path`` that other users cannot enter (e.g. /root), or None."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        try:
            st = os.stat(current)
        except OSError:
            return None
        if os.path.isdir(current) and not st.st_mode & 0o001:
            return current
    return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _cover(folder: str, keep: list[str], mode: str) -> None:
    """Mount an empty tmpfs on ``folder``, then bind the ``keep`` paths inside it back, read-only."""
    keep = [p for p in sorted(set(keep), key=len) if _inside(p, folder) and p != folder]
    keep = [p for i, p in enumerate(keep) if not any(_inside(p, q) for q in keep[:i])]
    fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in keep if os.path.isdir(p)]
    _mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode={mode},size=1g")
    for p, fd in fds:
        os.makedirs(p, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", p, None, _MS_BIND | _MS_REC)
        _mount(None, p, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
        os.close(fd)


def _isolate_os(uid: int, readonly: list[Path], visible: list[Path]) -> str:
    """In the forked child: namespaces, read-only course, private /tmp, then a user id of its own. Returns the work dir.

    ``visible`` (the course) stays readable, read-only; the other ``readonly`` folders (the submissions, the
    gradebook) are covered by empty folders; Python's own files stay readable even under a closed /root.
    """
    if _libc().unshare(_CLONE_NEWNS | _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    if os.environ.get("COURSE_DATA_DIR"):
        visible = visible + [Path(os.environ["COURSE_DATA_DIR"])]
    python = [sys.prefix, sys.base_prefix, sys.exec_prefix] + [p for p in sys.path if p and os.path.isdir(p)]
    keep = [os.path.realpath(p) for p in python + [str(v) for v in visible if v.exists()]]
    covers = [(t, "1777") for t in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(t)]
    covers += [(a, "0755") for a in sorted({_blocked_ancestor(p) for p in keep} - {None})]
    covers += [(str(r.resolve()), "0755") for r in readonly if r.exists() and not any(_inside(k, str(r.resolve())) for k in keep)]
    for folder, mode in covers:
        if os.path.isdir(folder):
            _cover(folder, keep, mode)
    for path in visible:
        p = os.path.realpath(path)
        if os.path.isdir(p):
            _mount(p, p, None, _MS_BIND | _MS_REC)
            _mount(None, p, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    work = "/tmp/submission"
    os.mkdir(work, 0o700)
    os.chown(work, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return work


def _child(job: Job, fd: int, mode: str, uid: int, readonly: list[Path], visible: list[Path], work: str,
           quick: bool) -> None:
    """Never returns: runs the harness in this forked process and exits."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        if mode == "os":
            work = _isolate_os(uid, readonly, visible)
        os.chdir(work)
        os.environ.clear()
        os.environ.update(_minimal_env(work, quick))
        harness.run(job.spec, fd, job.cases)
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _kill_uid(uid: int) -> None:
    """SIGKILL every process left under ``uid`` (os mode: what a submission started in the background)."""
    for _ in range(3):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status", encoding="utf-8") as f:
                    line = next((li for li in f if li.startswith("Uid:")), "")
                if line and int(line.split()[1]) == uid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, ValueError, StopIteration):
                continue
        if not found:
            return
        time.sleep(0.05)


def _read_results(fd: int) -> tuple[dict | None, str]:
    size = os.fstat(fd).st_size
    if size == 0:
        return None, "it stopped before sending any results"
    if size > MAX_RESULT_BYTES:
        return None, f"its results were too large ({size} bytes)"
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(os.dup(fd), "rb") as f:
        try:
            payload = torch.load(f, weights_only=True)
        except Exception as err:
            return None, f"its results could not be read ({type(err).__name__})"
    if not isinstance(payload, dict) or not isinstance(payload.get("exercises"), dict):
        return None, "its results were not in the grader's format"
    return payload, ""


def _results_fd(scratch: Path) -> int:
    try:
        return os.open(scratch, os.O_TMPFILE | os.O_RDWR, 0o600)
    except (AttributeError, OSError):
        fd, name = tempfile.mkstemp(dir=scratch)
        os.unlink(name)
        return fd


def run_jobs(jobs: list[Job], *, mode: str, n_jobs: int, timeout: float, quick: bool, readonly: list[Path],
             visible: list[Path], watch: list[Path], progress=None) -> dict[tuple, Outcome]:
    """Run every job, ``n_jobs`` at a time, each killed after ``timeout`` seconds; return their outcomes."""
    outcomes: dict[tuple, Outcome] = {}
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    scratch.chmod(0o711)
    pending = list(jobs)
    running: dict[int, dict] = {}
    last_print = fingerprint(watch)
    next_uid = FIRST_UID + (os.getpid() % 1000) * 10_000
    torch.set_num_threads(1)
    try:
        while pending or running:
            while pending and len(running) < max(1, n_jobs):
                job = pending.pop(0)
                fd = _results_fd(scratch)
                uid, next_uid = next_uid, next_uid + 1
                work = ""
                if mode == "plain":
                    work = tempfile.mkdtemp(dir=scratch)
                entry = {"job": job, "fd": fd, "uid": uid, "work": work, "start": time.monotonic()}
                if mode == "bwrap":
                    entry["proc"] = _start_bwrap(job, fd, quick)
                    pid = entry["proc"].pid
                else:
                    pid = os.fork()
                    if pid == 0:
                        _child(job, fd, mode, uid, readonly, visible, work, quick)
                running[pid] = entry
            finished = []
            for pid, entry in running.items():
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    finished.append((pid, None))
                elif time.monotonic() - entry["start"] > timeout:
                    _terminate(pid, entry, mode)
                    finished.append((pid, f"it did not finish within {timeout:g} s"))
            for pid, problem in finished:
                entry = running.pop(pid)
                if mode == "os":
                    _kill_uid(entry["uid"])
                elif mode == "plain":
                    _kill_group(pid)
                outcome = Outcome(seconds=time.monotonic() - entry["start"])
                if problem:
                    outcome.problem = problem
                else:
                    outcome.results, outcome.problem = _read_results(entry["fd"])
                os.close(entry["fd"])
                if entry["work"]:
                    shutil.rmtree(entry["work"], ignore_errors=True)
                now = fingerprint(watch)
                if now != last_print:
                    outcome.tampered = differences(last_print, now)
                    last_print = now
                outcomes[entry["job"].key] = outcome
                if progress:
                    progress(entry["job"], outcome)
            if not finished:
                time.sleep(0.02)
    finally:
        for pid, entry in running.items():
            _terminate(pid, entry, mode)
        shutil.rmtree(scratch, ignore_errors=True)
    return outcomes


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _terminate(pid: int, entry: dict, mode: str) -> None:
    if mode == "bwrap":
        _kill_group(pid)
        entry["proc"].kill()
        entry["proc"].wait()
        return
    _kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    if mode == "os":
        _kill_uid(entry["uid"])


def _start_bwrap(job: Job, fd: int, quick: bool) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[2]
    env = _minimal_env("/tmp", quick)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    # The fresh /tmp would hide a course, or a Python, that lives under /tmp (a CI clone, say): bind those back, read-only.
    under_tmp = sorted({str(p) for p in (root, Path(sys.prefix), Path(sys.base_prefix)) if Path("/tmp") in p.parents})
    keep = [arg for p in under_tmp for arg in ("--ro-bind", p, p)]
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *keep,
               "--tmpfs", "/dev/shm", "--unshare-all", "--die-with-parent", "--new-session", "--chdir", "/tmp",
               sys.executable, "-m", "course_tools.grading.harness", "-", str(fd)]
    proc = subprocess.Popen(command, env=env, pass_fds=(fd,), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.stdin.write(json.dumps(job.spec).encode("utf-8"))
        proc.stdin.close()
    except OSError:
        pass  # it died at once; the grader reports that it sent no results
    return proc
