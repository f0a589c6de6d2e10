"""Before the grader imports the course: is every bytecode file of the checkout the compilation of its source?

Python loads ``__pycache__/*.pyc`` when its header matches the source's size and time, without looking
inside. A submission graded without a sandbox (``--unsafe-plain``) can write such a file with other code in
it, and every later run, in any mode, would import it. This check compiles each source again and compares
the code objects; it uses only the standard library, so it runs before anything of the course is imported.
"""

from __future__ import annotations

import importlib.util
import marshal
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
                code = marshal.loads(data[16:])
                fresh = compile(source.read_bytes(), str(source), "exec", dont_inherit=True, optimize=0)
            except Exception:
                found.append(pyc)
                continue
            if code != fresh:
                found.append(pyc)
    return found
