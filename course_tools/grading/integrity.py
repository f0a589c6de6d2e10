"""Before the grader imports the course: is every bytecode file of the checkout the compilation of its source?

Python loads ``__pycache__/*.pyc`` when its header matches the source's size and time (or, for a hash-based
file, the source's hash, or always when the file says not to check), without looking inside. A submission
graded without a sandbox (``--unsafe-plain``) can write such a file with other code in it, and every later
run, in any mode, would import it. This check compiles each source again and compares the code objects of
every file Python would load; a stale one (its source edited since, as after a ``git pull``) is not loaded,
and so not reported. It uses only the standard library, so it runs before anything of the course is imported.
"""

from __future__ import annotations

import importlib.util
import marshal
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def poisoned(folders: list[Path] | None = None) -> list[Path]:
    """The bytecode files under ``folders`` whose code is not what their source compiles to."""
    folders = folders or [ROOT / "course_utils", ROOT / "course_tools"]
    found = []
    for folder in folders:
        for pyc in sorted(Path(folder).rglob("__pycache__/*.pyc")):
            try:
                source = Path(importlib.util.source_from_cache(str(pyc)))
            except ValueError:
                continue  # not this Python's (another version's tag), never loaded by it
            if not source.exists():
                continue  # Python does not load __pycache__ files without their source
            tag = importlib.util.cache_from_source(str(source))
            if Path(tag) != pyc:
                continue
            try:
                data = pyc.read_bytes()
                if not _loaded(data, source):
                    continue
                code = marshal.loads(data[16:])
                fresh = compile(source.read_bytes(), str(source), "exec", dont_inherit=True, optimize=0)
            except Exception:
                found.append(pyc)
                continue
            if code != fresh:
                found.append(pyc)
    return found


def _loaded(data: bytes, source: Path) -> bool:
    """Would Python load this bytecode for ``source``? (importlib's own test of the 16-byte header.)"""
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return False  # another Python's, or not bytecode: never loaded
    flags = struct.unpack("<I", data[4:8])[0]
    if flags & 0b1:  # hash-based: loaded unchecked, or when the source's hash matches
        return not flags & 0b10 or data[8:16] == importlib.util.source_hash(source.read_bytes())
    mtime, size = struct.unpack("<II", data[8:16])
    stat = source.stat()
    return mtime == int(stat.st_mtime) & 0xFFFFFFFF and size == stat.st_size & 0xFFFFFFFF
