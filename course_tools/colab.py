"""Colab badges and setup cells, written from one setting.

Students open the course from its **student edition**, a public repository that
``python -m course_tools.release`` builds (no answers, no solution outputs). Every
Colab badge opens a notebook there, and every setup cell clones it, at the release
tag of this version of the course. The setting, here and nowhere else:

    REPOSITORY  the student repository on GitHub (owner/name)
    REF         the release tag: "v" + course_utils.__version__ (the one version number)
    DEST        where the setup cell puts the course in Colab

After a fork, a new version (``__version__``) or a change here, run

    python -m course_tools.colab sync       # rewrite every badge and setup cell
    python -m course_tools.notebooks build  # regenerate the student copies

``python -m course_tools.colab check`` (run by the tests) fails when a
notebook's badge or setup cell, or a Colab link in the README, disagrees with
this setting, or when REF is not a release tag (a branch moves under students).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from .nbio import cell_source, read_notebook, write_notebook

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def read_version(root: Path = ROOT) -> str:
    """``course_utils.__version__`` of the course at ``root``, read the way setuptools does (no import)."""
    path = Path(root) / "course_utils" / "__init__.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"{path} sets no __version__")


def release_tag(version: str) -> str:
    """The git tag of a release: ``v`` + the version (0.2.0 -> v0.2.0)."""
    return f"v{version}"


REPOSITORY = "diffusion-course/diffusion-course"  # the public student repository on GitHub (owner/name)
REF = release_tag(read_version())  # the release tag Colab installs course_utils and data/ from
DEST = "/content/diffusion-course"  # where the setup cell clones the course in Colab

SETUP_PREFIX = "# Course setup (written by "  # what every version of the setup cell starts with
SETUP_MARKER = SETUP_PREFIX + "`python -m course_tools.colab sync`)"
BADGE_PREFIX = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
# A Colab link to a notebook of any fork and ref; group 1 is the ref, group 2 the notebook's path in the repository.
_COLAB_URL = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/([^/\s]+)/(notebooks/[^)\s\"]+\.ipynb)")
_TAG = re.compile(r"v\d+(\.\d+)*([.+-]?[0-9A-Za-z.]+)?")


def ref_problems(ref: str | None = None, version: str | None = None) -> list[str]:
    """Why ``ref`` cannot be what students install: not tag-shaped (a branch), or not this version's tag."""
    ref, version = ref or REF, version or read_version()
    if not _TAG.fullmatch(ref) or ref in {"main", "master"}:
        return [f"REF {ref!r} looks like a branch: Colab must install a release tag ({release_tag(version)}, "
                "from course_utils.__version__), or students get whatever the branch holds today"]
    if ref != release_tag(version):
        return [f"REF {ref!r} is not the tag of this version ({release_tag(version)}, from course_utils.__version__)"]
    return []


def student_path(notebook_path: str) -> str:
    """The student copy of a notebook: the student repository has no notebooks/solutions/."""
    return notebook_path.replace("notebooks/solutions/", "notebooks/")


def colab_url(notebook_path: str, repository: str | None = None, ref: str | None = None) -> str:
    """The address that opens ``notebook_path`` (relative to the repository root) in Colab."""
    repository, ref = repository or REPOSITORY, ref or REF
    return f"https://colab.research.google.com/github/{repository}/blob/{ref}/{notebook_path}"


def badge(notebook_path: str, repository: str | None = None, ref: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of ``notebook_path`` (relative to the repository root)."""
    return f"{BADGE_PREFIX}({colab_url(notebook_path, repository, ref)})"


def link_problems(text: str, where: str, repository: str | None = None, ref: str | None = None) -> list[str]:
    """Colab links in ``text`` that do not open a student notebook of REPOSITORY at REF."""
    repository, ref = repository or REPOSITORY, ref or REF
    found = []
    for m in _COLAB_URL.finditer(text):
        if m.group(0) != colab_url(student_path(m.group(2)), repository, ref):
            branch = "" if _TAG.fullmatch(m.group(1)) else f" ({m.group(1)!r} is a branch, not a release tag)"
            found.append(f"{where}: {m.group(0)} does not point at a student notebook of {repository}@{ref}{branch}")
    return found


def sync_readme(text: str) -> str:
    """Point every Colab link in the README at REPOSITORY/REF."""
    return _COLAB_URL.sub(lambda m: colab_url(student_path(m.group(2))), text)


def readme_problems(text: str, notebook_paths: list[str], repository: str | None = None, ref: str | None = None) -> list[str]:
    """Colab links in the README that disagree with the setting, and notebooks without a badge there."""
    found = link_problems(text, "README.md", repository, ref)
    found += [f"README.md: the course map has no Colab badge for {p}" for p in notebook_paths
              if badge(p, repository, ref) not in text]
    return found


def setup_cell_source(repository: str | None = None, ref: str | None = None, *, url: str | None = None,
                      dest: str | None = None) -> str:
    """The first code cell of every notebook: in Colab, fetch the course; elsewhere, do nothing.

    ``url`` (default: the GitHub address of ``repository``) and ``dest`` (default: DEST) exist so
    that a test can serve a release from a local folder, the way Colab clones it from GitHub.
    """
    repository, ref = repository or REPOSITORY, ref or REF
    url, dest = url or f"https://github.com/{repository}", dest or DEST
    return f"""{SETUP_MARKER}
# In Google Colab this downloads the course (course_utils and data/) at its release {ref} and puts
# it on the import path; on your own machine it does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPO, REF, DEST = "{url}", "{ref}", "{dest}"
    if not os.path.isdir(DEST):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", REF, REPO, DEST], check=True)
    sys.path.insert(0, DEST)  # this notebook imports course_utils from DEST,
    os.environ["PYTHONPATH"] = DEST + os.pathsep + os.environ.get("PYTHONPATH", "")  # and so does `!python ...`
    os.environ["COURSE_DATA_DIR"] = DEST + "/data\""""


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def sync_notebook(nb: dict, notebook_path: str, *, url: str | None = None, dest: str | None = None) -> dict:
    """Set the badge (first line of the first markdown cell) and the setup cell of one notebook.

    The badge of a solution notebook opens its student copy: the student repository has no solutions.
    """
    cells = nb["cells"]
    first_md = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if first_md is None:
        raise ValueError(f"{notebook_path} has no markdown cell for the badge")
    lines = cell_source(first_md).split("\n")
    lines = [line for line in lines if not line.startswith(BADGE_PREFIX)]
    first_md["source"] = _lines("\n".join([badge(student_path(notebook_path))] + lines))
    setup = next((c for c in cells if c["cell_type"] == "code" and cell_source(c).startswith(SETUP_PREFIX)), None)
    if setup is None:
        setup = {"cell_type": "code", "execution_count": None, "id": "course-setup", "metadata": {}, "outputs": [],
                 "source": []}
        cells.insert(cells.index(first_md) + 1, setup)
    setup["source"] = _lines(setup_cell_source(url=url, dest=dest))
    return nb


def notebook_problems(nb: dict, rel: str, *, ref: str | None = None, url: str | None = None,
                      dest: str | None = None) -> list[str]:
    """What is out of step with the setting in one notebook (``rel``: its path in the repository)."""
    ref = ref or REF
    text = [cell_source(c) for c in nb["cells"]]
    found = []
    if not any(badge(student_path(rel), ref=ref) in t for t in text if t):
        found.append(f"{rel}: the Colab badge is missing or does not point at {REPOSITORY}@{ref}")
    found += [p for t in text for p in link_problems(t, rel, ref=ref)]
    if not any(t == setup_cell_source(ref=ref, url=url, dest=dest) for t in text):
        found.append(f"{rel}: the setup cell is missing or differs from `python -m course_tools.colab sync`")
    return found


def problems(notebook_path: Path, root: Path = ROOT, ref: str | None = None) -> list[str]:
    """What is out of step with REPOSITORY/REF in one notebook file (empty when it agrees)."""
    rel = notebook_path.resolve().relative_to(Path(root).resolve()).as_posix()
    return notebook_problems(read_notebook(notebook_path), rel, ref=ref)


def all_problems(root: Path = ROOT, ref: str | None = None) -> list[str]:
    """Everything out of step with the setting: REF itself, every notebook (both copies), the README.

    ``root`` and ``ref`` default to this repository and REF; a release checks another checkout
    with its own version's tag.
    """
    root, ref = Path(root), ref or REF
    solutions, students = root / "notebooks" / "solutions", root / "notebooks"
    student = sorted(students.glob("*.ipynb"))
    found = ref_problems(ref, read_version(root))
    found += [p for path in sorted(solutions.glob("*.ipynb")) + student for p in problems(path, root, ref)]
    readme = (root / "README.md").read_text(encoding="utf-8")
    return found + readme_problems(readme, [p.relative_to(root).as_posix() for p in student], ref=ref)


def main(argv: list[str] | None = None) -> int:
    from .notebooks import SOLUTIONS_DIR, STUDENT_DIR

    parser = argparse.ArgumentParser(prog="python -m course_tools.colab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    args = parser.parse_args(argv)
    if args.command == "check":
        found = all_problems()
        count = len(list(SOLUTIONS_DIR.glob("*.ipynb"))) + len(list(STUDENT_DIR.glob("*.ipynb")))
        print("\n".join(found) if found else f"{count} notebooks and the README agree with {REPOSITORY}@{REF}")
        return 1 if found else 0
    if ref_problems():
        print(f"error: {ref_problems()[0]}", file=sys.stderr)
        return 2
    for path in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        write_notebook(path, sync_notebook(read_notebook(path), path.relative_to(ROOT).as_posix()))
    README.write_text(sync_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"solution notebooks and README synced to {REPOSITORY}@{REF}; "
          "run `python -m course_tools.notebooks build` for the student copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
