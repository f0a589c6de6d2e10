"""What the course's commands share (``python -m course_utils.train``, ``.bench``, ``.looks_real``, ``.recipes``):

* every argument is checked before any work, and a bad one ends the command with one line that names it and
  says what to do, and exit status 2 (:class:`UsageError`, :class:`Parser`);
* an output file is checked before the work that makes it (:func:`check_output_file`);
* one run at a time writes a given output (:class:`OutputLock`): a second is refused with a line that names
  the first run's process;
* Ctrl-C or SIGTERM at any moment, even while Python is still importing torch, ends with one line
  (:func:`interrupt_handling`), never a traceback.

This module imports only the standard library, so it can guard a command's own imports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

INTERRUPTED_EXIT_STATUS = 130  # the shell's convention for a command stopped by Ctrl-C (128 + SIGINT)
USAGE_EXIT_STATUS = 2


class UsageError(Exception):
    """A bad argument: one line naming it and saying what to do."""


class Parser(argparse.ArgumentParser):
    """argparse with the course's habits: its own errors are one line too (the usage is in --help), and a
    negative number after an option (``--lr -1e-3``) is read as that option's value, so the range check can
    say what is wrong with it instead of argparse's "expected one argument"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)

    def error(self, message: str):
        self.exit(USAGE_EXIT_STATUS, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, err: Exception | str, status: int = USAGE_EXIT_STATUS):
    """End the command with ``prog: error: ...`` on one line of stderr, and ``status``."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    raise SystemExit(status)


def check_output_file(path: Path, flag: str, example: str = "model.pt") -> None:
    """Can a file be written at ``path``? A name that is no file (``.``, a folder), a folder that is a file, or a
    folder this process cannot write in is a UsageError. Tries a file in the first existing folder, and removes it."""
    if str(path) in ("", ".", "..") or path.name in ("", ".", ".."):
        raise UsageError(f"{flag} {str(path)!r} is not a file name; give one, e.g. {flag} {Path(path) / example}")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name, e.g. {flag} {path / example}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # folders still to be made: the first existing one decides
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: {folder} is a file, not a folder; choose another {flag}")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({err.strerror or type(err).__name__}); "
                         "choose a folder you can write to") from None


class OutputLock:
    """Held while a command writes ``path``'s outputs: a second command that asks for the same lock is refused
    with a line naming the first one's process, the command it runs and when it started.

    The lock is the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows) on the file
    ``path``, which holds the process id and command line; the system lets go of it when the process ends, however it
    ends, so a crashed run never leaves a stale lock. The file is removed when the lock is released.
    """

    def __init__(self, path: Path, flag: str, command: str):
        self.path, self.flag, self.command = Path(path), flag, command
        self._file = None
        self._made: list[Path] = []

    def __enter__(self) -> OutputLock:
        folder = self.path.parent
        while not folder.exists():
            self._made.append(folder)
            folder = folder.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the run)
            if not _try_lock(f):
                f.seek(0)
                holder = f.read().strip().splitlines()
                f.close()
                self._remove_made_folders()
                pid, command, started = (holder + ["?", "?", "?"])[:3]
                raise UsageError(f"{self.flag} is being written by another run: process {pid} ({command}, started "
                                 f"{started}); wait for it to finish or stop it (kill {pid}), or choose another {self.flag}")
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file that its last holder removed just before we locked it
                break
            f.close()
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n{self.command}\n{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._file.close()  # closing lets go of the lock
            self._file = None
        self._remove_made_folders()

    def _remove_made_folders(self) -> None:
        for folder in self._made:  # deepest first; only the empty ones, which this lock made
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made = []


def _try_lock(f) -> bool:
    """Take an exclusive lock on the open file ``f`` without waiting; False if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached a command outside a loop that stops gracefully."""

    def __init__(self, signal_name: str = "Ctrl-C"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _raise_interrupted(signum, frame):
    raise Interrupted("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")


@contextlib.contextmanager
def interrupt_handling(prog: str, active: bool = True, what: str = "before any work started: nothing was written"):
    """While a command runs: Ctrl-C and SIGTERM raise :class:`Interrupted` (SIGTERM would otherwise kill the
    process on the spot), and one that is not handled inside ends the command with one line and status 130.

    Used around a command's imports too (``active`` = ``__name__ == "__main__"``), so Ctrl-C while torch loads
    says ``what`` happened instead of printing a traceback. Loops inside install their own, graceful handlers
    (:class:`course_utils.loop.StopGuard`) and put these back when they end.
    """
    if not active:
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    except KeyboardInterrupt as err:
        name = getattr(err, "signal_name", "Ctrl-C")
        print(f"{prog}: stopped by {name} {what}", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_STATUS) from None
    finally:
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
