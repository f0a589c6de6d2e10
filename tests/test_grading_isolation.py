"""What a sandbox lets a submission see and do, probed from inside, mode by mode.

Every statement of INSTRUCTORS.md's isolation table is checked here: the descriptors a notebook's process
holds, the files it sees, what it can write, the caps on /tmp, the processes it sees, the network, bytecode.
"""

import json
import os

import pytest

from course_tools import grading
from course_tools.grading import fakeclass, gradebook, sandbox

pytestmark = [pytest.mark.slow, pytest.mark.instructor]

STEM = fakeclass.lesson("01")

PROBE = r'''
import json, os, socket, sys
import course_utils, torch

def _fds():
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out

def _writable(path):  # asks the kernel, creates nothing (plain mode runs on your machine)
    return os.access(path, os.W_OK)

def _network():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=3).close()
        return True
    except OSError:
        return False

_st = os.statvfs("/tmp")
print("PROBE " + json.dumps({
    "fds": _fds(), "uid": os.getuid(), "root": sorted(os.listdir("/")),
    "course": os.path.dirname(os.path.dirname(course_utils.__file__)),
    "course_entries": sorted(os.listdir(os.path.dirname(os.path.dirname(course_utils.__file__)))),
    "checkout": {p: os.path.exists(os.path.join(CHECKOUT, p)) for p in ("notebooks", ".git", "course_tools", "INSTRUCTORS.md")},
    "course_writable": _writable(course_utils.__file__),
    "site_writable": _writable(os.path.dirname(torch.__file__)),
    "tmp_bytes": _st.f_blocks * _st.f_frsize, "run_lock_writable": _writable("/run/lock"),
    "pids": sum(1 for p in os.listdir("/proc") if p.isdigit()), "network": _network(),
    "dont_write_bytecode": sys.dont_write_bytecode,
}))
'''


@pytest.fixture(scope="module", params=["os", "bwrap", "plain"])
def probe(request, tmp_path_factory):
    mode = request.param
    if mode != "plain" and sandbox.MODES[mode].unavailable():
        pytest.skip(f"{mode}: {sandbox.MODES[mode].unavailable()}")
    root = tmp_path_factory.mktemp(f"probe-{mode}") / "submissions"
    out = root.parent / "gradebook"
    nb = fakeclass.load(STEM, True)
    first = fakeclass.exercises_of(STEM)[0]
    from course_utils.checks import EXERCISES

    nb = fakeclass.prepend_to_def(nb, EXERCISES[first].function, PROBE.replace("CHECKOUT", repr(str(grading.ROOT))))
    fakeclass.write(root / "ada" / f"{STEM}.ipynb", nb)
    result = grading.grade_folder(root, out, notebooks=[STEM[:2]], options=gradebook.Options(timeout=300),
                                  isolation="auto" if mode == "plain" else mode, allow_plain=mode == "plain")
    audit = json.loads((out / "executed" / "ada" / f"{STEM}.ipynb").read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", "")) for c in audit["cells"] for o in c.get("outputs", []))
    line = next(line for line in printed.splitlines() if line.startswith("PROBE "))
    return mode, json.loads(line[6:]), result


def test_each_notebook_s_process_holds_only_its_own_result_pipe(probe):
    mode, seen, _ = probe
    pipes = [target for target in seen["fds"].values() if target.startswith("pipe:")]
    assert len(pipes) == 1, seen["fds"]
    assert all(not target.startswith(str(grading.ROOT)) for target in seen["fds"].values())


def test_the_grades_are_right_in_every_mode(probe):
    _, _, result = probe
    assert {r.status for r in result.rows} == {gradebook.PASSED}


def test_a_sandbox_sees_only_the_student_edition_read_only(probe):
    mode, seen, _ = probe
    assert seen["dont_write_bytecode"]
    assert set(seen["course_entries"]) <= {"course_utils", "data", "grader", "MANIFEST.json"}  # the edition's, cached
    if mode == "plain":
        assert seen["checkout"]["notebooks"]  # plain hides nothing: the solutions are a read away
        return
    assert seen["course"] == sandbox.COURSE
    assert not any(seen["checkout"].values()), seen["checkout"]  # no solutions, .git, course_tools, INSTRUCTORS.md
    assert not seen["course_writable"] and not seen["site_writable"] and not seen["run_lock_writable"]
    bound = {p.split("/")[1] for p in sandbox.SYSTEM + sandbox.ETC + sandbox._python_paths() if os.path.exists(p)}
    assert set(seen["root"]) <= bound | {"proc", "tmp", "dev", "course"}, seen["root"]  # a root of read-only binds


def test_tmp_is_private_and_capped_the_network_is_off_and_other_processes_are_invisible(probe):
    mode, seen, _ = probe
    if mode == "plain":
        assert seen["pids"] > 3  # it sees your processes: plain protects none of this
        return
    assert 0 < seen["tmp_bytes"] <= sandbox.TMP_BYTES
    assert not seen["network"]
    assert seen["pids"] <= 6  # the supervisor, this notebook's process, and what it started


def test_os_mode_runs_each_notebook_under_a_user_id_of_its_own(probe):
    mode, seen, _ = probe
    if mode != "os":
        pytest.skip("only os mode changes user ids")
    assert seen["uid"] >= sandbox.FIRST_UID
