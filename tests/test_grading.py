"""A hostile class graded end to end: every student gets exactly the expected gradebook, in every sandbox.

The class (course_tools.grading.hostile) holds a submission for every attack family of issue #30 beside honest
students, built from the registry: saboteurs, readers of answers, six ways of reaching the reference and one of
composing it, answers cached for the notebook's cases, forged verdicts and forged results, processes left
behind, a full /tmp, a crashing and a looping notebook, and honest work in unusual shapes. It is graded in os
and bubblewrap mode (each where this machine offers it), then a smaller class without a sandbox
(--unsafe-plain), a class with a roster, and a grader stopped by SIGTERM.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from course_tools import grading
from course_tools.grading import fakeclass, gradebook, hostile, sandbox
from course_tools.grading.gradebook import FAILED, MISSING, NOT_ATTEMPTED, PASSED
from course_tools.nbio import cell_source
from course_utils.checks import EXERCISES

pytestmark = [pytest.mark.slow, pytest.mark.instructor]

STEMS = [fakeclass.lesson("01"), fakeclass.lesson("05")]
DUE = [e for s in STEMS for e in fakeclass.exercises_of(s)]


def _canary():
    """A file of the course's data/ that no submission may delete, with a name of its own. A run killed before its
    clean-up (a time limit) leaves one behind: those are removed here first."""
    for stale in (grading.ROOT / "data").glob(".grading-canary-*.txt"):
        stale.unlink(missing_ok=True)
    path = grading.ROOT / "data" / f".grading-canary-{uuid.uuid4().hex}.txt"
    path.write_text("the course's data\n", encoding="utf-8")
    return path


def _left_running() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if hostile.MARK.encode() in f.read():
                    found.append(entry)
        except OSError:
            continue
    return found


def _table(result):
    table = {}
    for row in result.rows:
        table.setdefault(row.student, {})[row.exercise] = row.status
    return table


def _differences(expected, result):
    got = _table(result)
    return [f"{s} {e}: expected {expected.get(s, {}).get(e)}, got {got.get(s, {}).get(e)}"
            for s in sorted(set(expected) | set(got)) for e in DUE
            if expected.get(s, {}).get(e) != got.get(s, {}).get(e)]


@pytest.fixture(scope="module", params=["os", "bwrap"])
def graded(request, tmp_path_factory):
    mode = request.param
    why = sandbox.MODES[mode].unavailable()
    if why:
        pytest.skip(f"{mode} mode does not work here: {why}")
    base = tmp_path_factory.mktemp(f"class-{mode}")
    root, out = base / "submissions", base / "gradebook"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier gradebook\n", encoding="utf-8")
    canary = _canary()
    pwned = grading.ROOT / f"pwned-{uuid.uuid4().hex}"
    lock = f"/run/lock/grading-canary-{uuid.uuid4().hex}"
    targets = {"delete": str(canary), "touch": str(pwned), "overwrite": str(root / "ada" / f"{STEMS[0]}.ipynb"),
               "overwrite-gradebook": str(out / "keep.txt"), "overwrite-makefile": str(grading.ROOT / "Makefile"),
               "overwrite-lock": lock}
    try:
        expected = hostile.hostile_class(root, out, STEMS, vandal_targets=targets)
        submitted = {p: p.read_bytes() for p in root.rglob("*.ipynb")}
        makefile = (grading.ROOT / "Makefile").read_bytes()
        options = gradebook.Options(jobs=2, timeout=300, call_timeout=5)
        result = grading.grade_folder(root, out, notebooks=["01", "05"], options=options, isolation=mode)
        yield {"mode": mode, "result": result, "expected": expected, "root": root, "out": out, "canary": canary,
               "pwned": pwned, "submitted": submitted, "makefile": makefile, "lock": lock}
    finally:
        canary.unlink(missing_ok=True)
        pwned.unlink(missing_ok=True)
        if os.path.exists(lock):
            os.remove(lock)
        if "makefile" in locals() and (grading.ROOT / "Makefile").read_bytes() != makefile:
            (grading.ROOT / "Makefile").write_bytes(makefile)  # a broken sandbox must not cost the checkout its Makefile


def test_every_student_gets_exactly_the_expected_grades(graded):
    assert _differences(graded["expected"], graded["result"]) == []


def test_nothing_outside_a_sandbox_changed(graded):
    assert graded["canary"].exists() and not graded["pwned"].exists()
    assert all(path.read_bytes() == data for path, data in graded["submitted"].items())
    assert (graded["out"] / "keep.txt").read_text(encoding="utf-8") == "an earlier gradebook\n"
    assert (grading.ROOT / "Makefile").read_bytes() == graded["makefile"]
    assert not os.path.exists(graded["lock"])
    assert graded["result"].tampered == []


def test_nothing_is_left_running(graded):
    assert _left_running() == []


def _audit(graded, student, stem):
    folder = gradebook.safe_names(sorted({r.student for r in graded["result"].rows}))[student]
    return json.loads((graded["out"] / "executed" / folder / f"{stem}.ipynb").read_text(encoding="utf-8"))


def _printed(nb):
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])


def test_tmp_is_capped_and_processes_and_network_are_refused(graded):
    printed = _printed(_audit(graded, "hog", STEMS[0]))
    written = int(printed.split("wrote ")[1].split(" MB")[0])
    assert 0 < written * 2**20 <= sandbox.TMP_BYTES
    assert "network: refused" in printed


def test_a_spy_and_a_saboteur_reach_nobody_and_are_not_trusted(graded):
    printed = _printed(_audit(graded, "spy", STEMS[0]))
    count = int(printed.split("notebooks in memory: ")[1].split()[0])
    assert count <= len(STEMS)  # its own notebooks at most: the sandbox holds no classmate's
    assert "refused" in printed and "overwrote" not in printed
    rows = {r.student: r for r in graded["result"].rows if r.student in ("spy", "saboteur")}
    assert "looked into" in rows["spy"].message
    assert rows["saboteur"].status == PASSED  # what it wrote into its descriptors reached its own pipe only
    findings = graded["result"].findings
    assert any(f.startswith("spy ") and "gc.get_objects" in f for f in findings)
    assert not any(f.startswith(("ada ", "blank ", "li")) for f in findings)  # findings name the right student


def test_the_audit_copies_are_the_submissions_with_their_outputs(graded):
    for student in ("ada", "forged_results", "vandal", "li na", "li_na"):
        for stem in STEMS:
            path = graded["root"] / student / f"{stem}.ipynb"
            if not path.exists():
                continue
            submitted = json.loads(path.read_text(encoding="utf-8"))
            audit = _audit(graded, student, stem)
            assert [cell_source(c) for c in audit["cells"]] == [cell_source(c) for c in submitted["cells"]]
            assert audit["metadata"]["grading"]["student"] == student
    assert "refused" in _printed(_audit(graded, "vandal", STEMS[0]))
    executed = {r.executed for r in graded["result"].rows if r.student in ("li na", "li_na")}
    assert len(executed) == 2 * len(STEMS)  # two students whose names clean up alike: their own copies


def test_the_course_s_answer_is_refused_however_it_is_reached(graded):
    rows = {(r.student, r.exercise): r for r in graded["result"].rows}
    assert "does not hand you" in rows[("hider", "nb05.ddpm_step")].message  # composed from course functions
    assert "does not hand you" in rows[("hider2", "nb05.ddpm_step")].message
    assert "a case the grader drew" in rows[("cache", DUE[0])].message
    reader = rows[("reader", DUE[0])].message
    assert "solutions" in reader and "it read" in reader


def test_the_gradebook_files(graded):
    out, expected = graded["out"], graded["expected"]
    with open(out / "gradebook.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(expected) * len(DUE)
    ada = [r for r in rows if r["student"] == "ada"]
    assert all(r["status"] == PASSED and r["points"] == "1" for r in ada)
    assert (out / ada[0]["executed"]).exists()
    raw = (out / "gradebook_wide.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    with open(out / "gradebook_wide.csv", encoding="utf-8-sig") as f:
        wide = {r["student"]: r for r in csv.DictReader(f)}
    assert set(wide) == set(expected)
    assert wide["ada"]["total"] == str(len(DUE)) and wide["ada"]["percent"] == "100"
    last = fakeclass.exercises_of(STEMS[-1])
    assert wide["missing"][last[-1]] == MISSING and wide["missing"]["total"] == str(len(DUE) - len(last))
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"| `{DUE[0]}` |" in summary and f"{len(expected)} students" in summary and "notes.txt" in summary
    assert "## What submissions tried inside their sandbox" in summary and "gc.get_objects" in summary


# ---------------------------------------------------------------------------- every lesson


def test_every_registered_exercise_is_graded_right_wrong_and_blank(tmp_path):
    # Every lesson, every exercise, in the sandbox auto picks: training steps and notebook 9's flow included. A
    # course function that seeds torch reads its stack's source (a library's read, not the student's), and a
    # training step's result depends on the thread count: neither may change a verdict.
    root, stems = tmp_path / "submissions", fakeclass.lessons()
    for kind in ("correct", "wrong", "blank"):
        fakeclass.honest(root, kind, kind, stems)
    result = grading.grade_folder(root, tmp_path / "gradebook", options=gradebook.Options(jobs=2, timeout=600))
    got = {(r.student, r.exercise): (r.status, r.message) for r in result.rows}
    expected = {"correct": PASSED, "wrong": FAILED, "blank": NOT_ATTEMPTED}
    wrong = {k: v for k, v in got.items() if v[0] != expected[k[0]]}
    assert wrong == {}
    assert {e for _, e in got} == set(EXERCISES) and result.findings == []


# ---------------------------------------------------------------------------- without a sandbox


def test_plain_runs_only_with_its_flag_and_reports_what_it_promises(tmp_path):
    root, out = tmp_path / "submissions", tmp_path / "gradebook"
    canary = _canary()
    pyc = grading.ROOT / "course_utils" / "__pycache__" / f"grading-canary-{uuid.uuid4().hex}.pyc"
    pyc.parent.mkdir(exist_ok=True)
    try:
        fakeclass.honest(root, "ada", "correct", STEMS)
        hostile.ATTACKS["hog"].build(root, "hog", STEMS)
        targets = {"delete": str(canary), "overwrite": str(pyc)}
        hostile._solutions(root, "vandal", STEMS, hostile._on_first(lambda e: hostile.vandal_cell(targets)))
        result = grading.grade_folder(root, out, notebooks=["01", "05"], options=gradebook.Options(jobs=2, timeout=300),
                                      allow_plain=True)
        assert result.isolation == "plain"
        assert {(r.student, r.status) for r in result.rows} == {("ada", PASSED), ("hog", PASSED), ("vandal", PASSED)}
        assert not canary.exists()  # plain mode prevents nothing ...
        lines = " ".join(result.tampered)
        assert f"deleted: {canary}" in lines and f"created: {pyc}" in lines  # ... but reports it, bytecode included
        assert "vandal" in lines  # with the students whose sandboxes ran then
        assert any(f.startswith("vandal ") and "write" in f for f in result.findings)  # and the one that tried
        summary = (out / "summary.md").read_text(encoding="utf-8")
        assert "WARNING" in summary and f"deleted: {canary}" in summary and "Isolation: plain" in summary
        assert _left_running() == []  # its processes, and those they left behind, were killed
    finally:
        canary.unlink(missing_ok=True)
        pyc.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- a roster, and a grader stopped


def test_a_roster_lists_everyone_and_sets_apart_who_is_not_on_it(tmp_path):
    root, out = tmp_path / "submissions", tmp_path / "gradebook"
    fakeclass.canvas(root, "lovelaceada", STEMS[:1], solution=True)
    fakeclass.honest(root, "stranger", "blank", STEMS[:1])
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\nPoints Possible,,,,\n"
                      '"Lovelace, Ada",1001,,ada,A\n"Ghost, Casper",1002,,casper,A\n', encoding="utf-8")
    code = grading.main([str(root), "--notebooks", "01", "--roster", str(roster), "--out", str(out), "--jobs", "2"])
    assert code == grading.EXIT_INCOMPLETE
    with open(out / "gradebook_wide.csv", encoding="utf-8-sig") as f:
        wide = {r["student"]: r for r in csv.DictReader(f)}
    first = fakeclass.exercises_of(STEMS[0])
    assert wide["Lovelace, Ada"]["total"] == str(len(first))
    assert all(wide["Ghost, Casper"][e] == MISSING for e in first)
    assert wide["stranger"]["on the roster"] == "no" and wide["Lovelace, Ada"]["on the roster"] == ""
    assert "- stranger" in (out / "summary.md").read_text(encoding="utf-8")


def test_sigterm_kills_every_sandbox_and_still_writes_the_gradebook(tmp_path):
    root, out = tmp_path / "submissions", tmp_path / "gradebook"
    fakeclass.honest(root, "ada", "correct", STEMS[:1])
    forever = f"import subprocess\nsubprocess.Popen(['sleep', '{hostile.MARK}'])\nwhile True:\n    pass\n"
    hostile._solutions(root, "looper", STEMS[:1], hostile._on_first(lambda e: forever))
    env = dict(os.environ, PYTHONPATH=str(grading.ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "course_tools.grading", str(root), "--notebooks", "01", "--out", str(out),
                             "--jobs", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    while not _left_running() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)  # the looper's sandbox is running once its sleep is
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == grading.EXIT_INTERRUPTED, output
    with open(out / "gradebook.csv", encoding="utf-8") as f:
        rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(f)}
    assert all("interrupted" in rows[("looper", e)]["message"] for e in fakeclass.exercises_of(STEMS[0]))
    assert "INTERRUPTED" in output
    assert _left_running() == []
    assert set(EXERCISES) >= {e for _, e in rows}
