"""Exact resume: a run stopped by Ctrl-C anywhere and continued gives bit-identical losses and weights.

A tiny U-Net on 24 digits in batches of 8 (3 steps per epoch of the data order), 10 steps. Ctrl-C is
simulated two ways at chosen points: ``KeyboardInterrupt`` raised from the code (what a Ctrl-C looks like
when no handler is installed) and a real SIGINT sent to this process (what the terminal and Jupyter's
"interrupt kernel" send).
"""

import os
import shlex
import signal
from dataclasses import replace

import pytest
import torch
from reliability_helpers import during_step, sigint

from course_utils import train as train_cli
from course_utils import training
from course_utils.checkpoints import read_checkpoint
from course_utils.data import mnist_subset
from course_utils.model import UNetConfig
from course_utils.training import PRESETS, TrainConfig, new_train_state, resume_train_state, train_ddpm

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
CFG = TrainConfig(architecture=TINY, batch_size=8, train_steps=10, warmup_steps=2)
STEPS_PER_EPOCH = 3  # 24 images // batch 8
EVERY = 4  # checkpoint interval


@pytest.fixture(scope="module")
def images():
    return mnist_subset("train", 24, seed=0)[0]


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    """The run never stopped, and its final resume file."""
    path = tmp_path_factory.mktemp("ref") / "run.pt"
    state = train_ddpm(new_train_state(CFG), images, checkpoint_path=path, checkpoint_every=EVERY)
    assert state.step == CFG.train_steps and not state.interrupted
    return state, read_checkpoint(path)


def _raise():
    raise KeyboardInterrupt


def assert_same_run(state, reference_state):
    assert state.step == reference_state.step
    assert state.losses == reference_state.losses  # bit for bit, not approximately
    for ours, theirs in ((state.model, reference_state.model), (state.ema.model, reference_state.ema.model)):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    assert state.ema.num_updates == reference_state.ema.num_updates
    assert torch.equal(state.generator.get_state(), reference_state.generator.get_state())
    ours, theirs = state.optimizer.state_dict()["state"], reference_state.optimizer.state_dict()["state"]
    for i in theirs:
        for key in theirs[i]:
            assert torch.equal(ours[i][key], theirs[i][key]), (i, key)


def assert_same_file(ckpt, reference_ckpt):
    assert ckpt["train"]["steps_done"] == reference_ckpt["train"]["steps_done"]
    assert ckpt["resume"]["losses"] == reference_ckpt["resume"]["losses"]
    for part in ("state_dict", ("resume", "model")):
        ours = ckpt[part] if isinstance(part, str) else ckpt[part[0]][part[1]]
        theirs = reference_ckpt[part] if isinstance(part, str) else reference_ckpt[part[0]][part[1]]
        for name in theirs:
            assert torch.equal(ours[name], theirs[name]), (part, name)


def after_checkpoint(monkeypatch, at_step: int, action):
    """Run ``action`` just after the periodic checkpoint of step ``at_step`` was written."""
    original = training.save_train_state
    done = {"fired": False}

    def save(state, path, **kwargs):
        out = original(state, path, **kwargs)
        if state.step == at_step and not done["fired"]:
            done["fired"] = True
            action()
        return out

    monkeypatch.setattr(training, "save_train_state", save)


# (how, at which step the interrupt lands, the step the run stops at)
INTERRUPTS = [
    ("mid-step, KeyboardInterrupt", 6, 5),  # the bug of issue #22: step 6 had drawn its t and noise
    ("mid-step, SIGINT", 6, 6),  # the handler lets step 6 finish, then stops
    ("mid-step, KeyboardInterrupt, first step of an epoch", STEPS_PER_EPOCH + 1, STEPS_PER_EPOCH),
    ("mid-step, SIGINT, first step of an epoch", STEPS_PER_EPOCH + 1, STEPS_PER_EPOCH + 1),
    ("mid-step, KeyboardInterrupt, the very first step", 1, 0),
    ("between steps, KeyboardInterrupt", 5, 5),
    ("between steps, SIGINT", 5, 5),
    ("between steps, SIGINT, last step of an epoch", 2 * STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH),
    ("just after a checkpoint, KeyboardInterrupt", EVERY, EVERY),
    ("just after a checkpoint, SIGINT", 2 * EVERY, 2 * EVERY),
]


def interrupt(monkeypatch, how: str, at: int):
    """Arrange the interrupt; returns the train_ddpm keyword arguments it needs."""
    action = sigint if "SIGINT" in how else _raise
    if how.startswith("mid-step"):
        during_step(monkeypatch, at, action)
        return {}
    if how.startswith("between steps"):
        return {"callback": lambda s: action() if s.step == at else None, "callback_every": 1}
    after_checkpoint(monkeypatch, at, action)
    return {}


@pytest.mark.slow  # trains tiny runs twice per case: make test-fast leaves it to make test
@pytest.mark.parametrize("how, at, stops_at", INTERRUPTS, ids=[row[0] for row in INTERRUPTS])
def test_an_interrupted_run_resumes_bit_for_bit(monkeypatch, tmp_path, images, reference, how, at, stops_at, capsys):
    ref_state, ref_ckpt = reference
    path = tmp_path / "run.pt"
    with monkeypatch.context() as patch:
        extra = interrupt(patch, how, at)
        state = train_ddpm(new_train_state(CFG), images, checkpoint_path=path, checkpoint_every=EVERY, **extra)
    assert state.interrupted and state.step == stops_at and len(state.losses) == stops_at
    assert f"stopped after step {stops_at} of {CFG.train_steps}" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler was put back
    assert read_checkpoint(path)["train"]["steps_done"] == stops_at

    # continued from the file, as `--resume` does ...
    resumed = train_ddpm(resume_train_state(path), images, checkpoint_path=path, checkpoint_every=EVERY)
    assert_same_run(resumed, ref_state)
    assert_same_file(read_checkpoint(path), ref_ckpt)
    # ... and in memory, as re-running a notebook cell does
    train_ddpm(state, images)
    assert_same_run(state, ref_state)


def test_interrupted_twice_still_resumes_exactly(monkeypatch, tmp_path, images, reference):
    ref_state, _ = reference
    path = tmp_path / "run.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 3, _raise)
        state = train_ddpm(new_train_state(CFG), images, checkpoint_path=path, checkpoint_every=EVERY)
    with monkeypatch.context() as patch:
        during_step(patch, 5, sigint)  # the 5th step of this call is step 7 of the run
        state = train_ddpm(resume_train_state(path), images, checkpoint_path=path, checkpoint_every=EVERY)
    assert state.interrupted and state.step == 7
    assert_same_run(train_ddpm(resume_train_state(path), images), ref_state)


def test_a_second_ctrl_c_stops_at_once_and_the_run_stays_exact(monkeypatch, tmp_path, images, reference):
    """The first Ctrl-C asks to stop after the step; a second one (a step that seems to hang) stops mid-step."""
    ref_state, _ = reference
    path = tmp_path / "run.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 4, lambda: (sigint(), sigint()))
        state = train_ddpm(new_train_state(CFG), images, checkpoint_path=path, checkpoint_every=EVERY)
    assert state.interrupted and state.step == 3
    assert_same_run(train_ddpm(resume_train_state(path), images), ref_state)


def test_an_interrupt_while_a_step_is_applied_keeps_the_last_checkpoint(monkeypatch, tmp_path, images, reference, capsys):
    """Only code can raise inside optimizer.step (a real Ctrl-C waits for the step): that half-applied
    step is not saved over the last good checkpoint, which still resumes exactly."""
    ref_state, _ = reference
    path = tmp_path / "run.pt"
    state = new_train_state(CFG)
    original = state.optimizer.step
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        out = original(*args, **kwargs)
        if calls["n"] == EVERY + 2:
            raise KeyboardInterrupt  # the weights have moved, the EMA has not: a half-applied step
        return out

    state.optimizer.step = step
    train_ddpm(state, images, checkpoint_path=path, checkpoint_every=EVERY)
    assert state.interrupted and "cannot continue exactly" in capsys.readouterr().out
    assert read_checkpoint(path)["train"]["steps_done"] == EVERY
    assert_same_run(train_ddpm(resume_train_state(path), images), ref_state)


def test_an_interrupt_just_before_a_step_is_applied_leaves_the_run_exact(tmp_path, images, reference, capsys):
    """Raised before optimizer.step changed anything: the step is simply not taken, and the run stays exact."""
    ref_state, _ = reference
    path = tmp_path / "run.pt"
    state = new_train_state(CFG)
    original = state.optimizer.step
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == EVERY + 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    state.optimizer.step = step
    train_ddpm(state, images, checkpoint_path=path, checkpoint_every=EVERY)
    assert state.interrupted and "cannot continue exactly" not in capsys.readouterr().out
    assert read_checkpoint(path)["train"]["steps_done"] == EVERY + 1
    state.optimizer.step = original
    assert_same_run(train_ddpm(resume_train_state(path), images), ref_state)
    assert_same_run(train_ddpm(state, images), ref_state)


def test_a_finished_run_is_not_marked_interrupted_by_a_late_ctrl_c(monkeypatch, images):
    with monkeypatch.context() as patch:
        during_step(patch, 2, sigint)  # Ctrl-C in the last step: the run is complete anyway
        state = train_ddpm(new_train_state(CFG), images, steps=2)
    assert state.step == 2 and not state.interrupted


def test_a_non_finite_loss_stops_before_the_step_is_applied(monkeypatch, images, reference):
    ref_state, _ = reference
    state = new_train_state(CFG)
    with monkeypatch.context() as patch:
        original = training.training_loss
        calls = {"n": 0}

        def loss(*args, **kwargs):
            calls["n"] += 1
            value = original(*args, **kwargs)
            return value * float("nan") if calls["n"] == 3 else value

        patch.setattr(training, "training_loss", loss)
        with pytest.raises(FloatingPointError, match="loss became nan at step 3; the step was not applied"):
            train_ddpm(state, images)
    assert state.step == 2
    assert_same_run(train_ddpm(state, images), ref_state)


# ----------------------------------------------------------------------------- the command line


@pytest.fixture
def tiny_cli(monkeypatch, images):
    """`python -m course_utils.train` with a tiny preset and 24 digits, so a run takes a second."""
    monkeypatch.setitem(PRESETS, "tiny", CFG)
    monkeypatch.setattr(train_cli, "load_mnist", lambda split: (images, torch.zeros(len(images), dtype=torch.long)))


def run_cli(argv):
    try:
        train_cli.main(argv)
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.mark.slow  # trains tiny runs twice per case: make test-fast leaves it to make test
@pytest.mark.parametrize("how, at", [("KeyboardInterrupt", 6), ("SIGINT", 6), ("SIGINT", EVERY), ("SIGINT", 1)])
def test_command_line_ctrl_c_says_how_to_resume_and_resumes_bit_for_bit(monkeypatch, tmp_path, tiny_cli, capsys, reference,
                                                                        how, at):
    out = tmp_path / "stopped" / "model.pt"
    with monkeypatch.context() as patch:
        during_step(patch, at, sigint if how == "SIGINT" else _raise)
        status = run_cli(["--preset", "tiny", "--out", str(out), "--checkpoint-every", str(EVERY)])
    printed = capsys.readouterr().out
    assert status == train_cli.INTERRUPTED_EXIT_STATUS
    assert not out.exists()  # the final file is not written as if the run had finished
    stopped_at = at if how == "SIGINT" else at - 1
    last = printed.strip().splitlines()[-1]  # one line: what happened, what is on disk, the command that continues
    assert f"stopped by Ctrl-C after step {stopped_at} of {CFG.train_steps}: " in last
    assert f"{out.with_suffix('.resume.pt')} holds the run at step {stopped_at} and {out} was not written" in last
    command = shlex.split(last.split("continue exactly with: ")[1])
    assert command[:3] == ["python", "-m", "course_utils.train"] and "--resume" in command

    assert run_cli(command[3:]) == 0
    assert f"resuming tiny from step {stopped_at}" in capsys.readouterr().out
    # the same run as the library's, never stopped (the command trains the preset with train_ddpm)
    _, expected = reference
    assert_same_file(read_checkpoint(out.with_suffix(".resume.pt")), expected)
    final = read_checkpoint(out)
    assert final["train"]["steps_done"] == CFG.train_steps and "resume" not in final
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(final["state_dict"][name], tensor), name


def test_command_line_resume_with_more_steps_continues_the_same_run(tmp_path, tiny_cli, capsys):
    """--steps on --resume is the run's new total; the first 10 steps are those of the first call."""
    out = tmp_path / "model.pt"
    assert run_cli(["--preset", "tiny", "--out", str(out)]) == 0
    first = read_checkpoint(out.with_suffix(".resume.pt"))["resume"]["losses"]
    assert run_cli(["--preset", "tiny", "--out", str(out), "--resume", "--steps", "12"]) == 0
    losses = read_checkpoint(out.with_suffix(".resume.pt"))["resume"]["losses"]
    assert len(losses) == 12 and losses[:10] == first


def test_a_new_run_does_not_overwrite_an_unfinished_one(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 3, sigint)
        assert run_cli(["--preset", "tiny", "--out", str(out)]) == train_cli.INTERRUPTED_EXIT_STATUS
    capsys.readouterr()
    assert run_cli(["--preset", "tiny", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unfinished run (step 3 of 10)" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert read_checkpoint(out.with_suffix(".resume.pt"))["train"]["steps_done"] == 3


def test_resume_of_an_init_run_keeps_where_it_started(monkeypatch, tmp_path, tiny_cli, capsys):
    start = new_train_state(replace(CFG, seed=5))
    training.save_train_state(start, tmp_path / "start.pt", resumable=False)
    out = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 2, sigint)
        assert run_cli(["--preset", "tiny", "--init", str(tmp_path / "start.pt"), "--out", str(out)]) == 130
    assert run_cli(["--preset", "tiny", "--out", str(out), "--resume"]) == 0
    assert read_checkpoint(out)["train"]["init"]["from"] == str(tmp_path / "start.pt")


# ----------------------------------------------------------------------------- Jupyter


@pytest.mark.slow
def test_interrupt_kernel_stops_the_cell_after_a_step_and_keeps_the_run_exact():
    """Notebook 4: "interrupt kernel" (a SIGINT to the kernel) stops train_ddpm, the rest of the cell runs,
    and training again carries on exactly as a run never stopped."""
    from pathlib import Path

    from jupyter_client.manager import start_new_kernel

    root = str(Path(__file__).resolve().parent.parent)
    km, kc = start_new_kernel(kernel_name="python3", cwd=root, env={**os.environ, "PYTHONPATH": root})
    try:
        setup = (
            "import torch; torch.set_num_threads(1)\n"
            "from course_utils.data import mnist_subset\n"
            "from course_utils.model import UNetConfig\n"
            "from course_utils.training import TrainConfig, new_train_state, train_ddpm\n"
            "x = mnist_subset('train', 24)[0]\n"
            f"cfg = TrainConfig(architecture=UNetConfig(**{TINY.__dict__!r}), batch_size=8, train_steps=100_000)\n"
            "state = new_train_state(cfg)\n"
        )
        assert kc.execute_interactive(setup, timeout=300)["content"]["status"] == "ok"
        msg_id = kc.execute("train_ddpm(state, x, callback=lambda s: print('training', flush=True), callback_every=5)\n"
                            "print('the cell goes on after step', state.step, state.interrupted)")
        printed, interrupted_once = "", False
        while True:
            msg = kc.get_iopub_msg(timeout=300)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
                if "training" in printed and not interrupted_once:
                    km.interrupt_kernel()
                    interrupted_once = True
            elif msg["msg_type"] == "error":
                pytest.fail(f"the cell raised {msg['content']['ename']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert "Interrupted: stopped after step" in printed and "the cell goes on after step" in printed
        assert printed.rstrip().endswith("True")
        check = (
            "stopped = state.step\n"
            "train_ddpm(state, x, steps=3)\n"
            "straight = train_ddpm(new_train_state(cfg), x, steps=stopped + 3)\n"
            "assert stopped > 0 and state.losses == straight.losses, 'not exact'\n"
            "assert all(torch.equal(a, b) for a, b in zip(state.model.parameters(), straight.model.parameters()))\n"
        )
        assert kc.execute_interactive(check, timeout=300)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
