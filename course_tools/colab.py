"""Colab badges and setup cells, written from one setting.

The course repository and the ref (tag or branch) that Colab installs from
are set here, once. After a fork or a release, change them and run

    python -m course_tools.colab sync       # rewrite every badge and setup cell
    python -m course_tools.notebooks build  # regenerate the student copies

``python -m course_tools.colab check`` (run by the tests) fails when a
notebook's badge or setup cell, or a badge in the README's course map, disagrees
with this setting.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPOSITORY = "diffusion-course/diffusion-course"  # GitHub owner/name
REF = "main"  # the tag or branch Colab installs course_utils and data/ from

SETUP_PREFIX = "# Course setup (written by "  # what every version of the setup cell starts with
SETUP_MARKER = SETUP_PREFIX + "`python -m course_tools.colab sync`)"
BADGE_PREFIX = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A Colab link to a notebook of any fork and ref; group 1 is the notebook's path in the repository.
_COLAB_URL = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/(notebooks/[^)\s]+\.ipynb)")


def colab_url(notebook_path: str, repository: str | None = None, ref: str | None = None) -> str:
    """The address that opens ``notebook_path`` (relative to the repository root) in Colab."""
    repository, ref = repository or REPOSITORY, ref or REF
    return f"https://colab.research.google.com/github/{repository}/blob/{ref}/{notebook_path}"


def badge(notebook_path: str, repository: str | None = None, ref: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of ``notebook_path`` (relative to the repository root)."""
    return f"{BADGE_PREFIX}({colab_url(notebook_path, repository, ref)})"


def sync_readme(text: str) -> str:
    """Point every Colab link in the README at REPOSITORY/REF."""
    return _COLAB_URL.sub(lambda m: colab_url(m.group(1)), text)


def readme_problems(text: str, notebook_paths: list[str]) -> list[str]:
    """Colab links in the README that disagree with the setting, and notebooks without a badge there."""
    found = [f"README.md: {m.group(0)} does not point at {REPOSITORY}@{REF}"
             for m in _COLAB_URL.finditer(text) if m.group(0) != colab_url(m.group(1))]
    found += [f"README.md: the course map has no Colab badge for {p}" for p in notebook_paths
              if badge(p) not in text]
    return found


def setup_cell_source(repository: str | None = None, ref: str | None = None) -> str:
    """The first code cell of every notebook: in Colab, fetch the course; elsewhere, do nothing."""
    repository, ref = repository or REPOSITORY, ref or REF
    return f'''{SETUP_MARKER}
# In Google Colab this downloads the course (course_utils and data/) at a fixed version and
# installs what it needs; on your own machine it does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPO, REF, DEST = "https://github.com/{repository}", "{ref}", "/content/diffusion-course"
    if not os.path.isdir(DEST):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", REF, REPO, DEST], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", DEST], check=True)
    sys.path.insert(0, DEST)
    os.environ["COURSE_DATA_DIR"] = DEST + "/data"'''


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def sync_notebook(nb: dict, notebook_path: str) -> dict:
    """Set the badge (first line of the first markdown cell) and the setup cell of one notebook."""
    cells = nb["cells"]
    first_md = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if first_md is None:
        raise ValueError(f"{notebook_path} has no markdown cell for the badge")
    lines = _source(first_md).split("\n")
    lines = [line for line in lines if not line.startswith(BADGE_PREFIX)]
    first_md["source"] = _lines("\n".join([badge(notebook_path)] + lines))
    setup = next((c for c in cells if c["cell_type"] == "code" and _source(c).startswith(SETUP_PREFIX)), None)
    if setup is None:
        setup = {"cell_type": "code", "execution_count": None, "id": "course-setup", "metadata": {}, "outputs": [],
                 "source": []}
        cells.insert(cells.index(first_md) + 1, setup)
    setup["source"] = _lines(setup_cell_source())
    return nb


def problems(notebook_path: Path) -> list[str]:
    """What is out of step with REPOSITORY/REF in one notebook (empty when it agrees)."""
    rel = notebook_path.resolve().relative_to(ROOT).as_posix()
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    found = []
    text = [_source(c) for c in nb["cells"]]
    if not any(badge(rel) in t for t in text if t):
        found.append(f"{rel}: the Colab badge is missing or does not point at {REPOSITORY}@{REF}")
    if not any(t == setup_cell_source() for t in text):
        found.append(f"{rel}: the setup cell is missing or differs from `python -m course_tools.colab sync`")
    return found


def all_problems() -> list[str]:
    """Everything out of step with REPOSITORY/REF: every notebook (both copies) and the README's course map."""
    from .notebooks import SOLUTIONS_DIR, STUDENT_DIR

    student = sorted(STUDENT_DIR.glob("*.ipynb"))
    found = [p for path in sorted(SOLUTIONS_DIR.glob("*.ipynb")) + student for p in problems(path)]
    return found + readme_problems(README.read_text(encoding="utf-8"), [p.relative_to(ROOT).as_posix() for p in student])


def main(argv: list[str] | None = None) -> int:
    from .notebooks import SOLUTIONS_DIR, STUDENT_DIR, dumps

    parser = argparse.ArgumentParser(prog="python -m course_tools.colab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    args = parser.parse_args(argv)
    if args.command == "check":
        found = all_problems()
        count = len(list(SOLUTIONS_DIR.glob("*.ipynb"))) + len(list(STUDENT_DIR.glob("*.ipynb")))
        print("\n".join(found) if found else f"{count} notebooks and the README agree with {REPOSITORY}@{REF}")
        return 1 if found else 0
    for path in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(dumps(sync_notebook(nb, path.relative_to(ROOT).as_posix())), encoding="utf-8")
    README.write_text(sync_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    print("solution notebooks and README synced; run `python -m course_tools.notebooks build` for the student copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
