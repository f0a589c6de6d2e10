"""The course as a sandbox sees it: the student edition's ``course_utils/`` and ``data/``, and the harness.

    course_tree()  ->  build/grading/course-<key>/{course_utils, data, grader/{harness.py, jobs.py}}

The files are the ones ``course_tools.release`` puts in the student edition (its allow-list), so a sandbox
holds nothing students do not have: no solutions, no ``.git``, no gradebooks, no submissions, no
``course_tools``. The grader compiles ``course_utils`` there itself, with bytecode that Python checks
against the source's hash, and the sandbox mounts the tree read-only and writes no bytecode (``-B``).

The tree is cached under ``build/grading/`` (ignored by git), keyed by the content of what it holds, and
checked against its manifest before every run: a tree changed since it was built (say by a submission
graded in ``plain`` mode, which can write anywhere the grader can) is rebuilt, and the change reported.
"""

from __future__ import annotations

import compileall
import hashlib
import json
import os
import py_compile
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "grading"
PARTS = ("course_utils/", "data/")
HARNESS = [Path(__file__).with_name("harness.py"), Path(__file__).with_name("jobs.py")]
KEEP = 3  # cached trees kept (the newest)


def _files(root: Path) -> list[str]:
    """The edition's files under PARTS: release's allow-list, over git's files (or the folder, outside git)."""
    from course_tools import release

    try:
        listed = release.edition_files(root)
    except (release.ReleaseError, OSError):  # not a git checkout (an autograder's copy of the course)
        listed = [p.relative_to(root).as_posix() for part in PARTS for p in (root / part).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and release.in_edition(p.relative_to(root).as_posix())]
    return sorted(rel for rel in listed if rel.startswith(PARTS) and "__pycache__" not in rel)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(root: Path = ROOT) -> dict[str, str]:
    """{path in the tree: sha256} for everything a tree built from ``root`` holds."""
    out = {rel: _digest(root / rel) for rel in _files(root)}
    for path in HARNESS:
        out[f"grader/{path.name}"] = _digest(path)
    return out


def _key(files: dict[str, str]) -> str:
    h = hashlib.sha256(json.dumps(files, sort_keys=True).encode())
    h.update(sys.version.encode())  # the bytecode is this Python's
    return h.hexdigest()[:16]


def verify(tree: Path) -> list[str]:
    """What in ``tree`` differs from its manifest (empty: intact). Bytecode is checked by Python itself."""
    try:
        expected = json.loads((tree / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [f"{tree}: no manifest"]
    found = {p.relative_to(tree).as_posix() for p in tree.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "MANIFEST.json"}
    problems = [f"{rel}: missing" for rel in sorted(set(expected) - found)]
    problems += [f"{rel}: not part of the course" for rel in sorted(found - set(expected))]
    problems += [f"{rel}: changed" for rel in sorted(set(expected) & found) if _digest(tree / rel) != expected[rel]]
    for pyc in tree.rglob("__pycache__/*"):
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        if not source.exists() or pyc.suffix != ".pyc":
            problems.append(f"{pyc.relative_to(tree).as_posix()}: not made by the grader")
    return problems


def course_tree(root: Path = ROOT, cache: Path = CACHE) -> tuple[Path, list[str]]:
    """(the tree, what was wrong with a cached one and made it be rebuilt): built once per content, then reused."""
    files = manifest(root)
    target = cache / f"course-{_key(files)}"
    found = []
    if target.exists():
        found = verify(target)
        if not found:
            return target, []
        _remove(target)
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    for rel in files:
        source = root / rel if not rel.startswith("grader/") else next(p for p in HARNESS if p.name == rel[7:])
        (building / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, building / rel)
    (building / "MANIFEST.json").write_text(json.dumps(files, indent=0, sort_keys=True), encoding="utf-8")
    compileall.compile_dir(str(building / "course_utils"), quiet=1, workers=1,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    for folder, dirs, names in os.walk(building):
        for name in names:
            os.chmod(os.path.join(folder, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o555)
    building.chmod(0o555)
    try:
        building.rename(target)
    except OSError:  # another grader built it at the same moment
        _remove(building)
    _prune(cache, keep=target)
    return target, found


def _remove(path: Path) -> None:
    for folder, dirs, _ in os.walk(path):
        os.chmod(folder, 0o755)
        for name in dirs:
            try:
                os.chmod(os.path.join(folder, name), 0o755)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _prune(cache: Path, keep: Path) -> None:
    trees = sorted((p for p in cache.glob("course-*") if p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in trees[KEEP - 1:]:
        _remove(old)
