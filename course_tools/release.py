"""The student edition: the public course repository, with no answers in it.

    python -m course_tools.release OUT            # build this version's edition in OUT and tag the release
    python -m course_tools.release OUT --force    # OUT holds an older edition: replace it (OUT/.git is kept)
    python -m course_tools.release OUT --draft    # a trial build of the working tree as it is; tags nothing
    make release OUT=../course-student [FORCE=1] [DRAFT=1]

The instructor's repository (this one, kept private) holds the solutions. The
edition holds what students need and nothing else: the student notebooks,
course_utils, data/ (MNIST and the shipped models), the README without its
instructor-only parts, environment.yml and postBuild (conda, Binder),
pyproject.toml and the Makefile (with .jupyter/, the JupyterLab page config that
`make lab` uses), the license, and the tests that make sense for
students (the notebooks run top to bottom; course_utils's unit tests: every test module not
marked ``pytestmark = pytest.mark.instructor``). Files are
picked by an allow-list (EDITION below), so a new instructor file never leaks by
default, and the finished tree is checked (``edition_problems``): no
``### BEGIN SOLUTION``, no solution notebook, no stored output, no instructor
file, badges and setup cells at the release tag, under SIZE_LIMIT_MB.

A release is version ``course_utils.__version__``, tagged ``v<version>``
(``course_tools.colab.REF``, which every badge and setup cell already names).
It refuses, before writing anything, when the working tree has uncommitted
changes, a student copy is stale, a badge or setup cell disagrees with
course_tools/colab.py, the tag already exists, or OUT is not empty (without
``--force``). Then it writes the edition, checks it, tags this repository, and,
when OUT is a git repository (a clone of the student repository), commits the
edition there, tags it, and measures what a Colab setup cell downloads from it.
INSTRUCTORS.md walks through publishing it.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from . import colab
from .nbio import read_notebook, write_notebook
from .notebooks import NotebookFormatError, build, replace_regions

ROOT = colab.ROOT
SIZE_LIMIT_MB = 25  # the whole edition, data included (1 MB = 10**6 bytes)
# What the edition holds, as patterns over paths in the instructor's repository (``*`` crosses folders).
EDITION = [
    "README.md",  # rewritten: instructor-only regions removed (student_readme)
    "LICENSE",
    "environment.yml",
    "postBuild",
    "pyproject.toml",
    "Makefile",
    ".jupyter/labconfig/page_config.json",  # `make lab` switches JupyterLab's news popup off with it
    ".gitignore",
    "course_utils/*",
    "data/*",
    "notebooks/[0-9]*.ipynb",  # the student copies (not notebooks/solutions/: see in_edition)
    "tests/*.py",  # test modules unless instructor-only (instructor_only_test); helpers when a shipped test needs them
]
# Never in an edition; edition_problems reports any of these.
INSTRUCTOR_ONLY = ["course_tools/", "notebooks/solutions/", "INSTRUCTORS.md", "notebooks/AUTHORING.md", ".ci/"]
# A test module that needs the instructor's files (the tools, the solutions, INSTRUCTORS.md) says so with
# `pytestmark = pytest.mark.instructor` (the marker is registered in pyproject.toml) and stays behind.
INSTRUCTOR_MARK = "instructor"
SOLUTION_MARKERS = [b"### BEGIN SOLUTION", b"### END SOLUTION"]
# In README.md, what lies between these two lines (included) is left out of the edition.
INSTRUCTOR_BEGIN, INSTRUCTOR_END = "<!-- instructor-only -->", "<!-- /instructor-only -->"
_LINK = re.compile(r"\]\(([^)\s]+)\)")


class ReleaseError(RuntimeError):
    """A release was refused or failed; the message says why and what to do."""


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ReleaseError(f"`git {' '.join(args)}` failed in {repo}: {(result.stderr or result.stdout).strip()}")
    return result


def is_git_repository(path: Path) -> bool:
    """True when ``path`` is the top folder of a git repository."""
    result = _git(path, "rev-parse", "--show-toplevel", check=False) if Path(path).is_dir() else None
    return bool(result) and result.returncode == 0 and Path(result.stdout.strip()).resolve() == Path(path).resolve()


def tag_exists(repo: Path, tag: str) -> bool:
    return _git(repo, "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).returncode == 0


def _marks(node: ast.expr) -> set[str]:
    """The pytest marker names an expression such as ``pytest.mark.instructor`` or ``[pytest.mark.slow, ...]`` names."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark":
            out.add(sub.attr)
    return out


def instructor_only_test(path: Path) -> bool:
    """Whether the test module at ``path`` is marked ``pytestmark = pytest.mark.instructor`` (at module level)."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return True  # a test that cannot be read is no test to hand to students
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets) and stmt.value is not None:
            if INSTRUCTOR_MARK in _marks(stmt.value):
                return True
    return False


def _local_imports(path: Path) -> set[str]:
    """The names of the modules beside ``path`` that it imports or runs (``import x``, ``from x import``, "x.py")."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"\w+\.py", node.value):
            names.add(node.value[:-3])  # a helper run as a script: ROOT / "tests" / "tiny_train.py"
    return {name for name in names if (Path(path).parent / f"{name}.py").is_file()}


def _shipped_tests(folder: Path) -> dict[str, set[str]]:
    folder = Path(folder)
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.py")))
    return _shipped_tests_cached(folder, stamp)


@functools.lru_cache(maxsize=8)
def _shipped_tests_cached(folder: Path, stamp: tuple) -> dict[str, set[str]]:
    """The test modules of ``folder`` that ship, each with the local modules it needs (its imports, transitively).

    A test ships unless it is marked instructor-only or needs a test module that is: a test that imports
    ``test_figures`` (instructor-only) could not even be collected without it.
    """
    needs: dict[str, set[str]] = {}

    def closure(name: str, seen: set[str]) -> set[str]:
        for dep in _local_imports(folder / f"{name}.py") - seen:
            seen.add(dep)
            closure(dep, seen)
        return seen

    for path in sorted(folder.glob("test_*.py")):
        needs[path.stem] = closure(path.stem, set())
    shipped = {name: deps for name, deps in needs.items()
               if not any(instructor_only_test(folder / f"{m}.py") for m in {name} | deps if m.startswith("test_"))}
    if (folder / "conftest.py").is_file():  # conftest.py always ships, and so does what it imports
        shipped["conftest"] = closure("conftest", set())
    return shipped


def in_edition(rel: str, source: Path = ROOT) -> bool:
    """Whether the file at ``rel`` (relative, posix) of ``source`` belongs in the student edition."""
    if not any(fnmatch(rel, pattern) for pattern in EDITION):
        return False
    if rel.startswith("notebooks/"):
        return rel.count("/") == 1
    if rel.startswith("tests/"):
        if rel.count("/") != 1:
            return False
        name, shipped = rel[len("tests/"):-len(".py")], _shipped_tests(Path(source) / "tests")
        if name == "conftest" or name in shipped:
            return True
        return not name.startswith("test_") and any(name in deps for deps in shipped.values())  # conftest's too
    return True


def edition_files(source: Path = ROOT) -> list[str]:
    """The paths (relative, posix) of ``source`` that go into the edition: git's files, tracked or new, not ignored."""
    listed = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
    return sorted(rel for rel in set(listed) if rel and (source / rel).is_file() and in_edition(rel, source))


def student_readme(text: str) -> str:
    """The README without its instructor-only regions."""
    try:
        out = replace_regions(text, INSTRUCTOR_BEGIN, INSTRUCTOR_END, lambda indent: [], "README.md", "instructor-only region")
    except NotebookFormatError as err:
        raise ReleaseError(str(err)) from None
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def _entries(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name != ".git") if out.is_dir() else []


def preflight(source: Path, out: Path, *, draft: bool = False, force: bool = False) -> list[str]:
    """Every reason to refuse this release, each one line that says what to do (empty: go ahead)."""
    source, out = Path(source).resolve(), Path(out).resolve()
    if not is_git_repository(source):
        return [f"{source} is not a git repository: a release is cut from a commit of the instructor's repository"]
    tag = colab.release_tag(colab.read_version(source))
    reasons = []
    if not draft:
        status = _git(source, "status", "--porcelain", "--untracked-files=normal").stdout.splitlines()
        if status:
            shown = ", ".join(line.strip() for line in status[:3]) + (", ..." if len(status) > 3 else "")
            reasons.append(f"the working tree has uncommitted changes ({shown}): commit or stash them, so that the "
                           "release is a commit you can tag (--draft builds a trial edition anyway)")
    try:
        stale = build(source / "notebooks" / "solutions", source / "notebooks", check_only=True)
    except NotebookFormatError as err:
        stale, reasons = [], reasons + [f"a solution notebook is malformed: {err}"]
    if stale:
        names = ", ".join(p.relative_to(source).as_posix() for p in stale)
        reasons.append(f"student copies are stale ({names}): run `python -m course_tools.notebooks build` and commit them")
    found = colab.all_problems(source, tag)
    if found:
        reasons.append(f"badges or setup cells disagree with course_tools/colab.py ({len(found)} problems; first: {found[0]}): "
                       "run `python -m course_tools.colab sync`, then `python -m course_tools.notebooks build`")
    if not draft and tag_exists(source, tag):
        reasons.append(f"tag {tag} already exists in {source}: every release gets its own version; raise __version__ "
                       "in course_utils/__init__.py, run `python -m course_tools.colab sync` and "
                       "`python -m course_tools.notebooks build`, commit, and release again")
    if out.exists() and not out.is_dir():
        reasons.append(f"{out} is a file, not a folder")
    elif out == source or source.is_relative_to(out):
        reasons.append(f"{out} holds the instructor's repository: write the edition somewhere else")
    elif out.is_relative_to(source) and _git(source, "check-ignore", "-q", str(out), check=False).returncode != 0:
        reasons.append(f"{out} is inside the instructor's repository and not ignored by git: use a folder outside it "
                       "(or under build/)")
    elif _entries(out) and not force:
        names = ", ".join(p.name for p in _entries(out)[:3])
        reasons.append(f"{out} is not empty ({names}, ...): pass --force (make release FORCE=1) to replace its contents "
                       "(a .git folder in it is kept)")
    if not draft and is_git_repository(out) and tag_exists(out, tag):
        reasons.append(f"tag {tag} already exists in {out}: that release is published; raise __version__ for a new one")
    return reasons


def build_edition(source: Path, out: Path, *, url: str | None = None, dest: str | None = None) -> list[str]:
    """Write the edition of ``source`` into ``out`` (emptied first, except .git); return the paths written.

    ``url`` and ``dest`` replace the setup cell's repository address and destination folder
    (default: the GitHub address of colab.REPOSITORY, and colab.DEST), for a test that serves
    the edition from a local folder.
    """
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for entry in _entries(out):
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    written = edition_files(source)
    for rel in written:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == "README.md":
            target.write_text(student_readme((source / rel).read_text(encoding="utf-8")), encoding="utf-8")
        elif rel.endswith(".ipynb"):
            write_notebook(target, colab.sync_notebook(read_notebook(source / rel), rel, url=url, dest=dest))
        else:
            shutil.copy2(source / rel, target)
    return written


def tree_size(folder: Path) -> int:
    """Bytes in ``folder``, its .git left out."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts)


def edition_problems(out: Path, *, ref: str | None = None, url: str | None = None, dest: str | None = None) -> list[str]:
    """What makes the tree in ``out`` unfit to hand to students (empty when it is fit)."""
    out = Path(out)
    ref = ref or colab.release_tag(colab.read_version(out))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                   if p.is_file() and ".git" not in p.relative_to(out).parts)
    found = [f"{rel}: instructor-only" for rel in files if any(rel == x or rel.startswith(x) for x in INSTRUCTOR_ONLY)]
    for rel in files:
        data = (out / rel).read_bytes()
        found += [f"{rel}: holds {m.decode()!r}" for m in SOLUTION_MARKERS if m in data]
        if rel.endswith(".ipynb"):
            if rel.count("/") != 1 or not rel.startswith("notebooks/"):
                found.append(f"{rel}: a notebook outside notebooks/")
                continue
            nb = json.loads(data)
            if any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"):
                found.append(f"{rel}: has stored outputs")
            found += colab.notebook_problems(nb, rel, ref=ref, url=url, dest=dest)
    for required in ["README.md", "LICENSE", "environment.yml", "postBuild", "pyproject.toml", "course_utils/__init__.py"]:
        if required not in files:
            found.append(f"{required}: missing")
    if not any(rel.startswith("data/mnist/") and rel.endswith(".gz") for rel in files):
        found.append("data/mnist/: no MNIST files")
    if "README.md" in files:
        readme = (out / "README.md").read_text(encoding="utf-8")
        notebooks = [rel for rel in files if rel.startswith("notebooks/") and rel.endswith(".ipynb")]
        found += colab.readme_problems(readme, notebooks, ref=ref)
        found += [f"README.md: holds {m}" for m in (INSTRUCTOR_BEGIN, INSTRUCTOR_END) if m in readme]
        for link in _LINK.findall(readme):
            target = link.split("#")[0]
            if target and "://" not in target and not target.startswith("mailto:") and not (out / target).exists():
                found.append(f"README.md: links to {link}, which the edition does not hold")
    if "course_utils/__init__.py" in files and colab.release_tag(colab.read_version(out)) != ref:
        found.append(f"course_utils/__init__.py: version {colab.read_version(out)} does not match the tag {ref}")
    size = tree_size(out)
    if size >= SIZE_LIMIT_MB * 10**6:
        found.append(f"the edition is {size / 1e6:.1f} MB, over the {SIZE_LIMIT_MB} MB a Colab setup cell may download")
    return found


def commit_and_tag(repo: Path, tag: str) -> None:
    """Commit everything in ``repo`` (the edition) and tag it ``tag``."""
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"Student edition {tag}")
    _git(repo, "tag", "-a", tag, "-m", f"Student edition {tag}")


def download_size(url: str, tag: str) -> int:
    """Bytes a setup cell's ``git clone --depth 1 --branch TAG URL`` fetches (the packs it receives)."""
    with tempfile.TemporaryDirectory(prefix="edition-clone-") as tmp:
        result = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", tag, url, tmp + "/c"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ReleaseError(f"could not clone {url} at {tag}: {result.stderr.strip()}")
        return sum(p.stat().st_size for p in Path(tmp, "c", ".git", "objects").rglob("*") if p.is_file())


def release(out: Path, *, source: Path | None = None, draft: bool = False, force: bool = False, url: str | None = None,
            dest: str | None = None, log=print) -> str:
    """Refuse (ReleaseError, with every reason), or build, check and tag the edition; return the tag."""
    source, out = Path(source or ROOT).resolve(), Path(out).resolve()
    reasons = preflight(source, out, draft=draft, force=force)
    if reasons:
        raise ReleaseError("\n".join(reasons))
    tag = colab.release_tag(colab.read_version(source))
    written = build_edition(source, out, url=url, dest=dest)
    found = edition_problems(out, ref=tag, url=url, dest=dest)
    if found:
        raise ReleaseError(f"the edition written to {out} is not fit to publish:\n" + "\n".join(found))
    log(f"wrote the student edition {tag} to {out}: {len(written)} files, {tree_size(out) / 1e6:.1f} MB "
        f"(limit {SIZE_LIMIT_MB} MB); checked: no solutions, no outputs, no instructor files")
    if draft:
        log("draft: nothing was tagged")
        return tag
    if is_git_repository(out):
        commit_and_tag(out, tag)
        log(f"committed and tagged {tag} in {out}; a Colab setup cell downloads "
            f"{download_size(out.as_uri(), tag) / 1e6:.1f} MB from it (git clone --depth 1)")
    _git(source, "tag", "-a", tag, "-m", f"Student edition {tag}")
    log(f"tagged {tag} in {source}")
    if is_git_repository(out):
        log(f"publish it: git -C {out} push origin HEAD {tag}")
    else:
        log(f"publish it: cd {out} && git init && git add -A && git commit -m 'Student edition {tag}' && git tag {tag} "
            f"&& git remote add origin https://github.com/{colab.REPOSITORY} && git push origin HEAD {tag}")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.release", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the edition to (a clone of the student repository, "
                        "or a new folder)")
    parser.add_argument("--force", action="store_true", help="replace what OUT holds (its .git is kept)")
    parser.add_argument("--draft", action="store_true",
                        help="build from the working tree even if it has uncommitted changes, and tag nothing")
    parser.add_argument("--url", help="for tests: the address the setup cells clone (default: the GitHub address of "
                        f"{colab.REPOSITORY}, from course_tools/colab.py)")
    parser.add_argument("--dest", help=f"for tests: the folder the setup cells clone into (default: {colab.DEST})")
    args = parser.parse_args(argv)
    try:
        release(args.out, draft=args.draft, force=args.force, url=args.url, dest=args.dest)
    except ReleaseError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
