"""The grader's parts, without starting a sandbox: names, cells, references, verdicts, hidden cases, rosters."""

import dataclasses
import io
import json
import os
import py_compile
import subprocess
import sys

import pytest
import torch

from course_tools import grading, release
from course_tools.grading import (
    cells,
    coursetree,
    harness,
    hidden,
    integrity,
    jobs,
    policy,
    roster,
    sandbox,
    similarity,
    verdicts,
)
from course_tools.grading.gradebook import safe_names
from course_utils import forward, samplers
from course_utils.checks import EXERCISES, evaluate

pytestmark = pytest.mark.instructor


def _nb(*sources):
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": s} for s in sources], "nbformat": 4}


def _plan(nb, exercise="nb01.add_noise"):
    return cells.plan_exercise(nb, cells.analyse(nb), exercise)


# ---------------------------------------------------------------------------- names and notebooks


@pytest.mark.parametrize("name, student, file", [
    ("ada_12345_67890_01_adding_noise_by_hand.ipynb", "ada", "01_adding_noise_by_hand.ipynb"),
    ("ada_late_12345_67890_01_adding_noise_by_hand.ipynb", "ada", "01_adding_noise_by_hand.ipynb"),
    ("Ada Lovelace_4321_assignsubmission_file_01_adding_noise_by_hand.ipynb", "Ada Lovelace", "01_adding_noise_by_hand.ipynb"),
    ("Homework 1_ada_attempt_2024-03-01-10-00-00_05_sampling_with_ddpm.ipynb", "ada", "05_sampling_with_ddpm.ipynb"),
])
def test_lms_bulk_download_names(name, student, file):
    from course_tools.grading import submissions

    assert submissions.lms_student(name) == (student, file)


def test_names_that_clean_up_alike_get_their_own_folders():
    folders = safe_names(["li na", "li_na", "Li Na", "ada", "../../etc"])
    assert len(set(folders.values())) == 5
    assert all("/" not in f and not f.startswith(".") for f in folders.values())


def test_a_notebook_is_recognised_by_the_checks_it_calls_not_by_comments_or_its_name():
    nb = _nb("from course_utils.checks import check_ddpm_step\n", "def ddpm_step(x_t, t, eps, schedule, z):\n    pass\n",
             "ddpm_step = check_ddpm_step(ddpm_step)\n")
    assert cells.lesson_of(nb) == ("05_sampling_with_ddpm", {"nb05.ddpm_step"})
    assert cells.lesson_of(_nb("print('hello')\n")) == (None, set())
    mention = _nb("# usage: f = check_ddpm_step(f)\ntext = 'check_ddpm_step(ddpm_step)'\n",
                  "def add_noise(x, sigma, noise):\n    return x\n", "add_noise = check_add_noise(add_noise)\n")
    assert cells.lesson_of(mention)[0] == "01_adding_noise_by_hand"


# ---------------------------------------------------------------------------- what runs, and where the function is taken


def test_checks_only_mode_runs_what_the_function_needs_and_nothing_else():
    nb = _nb(
        "import torch\nimport math\n",  # 0: needed (math)
        "images = load_everything()\nmodel = train_for_an_hour()\n",  # 1: not needed
        "SCALE = 2.0\n",  # 2: needed by the helper, at call time
        "def helper(x):\n    return x * SCALE\n",  # 3: needed
        "def add_noise(x, sigma, noise):\n    y = helper(x)\n    return y + math.sqrt(sigma ** 2) * noise\n",  # 4
        "add_noise = check_add_noise(add_noise)\n",  # 5: the check cell
        "plt.plot(add_noise(images, 1, 1))\n",  # 6: not needed
    )
    plan = _plan(nb)
    assert (plan.def_cell, plan.snapshot, plan.cells) == (4, (5, 1), {0, 2, 3, 4})


def test_a_def_and_its_check_in_one_cell_is_taken_just_before_the_check_line():
    nb = _nb("import math\n",
             "def add_noise(x, sigma, noise):\n    return x + sigma * noise\n\n\nadd_noise = check_add_noise(add_noise)\n")
    plan = _plan(nb)
    assert plan.def_cell == 1 and plan.snapshot == (1, 5) and plan.cells == {1}


def test_a_comment_that_mentions_the_check_does_not_hide_the_function():
    nb = _nb("# usage: f = check_add_noise(f)\nimport math\n", "def add_noise(x, sigma, noise):\n    return x\n",
             "add_noise = check_add_noise(add_noise)\n")
    assert _plan(nb).def_cell == 1 and _plan(nb).snapshot == (2, 1)


def test_a_def_below_its_check_and_a_helper_at_the_end_are_still_found():
    nb = _nb("import math\n", "add_noise = check_add_noise(add_noise)\n",
             "def add_noise(x, sigma, noise):\n    return _helper(x, sigma, noise)\n", "print('more')\n",
             "def _helper(x, sigma, noise):\n    return x + math.sqrt(1) * sigma * noise\n")
    plan = _plan(nb)
    assert plan.def_cell == 2 and plan.snapshot is None and plan.cells == {0, 2, 4}


def test_the_check_s_rebinding_is_not_the_student_s_function():
    nb = _nb("def add_noise(x, sigma, noise):\n    return x\n", "add_noise = check_add_noise(add_noise)\n",
             "add_noise = check_add_noise(add_noise)\n")
    assert _plan(nb).def_cell == 0 and _plan(nb).snapshot == (1, 1)


def test_a_function_bound_by_exec_is_taken_after_the_exec():
    nb = _nb("def add_noise(x, sigma, noise):\n    raise NotImplementedError\n", "exec(payload)\n",
             "add_noise = check_add_noise(add_noise)\n", "exec(other)\n")
    plan = _plan(nb)
    assert plan.def_cell == 1 and plan.snapshot == (2, 1) and {0, 1} <= plan.cells


def test_a_def_that_does_not_parse_is_run_so_its_error_is_reported():
    nb = _nb("def add_noise(x, sigma, noise):\n    return x +\n", "add_noise = check_add_noise(add_noise)\n")
    assert _plan(nb).def_cell == 0


def test_ipython_magics_do_not_hide_a_cell():
    nb = _nb("%matplotlib inline\nimport math\n",
             "def add_noise(x, sigma, noise):\n    return x + math.sqrt(1) * sigma * noise\n",
             "add_noise = check_add_noise(add_noise)\n")
    assert _plan(nb).cells == {0, 1}


def test_the_harness_cuts_a_cell_where_the_check_line_starts():
    pieces = harness._split("a = 1\ndef f():\n    return a\n\nf = check(f)\nprint(f)\n", [5])
    assert pieces == [(None, "a = 1\ndef f():\n    return a\n"), (5, "f = check(f)\nprint(f)\n")]


@pytest.mark.parametrize("def_cell, found", [
    ("from course_utils.forward import add_noise\n", "it is imported from course_utils.forward.add_noise"),
    ("import course_utils.forward as fw\nadd_noise = fw.add_noise\n", "it is course_utils.forward.add_noise"),
    ("def add_noise(x, sigma, noise):\n    from course_utils import forward\n    return forward.add_noise(x, sigma, noise)\n",
     "it calls course_utils.forward.add_noise"),
    ("def add_noise(x, sigma, noise):\n    return x + sigma * noise\n", ""),
])
def test_copied_references_are_found_in_the_source(def_cell, found):
    nb = _nb(def_cell, "add_noise = check_add_noise(add_noise)\n")
    assert cells.reference_use(cells.analyse(nb), _plan(nb)) == found


# ---------------------------------------------------------------------------- what the course hands an exercise


def test_an_exercise_may_call_what_its_notebook_imports_but_never_its_own_reference():
    ddpm = policy.allowed("nb05.ddpm_step")
    assert "course_utils.schedules:NoiseSchedule.at" in ddpm  # a method of the schedule the check passes in
    assert "course_utils.schedules:posterior_variance" in ddpm  # the notebook's earlier exercise
    assert "course_utils.samplers:ddpm_step" not in ddpm
    assert "course_utils.forward:predict_x0_from_eps" not in ddpm and "course_utils.forward:q_posterior_mean_variance" not in ddpm
    # notebook 3 imports the reference as unet_embedding, to compare: still not the student's to call
    assert "course_utils.model:sinusoidal_timestep_embedding" not in policy.allowed("nb03.sinusoidal_timestep_embedding")
    assert "course_utils.forward:q_sample" in policy.allowed("nb04.eps_prediction_loss")


def test_what_the_profiler_saw_is_read_as_reference_use():
    assert "ran inside it" in policy.reference_use("nb05.ddpm_step", [{"ran": ["course_utils.samplers:ddpm_step"], "direct": []}])
    composed = [{"ran": ["course_utils.forward:predict_x0_from_eps"], "direct": ["course_utils.forward:predict_x0_from_eps"]}]
    assert "does not hand you" in policy.reference_use("nb05.ddpm_step", composed)
    honest = [{"ran": ["course_utils.schedules:NoiseSchedule.at"], "direct": ["course_utils.schedules:NoiseSchedule.at"]}]
    assert policy.reference_use("nb05.ddpm_step", honest) == ""
    copy = [{"ran": ["course_utils.forward:add_noise (a copy of its code)"], "direct": []}]
    assert "exact copy" in policy.reference_use("nb01.add_noise", copy)


WATCHED = """
import json, linecache, sys
from course_tools.grading import harness
from course_utils import env, forward

sent = []


class Channel:
    def json(self, message):
        sent.append(message)


watch = harness.Watch(harness.Places(sys.argv[1]), Channel(), sys.argv[2])
watch.install()
watch.where, watch.calling = "call", True
env.set_seed(0)  # torch keeps a stack trace of the course's frames: a library reading the course's source
cached = sorted(p for p, entry in linecache.cache.items() if "course_utils" in p and len(entry) > 1 and entry[2])
namespace = {"forward": forward}
exec(compile("import inspect\\ntry:\\n    inspect.getsource(forward.add_noise)\\nexcept OSError as err:\\n"
             "    refused = type(err).__name__\\n", "<cell>", "exec"), namespace)
print(json.dumps({"cached": cached, "refused": namespace.get("refused"), "events": sent}))
"""


def test_the_course_s_source_is_never_read_in_a_sandbox_and_only_a_student_s_read_is_reported(tmp_path):
    # A library that reads the course's source on its own (torch.manual_seed keeps a stack trace) is not the
    # student's doing, but what it read would sit in linecache for student code to take unseen: refused, unreported.
    run = subprocess.run([sys.executable, "-c", WATCHED, str(grading.ROOT), str(tmp_path)], cwd=grading.ROOT,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["cached"] == [] and seen["refused"] == "OSError"
    reads = [e["detail"] for e in seen["events"] if e["event"] == "read course source"]
    assert reads == [str(grading.ROOT / "course_utils" / "forward.py")]  # the student's inspect.getsource only


def test_a_copy_of_the_reference_s_code_is_known_wherever_it_was_compiled(tmp_path):
    import inspect

    places = harness.Places(str(grading.ROOT))
    places.learn_course()
    namespace = dict(vars(forward))
    exec(inspect.getsource(forward.add_noise), namespace)  # noqa: S102 - what a copying student does
    assert places.course_function(namespace["add_noise"].__code__) == "course_utils.forward:add_noise (a copy of its code)"
    assert places.course_function(forward.add_noise.__code__) == "course_utils.forward:add_noise"
    exec("def add_noise(x, sigma, noise):\n    return x + sigma * noise\n", namespace)  # noqa: S102 - a student's own
    assert places.course_function(namespace["add_noise"].__code__) is None
    # Code anyone writes alike is no copy: the reference's generator expression, a one-line helper of the checks.
    exec("def frechet_distance(mu1, cov1, mu2, cov2):\n    return [a.double() for a in (mu1, cov1, mu2, cov2)]\n"
         "def helper(t):\n    return t.view(-1, 1, 1, 1)\n"
         "def mine(mu1, cov1, mu2, cov2):\n    return list(a.double() for a in (mu1, cov1, mu2, cov2))\n", namespace)  # noqa: S102
    codes = [namespace[name].__code__ for name in ("frechet_distance", "helper", "mine")]
    codes += [c for c in codes[2].co_consts if isinstance(c, type(codes[0]))]  # mine's generator expression
    assert [places.course_function(c) for c in codes] == [None] * 4
    assert all(harness.distinctive(e.reference.__code__) for e in EXERCISES.values())  # every reference's copy is known


# ---------------------------------------------------------------------------- verdicts


def _roundtrip(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _grader_verdict(exercise_id, fn):
    import inspect

    exercise = EXERCISES[exercise_id]
    cases = verdicts.cases_for(exercise_id)
    calls = _roundtrip(harness.call_cases(fn, cases, 30, validate=exercise.validate, run=exercise.run))
    return verdicts.judge(exercise_id, {"calls": calls, "params": list(inspect.signature(fn).parameters)}, cases)


@pytest.mark.parametrize("exercise_id, fn", [
    ("nb01.add_noise", lambda x, sigma, noise: x + sigma * noise),
    ("nb01.add_noise", lambda x, sigma, noise: x + sigma ** 2 * noise),
    ("nb01.add_noise", lambda x, sigma, noise: x.numpy()),
    ("nb01.add_noise", lambda x, sigma, noise: 1 / 0),
    ("nb01.add_noise", lambda x, sigma, noise: x + sigma * torch.randn_like(x)),  # fresh noise: asked twice
    ("nb01.add_noise", lambda x, sigma, noise: x),  # an input returned
    ("nb01.add_noise", lambda x, sigma, noise: x.mul_(1.0).add_(sigma * noise)),  # in place
    ("nb05.ddpm_step", lambda x_t, t, eps, schedule, z: (schedule.posterior_variance.add_(1e-3), x_t)[1]),  # inside a dataclass
    ("nb05.ddpm_step", samplers.ddpm_step),
])
def test_the_grader_and_the_notebook_give_the_same_verdict(exercise_id, fn):
    notebook = evaluate(EXERCISES[exercise_id], fn)
    grader = _grader_verdict(exercise_id, fn)
    assert (grader.passed, grader.message, grader.hint) == (notebook.passed, notebook.message, notebook.hint)


def test_hidden_cases_catch_answers_cached_for_the_notebook_s_cases():
    exercise = EXERCISES["nb01.add_noise"]
    public = verdicts.cases_for(exercise.id)
    answers = [(c.args, exercise.reference(*c.args)) for c in public]

    def cached(x, sigma, noise):
        for args, answer in answers:
            if torch.equal(args[0], x) and args[1] == sigma and torch.equal(args[2], noise):
                return answer
        return x

    cases = public + hidden.draw(exercise.id, seed=7)
    calls = _roundtrip(harness.call_cases(cached, cases, 30))
    result = verdicts.judge(exercise.id, {"calls": calls, "params": ["x", "sigma", "noise"]}, cases, public=len(public))
    assert not result.passed and "a case the grader drew for this run does not" in result.message
    assert "hidden case" in result.message and "tensor(" not in result.message  # which case, never its values


def test_hidden_cases_are_secret_per_run_and_well_posed():
    first, again, other = (hidden.draw("nb05.ddpm_step", seed=s) for s in (1, 1, 2))
    assert len(first) == hidden.PER_EXERCISE and [c.label for c in first] == ["hidden case 1 of 3", "hidden case 2 of 3",
                                                                              "hidden case 3 of 3"]
    assert all(torch.equal(a.args[0], b.args[0]) and a.args[1] == b.args[1] for a, b in zip(first, again))
    assert not all(torch.equal(a.args[0], b.args[0]) for a, b in zip(first, other) if a.args[0].shape == b.args[0].shape)
    public = verdicts.cases_for("nb05.ddpm_step")
    assert any(c.args[0].shape != public[0].args[0].shape or c.args[1] not in {p.args[1] for p in public} for c in first)
    assert all(evaluate(EXERCISES["nb05.ddpm_step"], samplers.ddpm_step, first).passed for _ in range(1))
    assert hidden.secret_seed() != hidden.secret_seed()


def test_the_harness_finds_changed_inputs_with_the_checks_own_functions():
    from course_utils.checks import inputs

    assert harness.inputs_api() == (inputs.snapshot_inputs, inputs.changed_inputs)
    case = verdicts.cases_for("nb05.ddpm_step")[0]
    assert dataclasses.is_dataclass(case.args[3])  # a schedule: the in-place test above changes a field of it


def test_an_exercise_whose_answer_is_what_it_does_is_judged_through_its_call():
    exercise = next(e for e in EXERCISES.values() if e.call is not None)  # a training step
    wrong = exercise.mistakes[0].wrong
    for fn in (exercise.reference, wrong):
        notebook = evaluate(exercise, fn)
        grader = _grader_verdict(exercise.id, fn)
        assert (grader.passed, grader.message, grader.hint) == (notebook.passed, notebook.message, notebook.hint)


def test_the_grader_judges_with_the_sandbox_s_thread_count_whatever_its_own_or_a_cell_s():
    # A training step's Adam update magnifies rounding: one thread and three give weights further apart than
    # the check's tolerance, so the reference must run with the count the student's function ran with.
    exercise = next(e for e in EXERCISES.values() if e.call is not None)
    cases = verdicts.cases_for(exercise.id)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # as a notebook cell may
        calls = _roundtrip(harness.call_cases(exercise.reference, cases, 60, run=exercise.run))
        torch.set_num_threads(2)  # the grader's own default, on another machine
        result = verdicts.judge(exercise.id, {"calls": calls, "params": ["state", "x0"]}, cases)
        assert torch.get_num_threads() == 2  # put back
    finally:
        torch.set_num_threads(before)
    assert result.passed, result.message


def test_every_exercise_has_a_check_and_cases():
    assert set(verdicts.check_functions()) == set(EXERCISES)
    for exercise_id in EXERCISES:
        assert verdicts.cases_for(exercise_id), exercise_id


# ---------------------------------------------------------------------------- the wire, rosters, similarity


def test_a_job_survives_the_wire_and_garbage_does_not_pass_for_a_message():
    task = jobs.NotebookTask("01_x", {"cells": []}, (0, 2), (jobs.ExerciseTask("nb01.add_noise", "add_noise", (3, 1)),), 60.0)
    job = jobs.Job("ada", (task,), 10.0, 5.0, True, (200_001,))
    assert jobs.Job.from_wire(job.wire()) == job
    reader, tensors = jobs.Reader(), jobs.frame(b"T", b"xyz")
    assert reader.feed(jobs.frame(b"J", b'{"a": 1}') + tensors[:4]) == [(b"J", b'{"a": 1}')]  # a message cut in two
    assert reader.feed(tensors[4:]) == [(b"T", b"xyz")] and not reader.problem
    bad = jobs.Reader()
    assert bad.feed(b"Zxxxxxxxxxx") == [] and "format" in bad.problem


@pytest.mark.parametrize("text, submission, name", [
    ("Student,ID,SIS User ID,SIS Login ID,Section\nPoints Possible,,,,\n\"Lovelace, Ada\",1234,,ada.l,A\n",
     "lovelaceada", "Lovelace, Ada"),
    ("First name,Last name,ID number,Email address\nAda,Lovelace,77,ada@uni.example\n", "Ada Lovelace", "Ada Lovelace"),
    ("Last Name,First Name,Username,Student ID\nLovelace,Ada,alove,99\n", "alove", "Ada Lovelace"),
    ("name\nLi Na\n", "li_na", "Li Na"),
])
def test_rosters_as_lms_export_them_match_submission_names(tmp_path, text, submission, name):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    entries = roster.read(path)
    assert [e.name for e in entries] == [name]
    assert roster.match(entries, submission).name == name
    assert roster.match(entries, "someone else") is None


def test_a_roster_without_names_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("grade,section\n3,A\n", encoding="utf-8")
    with pytest.raises(roster.RosterError, match="no name"):
        roster.read(path)


def test_similarity_sees_through_renaming_and_ignores_short_functions():
    long = ("def f(a, b, c):\n    '''doc'''\n    total = a * 2 + b\n    for k in range(3):\n        total = total + c * k - a\n"
            "    return total / (1 + b)\n")
    renamed = long.replace("total", "acc").replace("a,", "x,").replace("a *", "x *").replace("- a", "- x")
    renamed = renamed.replace("'''doc'''", "# mine")
    found = similarity.similar({"ana": long, "bob": renamed, "cy": "def f(x):\n    return x\n"}, forward.add_noise)
    assert found == {"ana": "bob", "bob": "ana"}
    assert similarity.similar({"ana": "def add_noise(x, s, n):\n    return x + s * n\n"}, forward.add_noise) == {}


# ---------------------------------------------------------------------------- the course tree, bytecode, modes


def test_the_sandbox_course_tree_holds_only_the_student_edition(tmp_path):
    tree, _ = coursetree.course_tree(cache=tmp_path / "cache")
    files = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert "course_utils/checks/core.py" in files and "grader/harness.py" in files
    assert not any(f.startswith(("notebooks/", "course_tools/", ".git", "tests/")) or f == "INSTRUCTORS.md" for f in files)
    assert any(f.startswith("course_utils/__pycache__/") for f in files)  # compiled by the grader, checked by hash
    assert coursetree.verify(tree) == []
    target = tree / "course_utils" / "forward.py"
    target.chmod(0o644)
    target.write_text("# changed\n", encoding="utf-8")
    assert coursetree.verify(tree) == ["course_utils/forward.py: changed"]
    again, rebuilt = coursetree.course_tree(cache=tmp_path / "cache")
    assert again == tree and rebuilt == ["course_utils/forward.py: changed"] and coursetree.verify(tree) == []


def test_bytecode_that_is_not_its_source_s_compilation_is_found(tmp_path):
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("def f():\n    return 1\n", encoding="utf-8")
    pyc = py_compile.compile(str(source), doraise=True)
    assert integrity.poisoned([tmp_path]) == []
    evil = tmp_path / "evil.py"
    evil.write_text("def f():\n    return 2\n", encoding="utf-8")
    header = open(pyc, "rb").read()[:16]  # keeps the source's size and time: Python would load it
    body = open(py_compile.compile(str(evil), cfile=str(tmp_path / "evil.pyc")), "rb").read()[16:]
    open(pyc, "wb").write(header + body)
    assert [p.name for p in integrity.poisoned([tmp_path])] == [f"mod.{__import__('sys').implementation.cache_tag}.pyc"]
    source.write_text("def f():\n    return 10\n", encoding="utf-8")  # edited since (a git pull): Python recompiles it
    assert integrity.poisoned([tmp_path]) == []  # so a stale file is not a poisoned one
    unchecked = py_compile.compile(str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    header = open(unchecked, "rb").read()[:16]
    open(unchecked, "wb").write(header + body)  # an unchecked file is loaded whatever the source says
    assert len(integrity.poisoned([tmp_path])) == 1


def test_plain_is_never_chosen_without_its_flag_and_its_help_says_what_it_does_not_protect(capsys):
    assert "plain" not in sandbox.ISOLATIONS
    with pytest.raises(SystemExit):
        grading.build_parser().parse_args(["subs", "--isolation", "plain"])
    assert sandbox.choose("auto", allow_plain=True) is sandbox.PlainSandbox
    help_text = grading.PLAIN_HELP
    for words in ("your rights", "network", "kill", "the grader included", "reported", "not prevented"):
        assert words in help_text


def test_bad_input_gets_a_one_line_error(tmp_path, capsys):
    assert grading.main([str(tmp_path / "nowhere")]) == grading.EXIT_USAGE
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "subs").mkdir()
    assert grading.main([str(tmp_path / "subs"), "--roster", str(tmp_path / "none.csv")]) == grading.EXIT_USAGE
    assert "roster" in capsys.readouterr().err
    assert grading.main([str(tmp_path / "subs"), "--notebooks", "42", "--unsafe-plain", "--out", str(tmp_path / "o")]) == 2
    assert "no single notebook matches '42'" in capsys.readouterr().err
    (tmp_path / "a.json").write_text(json.dumps({"notebooks": []}), encoding="utf-8")
    assert grading.main([str(tmp_path / "subs"), "--assignment", str(tmp_path / "a.json"), "--unsafe-plain"]) == 2


def test_the_documented_places_for_submissions_and_gradebooks_are_ignored_by_git():
    # INSTRUCTORS.md offers submissions/ and gradebook/ inside the checkout; `make release` refuses untracked files.
    for path in ("submissions/ada/01_adding_noise_by_hand.ipynb", "gradebook/gradebook.csv", "gradebook.csv"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=grading.ROOT).returncode == 0, path


def test_release_keeps_back_exactly_the_test_modules_marked_instructor(tmp_path):
    marked = tmp_path / "test_a.py"
    marked.write_text("import pytest\n\npytestmark = pytest.mark.instructor\n", encoding="utf-8")
    listed = tmp_path / "test_b.py"
    listed.write_text("import pytest\n\npytestmark = [pytest.mark.slow, pytest.mark.instructor]\n", encoding="utf-8")
    plain = tmp_path / "test_c.py"
    plain.write_text("# the solution notebooks and course_tools are only mentioned here\ndef test_x():\n    pass\n",
                     encoding="utf-8")
    assert release.instructor_only_test(marked) and release.instructor_only_test(listed)
    assert not release.instructor_only_test(plain)
