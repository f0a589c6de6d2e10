"""Evidence of changes: checksums of the files no submission may change, before, during and after grading.

In ``os`` and ``bwrap`` modes a submission cannot reach these files at all; the checksums prove it. In
``plain`` mode nothing stops it, and this is how the change is found: the whole instructor checkout (its
``.git`` and bytecode caches included, its virtual environment left out), the submissions and the gradebook
folder are listed before grading and after each sandbox ends, and hashed before and after grading. A change
found after a sandbox ends names the students whose sandboxes were running then; the harness's own report of
the writes a submission attempted names it exactly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SKIP = {".venv", "venv", "node_modules", ".ruff_cache", ".pytest_cache", ".ipynb_checkpoints"}
SCRATCH = ("build/grading/.building-",)  # the course tree being built by this grader


def fingerprint(paths: list[Path], full: bool = False) -> dict[str, tuple]:
    """Every file under ``paths``: (size, mtime, mode) or, with ``full``, its SHA-256 too. Symlinked folders are not followed."""
    out: dict[str, tuple] = {}
    for root in paths:
        root = Path(root)
        if not root.exists():
            continue
        if root.is_file():
            _add(out, root, full)
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP and not os.path.islink(os.path.join(folder, d))]
            for name in files:
                path = Path(folder, name)
                if not any(s in path.as_posix() for s in SCRATCH):
                    _add(out, path, full)
    return out


def _add(out: dict, path: Path, full: bool) -> None:
    try:
        st = path.lstat()
        entry = (st.st_size, st.st_mtime_ns, st.st_mode)
        if full and path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                entry += (hashlib.file_digest(f, "sha256").hexdigest(),) if hasattr(hashlib, "file_digest") else \
                    (hashlib.sha256(f.read()).hexdigest(),)
    except OSError:
        return
    out[str(path)] = entry


def differences(before: dict, after: dict) -> list[str]:
    changed = [f"changed: {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return ([f"deleted: {p}" for p in sorted(set(before) - set(after))]
            + [f"created: {p}" for p in sorted(set(after) - set(before))] + changed)


class Watcher:
    """Checksums of ``paths`` at the start; what changed after each sandbox and at the end."""

    def __init__(self, paths: list[Path]):
        self.paths = [Path(p) for p in paths]
        self.start = fingerprint(self.paths, full=True)
        self.last = {k: v[:3] for k, v in self.start.items()}
        self.found: list[str] = []

    def after_job(self, running: list[str]) -> None:
        now = fingerprint(self.paths)
        if now != self.last:
            who = ", ".join(sorted(set(running))) or "no sandbox"
            self.found += [f"{line} (while these students' sandboxes ran: {who})" for line in differences(self.last, now)]
            self.last = now

    def finish(self) -> list[str]:
        late = differences(self.start, fingerprint(self.paths, full=True))
        seen = {line.split(" (while")[0] for line in self.found}
        return self.found + [f"{line} (found by the checksums after grading)" for line in late if line not in seen]
