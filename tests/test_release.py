"""The student edition (course_tools.release), and its Colab setup cell run the way Colab runs it.

The refusals and the checks run on a tiny instructor repository made in a temporary folder.
The real edition of this repository is built too: it must hold no answers and no outputs
(fast), build as a package and collect its tests (slow), and install itself in a fresh
Colab-like environment from nothing but a git tag (slow, network: see the last test).
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_tools import colab, release
from course_tools.nbio import dumps
from course_tools.notebooks import make_student_notebook

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out

ROOT = Path(__file__).resolve().parent.parent
VERSION = colab.read_version()
TAG = colab.release_tag(VERSION)


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def git_identity(monkeypatch):
    """Commits and tags work without the user's git configuration (and are not signed by it)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Course Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "course-test@example.invalid")


# ---- a tiny instructor repository -------------------------------------------------------------


def _code(source, outputs=()):
    return {"cell_type": "code", "execution_count": 1 if outputs else None, "id": f"c{len(source)}", "metadata": {},
            "outputs": list(outputs), "source": source}


def make_course(root: Path) -> Path:
    """An instructor repository with one notebook, its solution, and an instructor-only README region."""
    nb_path = "notebooks/solutions/01_demo.ipynb"
    solution = {
        "cells": [
            {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": "# 1. Demo"},
            _code("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                  [{"output_type": "stream", "name": "stdout", "text": "the answer is 1\n"}]),
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    colab.sync_notebook(solution, nb_path)
    readme = (f"# Demo\n\n| 1 | [Demo](notebooks/01_demo.ipynb) {colab.badge('notebooks/01_demo.ipynb')} |\n\n"
              f"{release.INSTRUCTOR_BEGIN}\nAnswers: [solutions](notebooks/solutions/), ### BEGIN SOLUTION markers.\n"
              f"{release.INSTRUCTOR_END}\n\n## Credits\n")
    files = {
        "course_utils/__init__.py": f'__version__ = "{VERSION}"\n',
        "data/mnist/train-images-idx3-ubyte.gz": "not really MNIST\n",
        "README.md": readme,
        "LICENSE": "MIT\n", "environment.yml": "name: demo\n", "postBuild": "pip install -e .\n", "pyproject.toml": "\n",
        "Makefile": "\n", ".gitignore": "build/\n", "tests/conftest.py": "\n",
        "tests/test_model.py": "def test_model():\n    pass\n",
        "tests/test_tools.py": "import pytest\n\nfrom course_tools import colab\n\npytestmark = pytest.mark.instructor\n",
        "tests/test_words.py": "# mentions the solution notebooks and INSTRUCTORS.md, needs neither\n"
                               "def test_words():\n    pass\n",
        "course_tools/colab.py": "\n", "INSTRUCTORS.md": "# For instructors\n", "notebooks/AUTHORING.md": "### BEGIN SOLUTION\n",
        ".ci/run": "make test\n", nb_path: dumps(solution),
        "notebooks/01_demo.ipynb": dumps(make_student_notebook(solution)),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    _git(root, "init", "--quiet")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "course")
    return root


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "instructor")


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts)


def test_release_writes_the_edition_and_tags_both_repositories(course, tmp_path):
    out = tmp_path / "student"
    out.mkdir()
    _git(out, "init", "--quiet")  # a clone of the student repository
    log = []
    assert release.release(out, source=course, log=log.append) == TAG
    assert _files(out) == [".gitignore", "LICENSE", "Makefile", "README.md", "course_utils/__init__.py",
                           "data/mnist/train-images-idx3-ubyte.gz", "environment.yml", "notebooks/01_demo.ipynb",
                           "postBuild", "pyproject.toml", "tests/conftest.py", "tests/test_model.py",
                           "tests/test_words.py"]
    readme = (out / "README.md").read_text()
    assert "solutions" not in readme and "instructor-only" not in readme and "## Credits" in readme
    assert release.edition_problems(out, ref=TAG) == []
    nb = json.loads((out / "notebooks/01_demo.ipynb").read_text())
    assert "raise NotImplementedError" in "".join(nb["cells"][2]["source"]) and nb["cells"][2]["outputs"] == []
    assert _git(course, "tag", "--list") == f"{TAG}\n" and _git(out, "tag", "--list") == f"{TAG}\n"
    assert _git(out, "status", "--porcelain") == ""
    assert any("downloads" in line and "MB" in line for line in log), log


def _dirty(course):
    (course / "LICENSE").write_text("edited\n")


def _stale(course):
    path = course / "notebooks/solutions/01_demo.ipynb"
    path.write_text(path.read_text().replace("# 1. Demo", "# 1. A demo"))
    _git(course, "commit", "--quiet", "-am", "solution changed, student copy not rebuilt")


def _branch_badge(course):
    path = course / "README.md"
    path.write_text(path.read_text().replace(f"/blob/{TAG}/", "/blob/main/"))
    _git(course, "commit", "--quiet", "-am", "badge at a branch")


def _tagged(course):
    _git(course, "tag", TAG)


@pytest.mark.parametrize("spoil, reason", [
    (_dirty, "uncommitted changes (M LICENSE)"),
    (_stale, "student copies are stale (notebooks/01_demo.ipynb)"),
    (_branch_badge, "'main' is a branch, not a release tag"),
    (_tagged, f"tag {TAG} already exists"),
])
def test_a_release_is_refused_with_the_reason_and_writes_nothing(course, tmp_path, spoil, reason):
    spoil(course)
    tags_before = _git(course, "tag", "--list")
    with pytest.raises(release.ReleaseError, match=re.escape(reason)):
        release.release(tmp_path / "student", source=course)
    assert not (tmp_path / "student").exists() and _git(course, "tag", "--list") == tags_before


def test_the_command_line_prints_every_reason_on_its_own_line_and_changes_nothing(course, tmp_path, monkeypatch, capsys):
    _dirty(course)
    out = tmp_path / "student"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    monkeypatch.setattr(release, "ROOT", course)
    assert release.main([str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err), err
    assert "uncommitted changes" in err[0] and "is not empty" in err[1]
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and _git(course, "tag", "--list") == ""


def test_a_folder_that_is_not_empty_is_refused_unless_forced_and_its_git_is_kept(course, tmp_path):
    out = tmp_path / "student"
    out.mkdir()
    _git(out, "init", "--quiet")
    (out / "old.txt").write_text("an older edition")
    with pytest.raises(release.ReleaseError, match=r"is not empty \(old.txt, ...\): pass --force"):
        release.release(out, source=course)
    assert (out / "old.txt").read_text() == "an older edition" and _git(course, "tag", "--list") == ""
    release.release(out, source=course, force=True)
    assert not (out / "old.txt").exists() and (out / ".git").is_dir() and (out / "README.md").exists()


def test_the_edition_is_never_written_into_the_instructor_repository(course):
    with pytest.raises(release.ReleaseError, match="inside the instructor's repository and not ignored"):
        release.release(course / "student", source=course)
    with pytest.raises(release.ReleaseError, match="holds the instructor's repository"):
        release.release(course.parent, source=course, force=True)
    assert (course / "INSTRUCTORS.md").exists()


def test_a_draft_builds_a_dirty_tree_and_tags_nothing(course, tmp_path):
    _dirty(course)
    (course / "notes.txt").write_text("not committed either")
    release.release(tmp_path / "draft", source=course, draft=True, log=lambda _: None)
    assert (tmp_path / "draft" / "README.md").exists() and _git(course, "tag", "--list") == ""


def test_edition_problems_finds_answers_outputs_instructor_files_and_branches(tmp_path):
    out = tmp_path / "edition"
    out.mkdir()
    for rel in ["README.md", "LICENSE", "environment.yml", "postBuild", "pyproject.toml"]:
        (out / rel).write_text("\n")
    (out / "course_utils").mkdir()
    (out / "course_utils/__init__.py").write_text(f'__version__ = "{VERSION}"\n')
    (out / "course_utils/answers.py").write_text("### BEGIN SOLUTION\n")
    (out / "notebooks/solutions").mkdir(parents=True)
    answered = {"cells": [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# x"},
                          _code("y = 1", [{"output_type": "stream", "name": "stdout", "text": "1\n"}])],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    colab.sync_notebook(answered, "notebooks/01_x.ipynb")
    (out / "notebooks/01_x.ipynb").write_text(dumps(answered).replace(f"/blob/{TAG}/", "/blob/main/"))
    (out / "notebooks/solutions/01_x.ipynb").write_text(dumps(answered))
    (out / "README.md").write_text("[grading](INSTRUCTORS.md)\n")
    found = "\n".join(release.edition_problems(out, ref=TAG))
    for expected in ["course_utils/answers.py: holds '### BEGIN SOLUTION'", "notebooks/solutions/01_x.ipynb: instructor-only",
                     "notebooks/01_x.ipynb: has stored outputs", "'main' is a branch, not a release tag",
                     "README.md: links to INSTRUCTORS.md", "README.md: the course map has no Colab badge",
                     "data/mnist/: no MNIST files"]:
        assert expected in found, found


def test_student_readme_drops_instructor_regions_and_rejects_unbalanced_markers():
    b, e = release.INSTRUCTOR_BEGIN, release.INSTRUCTOR_END
    assert release.student_readme(f"a\n\n{b}\nsecret\n{e}\n\nb\n") == "a\n\nb\n"
    for bad in [f"{b}\nx", f"x\n{e}", f"{b}\n{b}\n{e}"]:
        with pytest.raises(release.ReleaseError, match="README.md"):
            release.student_readme(bad)


# ---- the real edition -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """A draft edition of this repository (its working tree), in a temporary folder."""
    if not release.is_git_repository(release.ROOT):  # a copy of the files, as .ci/gpu-check gets on a GPU machine
        pytest.skip("a release is cut from the instructor's git repository; this copy has no .git")
    out = tmp_path_factory.mktemp("edition") / "student"
    release.release(out, draft=True, log=lambda _: None)
    return out


def test_the_edition_holds_no_answers_no_solution_notebook_and_no_outputs(edition):
    assert release.edition_problems(edition, ref=TAG) == []
    files = _files(edition)
    assert not [f for f in files if f.startswith(("course_tools/", "notebooks/solutions/", ".ci/")) or "INSTRUCTORS" in f]
    assert not [f for f in files if any(m in (edition / f).read_bytes() for m in release.SOLUTION_MARKERS)]
    notebooks = [f for f in files if f.endswith(".ipynb")]
    assert notebooks == sorted(f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb"))
    for rel in notebooks:
        cells = json.loads((edition / rel).read_text())["cells"]
        assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells if c["cell_type"] == "code"), rel
        assert (edition / rel).read_text() == (ROOT / rel).read_text(), "the edition's copy is the committed student copy"
    for rel in ["environment.yml", "postBuild", "LICENSE", "data/mnist/README.md", "data/ddpm_mnist_uncond.pt",
                ".jupyter/labconfig/page_config.json"]:
        assert (edition / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert release.tree_size(edition) < release.SIZE_LIMIT_MB * 10**6


def test_the_edition_ships_every_test_module_not_marked_instructor_and_none_of_those_needs_the_instructor_files():
    files = set(release.edition_files(ROOT))
    shipped = {rel for rel in files if rel.startswith("tests/test_")}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        rel = f"tests/{path.name}"
        needs = release._shipped_tests(ROOT / "tests").get(path.stem)
        if release.instructor_only_test(path):
            assert rel not in shipped, rel
        if rel not in shipped:
            continue
        assert needs is not None
        for name in needs:  # every module of tests/ it imports or runs ships too, so the edition collects it
            assert f"tests/{name}.py" in files, f"{rel} needs tests/{name}.py, which the edition leaves out"
        sources = [path] + [ROOT / "tests" / f"{name}.py" for name in needs]
        for source in sources:
            tree = ast.parse(source.read_text(encoding="utf-8"))
            imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            strings = " ".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
            where = f"{rel} (through {source.name})" if source != path else rel
            assert "course_tools" not in imported, f"{where} imports course_tools: mark it `pytestmark = pytest.mark.instructor`"
            for instructor_file in ("INSTRUCTORS.md", "AUTHORING.md"):
                assert instructor_file not in strings, f"{where} reads {instructor_file}: mark it instructor"
            reads_solutions = '"solutions"' in source.read_text(encoding="utf-8")
            assert not reads_solutions, f"{where} reads the solution notebooks: mark it instructor"
    assert {"tests/test_model.py", "tests/test_flow.py", "tests/test_checks_nb01.py", "tests/test_resume.py",
            "tests/reliability_helpers.py", "tests/tiny_train.py", "tests/check_table.py"} <= files
    assert "tests/notebook_runs.py" not in files, "only the instructor's tests run the solution notebooks"


def test_a_test_that_imports_an_instructor_only_test_stays_behind_and_a_shipped_tests_helpers_go_with_it(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text("def fixture():\n    import helper_c\n")  # what conftest needs ships too
    (tests / "helper_c.py").write_text("")
    (tests / "helper_a.py").write_text("import helper_b\n")  # needed through another helper
    (tests / "helper_b.py").write_text("X = 1\n")
    (tests / "helper_unused.py").write_text("")
    (tests / "script.py").write_text("")
    (tests / "test_private.py").write_text("import pytest\npytestmark = pytest.mark.instructor\n")
    (tests / "test_uses_private.py").write_text("from test_private import *\nimport helper_unused\n")
    (tests / "test_plain.py").write_text("import helper_a\nRUN = 'script.py'\n")
    ship = {name for name in ["conftest", "helper_a", "helper_b", "helper_c", "helper_unused", "script", "test_private",
                              "test_uses_private", "test_plain"] if release.in_edition(f"tests/{name}.py", tmp_path)}
    assert ship == {"conftest", "helper_a", "helper_b", "helper_c", "script", "test_plain"}


# ---- Binder and conda: environment.yml names everything imported --------------------------------

PIP_NAMES = {"IPython": "ipython", "PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}  # import name -> package
CONDA_NAMES = {**PIP_NAMES, "torch": "pytorch"}


def _imports(source: str) -> set[str]:
    tree = ast.parse("\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> set[str]:
    """Top-level modules imported by the notebooks (both copies) and by course_utils, stdlib left out."""
    found = set()
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                found |= _imports("".join(cell["source"]))
    for path in sorted((ROOT / "course_utils").rglob("*.py")):
        found |= _imports(path.read_text(encoding="utf-8"))
    return found - set(sys.stdlib_module_names) - {"course_utils", "__future__"}


def test_environment_yml_and_pyproject_name_everything_the_notebooks_and_course_utils_import():
    imported = third_party_imports()
    assert {"torch", "matplotlib", "ipywidgets"} <= imported  # the parser sees the imports
    text = (ROOT / "environment.yml").read_text()
    conda = set(re.findall(r"^\s+-\s+([A-Za-z0-9_.\-]+)", text.split("- pip:")[0], re.M))
    missing = sorted(m for m in imported if CONDA_NAMES.get(m, m).lower() not in {c.lower() for c in conda})
    assert missing == [], f"environment.yml does not name {missing} (conda names: {CONDA_NAMES})"
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pip_names = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in deps}
    missing = sorted(m for m in imported if PIP_NAMES.get(m, m).lower() not in pip_names)
    assert missing == [], f"pyproject.toml's dependencies do not name {missing}"


@pytest.mark.slow
def test_the_edition_builds_as_a_package_and_collects_its_tests(edition, tmp_path):
    """What postBuild and environment.yml's `-e .` install works from the edition alone; its tests load."""
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path), str(edition)], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stderr[-3000:]
    import zipfile

    (built,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(built).namelist()
    assert "course_utils/__init__.py" in names and "course_utils/GLOSSARY.md" in names
    assert not [n for n in names if n.startswith("course_tools/")]
    env = dict(os.environ, PYTHONPATH=str(edition))
    collect = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                             cwd=edition, env=env, capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-3000:]
    assert "notebooks/01_adding_noise_by_hand.ipynb::" in collect.stdout and "tests/test_model.py::" in collect.stdout
    assert "solutions" not in collect.stdout


# ---- the setup cell, run the way Colab runs it -----------------------------------------------------

COLAB_VENV = ROOT / "build" / "colab-venv"  # ignored by git; delete it to rebuild


def _colab_packages() -> tuple[list[str], list[str], list[str]]:
    """What Colab ships that the course uses, plus what runs a notebook: (linked from this environment,
    installed with their needs, installed alone)."""
    # torch and torchvision (several GB with their CUDA libraries) are this environment's own, linked rather
    # than installed a second time: Colab brings its own torch, so the test needs one, not a fresh copy.
    linked = ["torch", "torchvision"]
    with_deps = ["matplotlib", "numpy", "tqdm", "ipykernel", "nbclient", "nbformat"]
    # Colab's widgets: the Python side only (widgetsnbextension and jupyterlab_widgets are front-end packages).
    no_deps = ["ipywidgets==7.7.1", "ipython_genutils==0.2.0"]
    return linked, with_deps, no_deps


def _link_installed(names: list[str], site: Path) -> list[str]:
    """Make these installed distributions, and everything they need, importable in the environment whose
    site-packages is ``site``, without copying them: symlinks in site/linked/, on its path through a .pth file.
    Returns the distributions linked."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    linked = site / "linked"
    linked.mkdir()
    todo, seen = list(names), []
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.append(name)
        dist = metadata.distribution(name)
        tops = {Path(f).parts[0] for f in dist.files or []} - {"..", "__pycache__"}
        for top in sorted(t for t in tops if not t.endswith(".pth")):
            target = Path(dist.locate_file(top))
            if target.exists() and not (linked / top).exists():
                (linked / top).symlink_to(target)
        needs = [Requirement(r) for r in dist.requires or []]
        todo += [r.name for r in needs if r.marker is None or r.marker.evaluate({"extra": ""})]
    (site / "colab_like_linked.pth").write_text(f"{linked}\n")
    return seen


def colab_like_venv() -> Path:
    """A fresh virtual environment that looks like Colab, made once under build/ and reused."""
    linked, with_deps, no_deps = _colab_packages()
    stamp = COLAB_VENV / ".colab-like"
    wanted = f"linked: {' '.join(linked)}; installed: {' '.join(with_deps + no_deps)}\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return COLAB_VENV
    shutil.rmtree(COLAB_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(COLAB_VENV)], check=True, capture_output=True, timeout=300)
    python = str(COLAB_VENV / "bin" / "python")
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    _link_installed(linked, purelib)
    for args in (with_deps, ["--no-deps", *no_deps]):
        result = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                                capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            tail = [line for line in (result.stderr or result.stdout).splitlines() if "is ignored" not in line][-3:]
            shutil.rmtree(COLAB_VENV, ignore_errors=True)
            pytest.skip(f"could not install {' '.join(args)} with pip (is the package index reachable?): " + " | ".join(tail))
    fake = purelib / "google" / "colab"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab (tests/test_release.py): the setup cell '
                                      'only asks whether it is imported."""\n')
    (purelib / "colab_like.pth").write_text("import google.colab\n")  # Colab imports it before any cell runs
    stamp.write_text(wanted)
    return COLAB_VENV


RUN_NOTEBOOK = r'''
import sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import sys, course_utils\nprint('KERNEL', sys.executable)\nprint('COURSE_UTILS', course_utils.__file__)"))
start = time.time()
try:
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
finally:
    nbformat.write(nb, sys.argv[3])
print(f"ran in {time.time() - start:.0f} s")
'''


def _text(cell) -> str:
    """A code cell's printed text (nbformat stores a multi-line text as a list of lines)."""
    parts = [o.get("text", "") for o in cell.get("outputs", [])] + [o.get("data", {}).get("text/plain", "")
                                                                    for o in cell.get("outputs", [])]
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


def _seconds(cell) -> float:
    from datetime import datetime

    times = cell["metadata"]["execution"]
    start, end = times["iopub.execute_input"], times["shell.execute_reply"]
    start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    return (end - start).total_seconds()


@pytest.mark.slow
@pytest.mark.network
def test_notebook_1_sets_itself_up_from_a_release_tag_in_a_colab_like_environment(tmp_path):
    """Build the edition, publish it as a tagged git repository, and run notebook 1 from an empty folder
    in a fresh environment that has what Colab ships (and google.colab imported) but no course files."""
    venv = colab_like_venv()
    python = str(venv / "bin" / "python")
    student_repo, dest, empty = tmp_path / "student-repo", tmp_path / "content" / "diffusion-course", tmp_path / "empty"
    student_repo.mkdir()
    empty.mkdir()
    _git(student_repo, "init", "--quiet")
    release.release(student_repo, draft=True, url=student_repo.as_uri(), dest=str(dest), log=lambda _: None)
    release.commit_and_tag(student_repo, TAG)

    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "COURSE_DATA_DIR", "VIRTUAL_ENV", "MPLBACKEND", "COURSE_NO_WIDGETS"}}
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / "jupyter" / name.lower())  # no kernel spec or profile from this machine
    env.pop("JUPYTER_PATH", None)
    env["COURSE_QUICK"] = "1"
    probe = subprocess.run([python, "-c", "import google.colab, sys; import course_utils"], cwd=empty, env=env,
                           capture_output=True, text=True)
    assert "No module named 'course_utils'" in probe.stderr, "the Colab-like environment must not have the course"

    notebook = student_repo / "notebooks" / "01_adding_noise_by_hand.ipynb"
    executed = tmp_path / "executed.ipynb"
    run = subprocess.run([python, "-c", RUN_NOTEBOOK, str(notebook), str(empty), str(executed)], cwd=empty, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-5000:]}"

    cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    assert "".join(cells[0]["source"]).startswith(colab.SETUP_MARKER) and f'"{TAG}"' in "".join(cells[0]["source"])
    assert "Google Colab" in _text(cells[1]) and "QUICK MODE" in _text(cells[1]), _text(cells[1])
    assert f"KERNEL {venv}" in _text(cells[-1]) and f"COURSE_UTILS {dest}/course_utils/__init__.py" in _text(cells[-1])
    assert _git(dest, "describe", "--tags") == f"{TAG}\n" and not (dest / "notebooks" / "solutions").exists()
    printed = "\n".join(_text(c) for c in cells)  # the unsolved exercises were checked, and the reference stood in
    assert "✗ NOT YET [nb01.add_noise]" in printed and "use the course's reference `add_noise`" in printed, printed[-3000:]

    download = sum(p.stat().st_size for p in (dest / ".git" / "objects").rglob("*") if p.is_file())
    record = {"tag": TAG, "setup_cell_download_MB": round(download / 1e6, 1),
              "edition_MB": round(release.tree_size(student_repo) / 1e6, 1),
              "setup_cell_s": round(_seconds(cells[0]), 1), "notebook_s": round(sum(_seconds(c) for c in cells), 1),
              "measured": time.strftime("%Y-%m-%d")}
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "colab-setup.json").write_text(json.dumps(record, indent=1) + "\n")
    print("Colab-like setup:", record)
    assert download < release.SIZE_LIMIT_MB * 10**6
