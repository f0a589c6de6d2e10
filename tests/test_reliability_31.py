"""Issue #31's probes, one test (or a few) each: no run clobbers another, a late failure says how to recover
in one line, every command checks its arguments before any work, library calls accept or refuse their inputs
clearly, and sampling memory does not grow with the batch.

The train command runs a tiny preset on 24 digits (a second a run); the bench command is stopped before any
work by a stand-in for the benchmark, except where a test says otherwise.
"""

import errno
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from reliability_helpers import (
    CFG,
    ROOT,
    TINY,
    FakeReader,
    during_step,
    failing_save,
    one_line,
    run_cli,
    sigint,
    tiny_process,
)

from course_utils import bench, checkpoints, metrics, training
from course_utils import train as train_cli
from course_utils.bench_results import BenchRow, load_bench
from course_utils.checkpoints import read_checkpoint
from course_utils.classifier import DigitClassifier, NoisyDigitClassifier
from course_utils.data import mnist_subset
from course_utils.guidance import ClassifierGuidance
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import DDIMSampler, DDPMSampler, sample
from course_utils.schedules import make_schedule
from course_utils.training import PRESETS

EVERY = 4


@pytest.fixture(scope="module")
def images():
    return mnist_subset("train", 24, seed=0)[0]


@pytest.fixture
def tiny_cli(monkeypatch, images):
    """`python -m course_utils.train --preset tiny`: the tiny config on 24 digits."""
    monkeypatch.setitem(PRESETS, "tiny", CFG)
    monkeypatch.setattr(train_cli, "load_mnist", lambda split: (images, torch.zeros(len(images), dtype=torch.long)))
    monkeypatch.setenv("TQDM_DISABLE", "1")  # progress bars would be lines of their own


def disk_full():
    raise OSError(errno.ENOSPC, "No space left on device")


def no_tmp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def ckpt_train(path: Path) -> dict:
    return read_checkpoint(path)["train"]


# ----------------------------------------------------------------------------- bad: work lost


def test_two_runs_on_one_out_the_second_is_refused_naming_the_first(tmp_path, tiny_cli, capsys):
    out = tmp_path / "m.pt"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom course_utils.cli import OutputLock\n"
         "lock = OutputLock(Path(sys.argv[1]), '--out', 'python -m course_utils.train --preset tiny --out m.pt')\n"
         "lock.__enter__()\n"
         "print('locked', flush=True)\ntime.sleep(120)\n", str(train_cli.lock_path_for(out))],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        for other in (out, tmp_path / "m.ckpt"):  # m.ckpt's resume file is m.resume.pt too
            assert run_cli(["--preset", "tiny", "--out", str(other)]) == 2
            err = one_line(capsys.readouterr().err)
            assert f"process {holder.pid} (python -m course_utils.train --preset tiny --out m.pt, started" in err
            assert "wait for it to finish or stop it" in err
        assert not (tmp_path / "m.resume.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_cli(["--preset", "tiny", "--out", str(out)]) == 0  # the lock goes with the process that held it
    assert not train_cli.lock_path_for(out).exists()


def test_temporary_files_are_unique_to_each_save(tmp_path):
    path = tmp_path / "m.resume.pt"
    other = tmp_path / "m.resume.pt.tmp"  # what another run, saving at the same moment, used to write too
    other.write_bytes(b"the other run's save")
    checkpoints.save_checkpoint(path, {"kind": "classifier", "model_config": {}, "state_dict": {}})
    assert other.read_bytes() == b"the other run's save" and read_checkpoint(path)["kind"] == "classifier"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == ["m.resume.pt.tmp"]


def test_out_that_names_a_resume_file_is_refused_and_the_unfinished_run_survives(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "X.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 3, sigint)
        assert run_cli(["--preset", "tiny", "--out", str(out)]) == 130
    capsys.readouterr()
    resume = tmp_path / "X.resume.pt"
    before = resume.read_bytes()
    assert run_cli(["--preset", "tiny", "--out", str(resume)]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"--out {resume} is the name of the resume file that a run on {out} keeps" in err
    copy = tmp_path / "copy.pt"  # the same unfinished run under a name that does not say so
    copy.write_bytes(before)
    assert run_cli(["--preset", "tiny", "--out", str(copy)]) == 2
    assert "holds an unfinished run (step 3 of 10)" in one_line(capsys.readouterr().err)
    assert resume.read_bytes() == before == copy.read_bytes()


# ----------------------------------------------------------------------------- late failures: one line each


def test_a_full_disk_during_a_save_says_so_what_is_intact_and_how_to_continue(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "m.pt"
    with monkeypatch.context() as patch:
        saves = {"n": 0}

        def second_save(name):
            saves["n"] += 1
            return saves["n"] == 2

        failing_save(patch, second_save, disk_full)
        status = run_cli(["--preset", "tiny", "--out", str(out), "--checkpoint-every", str(EVERY)])
    err = one_line(capsys.readouterr().err)
    assert status == 1 and "the disk is full: could not write" in err and "m.resume.pt is unchanged" in err
    assert f"{tmp_path / 'm.resume.pt'} holds the run at step {EVERY}, intact; continue with: " in err
    assert no_tmp_files(tmp_path) and ckpt_train(tmp_path / "m.resume.pt")["steps_done"] == EVERY
    command = shlex.split(err.split("continue with: ")[1])
    assert run_cli(command[3:]) == 0 and ckpt_train(out)["steps_done"] == 10


def test_the_same_command_after_a_lost_final_write_offers_to_finish_the_run(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "m.pt"
    argv = ["--preset", "tiny", "--out", str(out)]
    with monkeypatch.context() as patch:
        failing_save(patch, lambda name: name.startswith(".m.pt."), disk_full)  # only the final file's write
        assert run_cli(argv) == 1
    err = one_line(capsys.readouterr().err)
    assert "the disk is full" in err and "holds the run at step 10, intact" in err and not out.exists()
    losses = read_checkpoint(tmp_path / "m.resume.pt")["resume"]["losses"]

    assert run_cli(argv) == 2  # running it again does not train 10 steps again from scratch
    err = one_line(capsys.readouterr().err)
    assert "holds a finished run (step 10 of 10) whose checkpoint" in err and "was never written" in err
    command = shlex.split(err.split("write it in seconds with: ")[1].split(" (or delete")[0])
    assert "--resume" in command and run_cli(command[3:]) == 0
    assert ckpt_train(out)["steps_done"] == 10 and read_checkpoint(tmp_path / "m.resume.pt")["resume"]["losses"] == losses

    out.unlink()  # at a terminal, the command asks, and finishes the run on Enter
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "")
    assert run_cli(argv) == 0 and ckpt_train(out)["steps_done"] == 10


def test_a_next_stage_after_a_finished_one_is_not_held_up(tmp_path, tiny_cli, capsys):
    """A recipe's next stage (--init OUT --out OUT) finds the last stage's finished run in the resume file and its
    checkpoint in OUT: that is no unwritten run, so it starts (also when the last save fell on the last step)."""
    out = tmp_path / "m.pt"
    assert run_cli(["--preset", "tiny", "--out", str(out), "--checkpoint-every", "5"]) == 0
    assert run_cli(["--preset", "tiny", "--init", str(out), "--steps", "12", "--seed", "1", "--out", str(out)]) == 0
    assert ckpt_train(out)["steps_done"] == 12 and ckpt_train(out)["init"]["steps_done"] == 10


def test_ctrl_c_or_sigterm_while_python_starts_is_one_line(tmp_path):
    """The signal arrives while `python -m course_utils.train` imports torch."""
    code = ("import os, signal, sys\n"
            "which = getattr(signal, sys.argv[1])\n"
            "class SignalOnTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch':\n"
            "            os.kill(os.getpid(), which)\n"
            "        return None\n"
            "sys.meta_path.insert(0, SignalOnTorch())\n"
            "sys.argv = ['train', '--preset', 'mnist-uncond', '--out', sys.argv[2]]\n"
            "import runpy\n"
            "runpy.run_module('course_utils.train', run_name='__main__', alter_sys=True)\n")
    for name, says in (("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")):
        done = subprocess.run([sys.executable, "-c", code, name, str(tmp_path / "m.pt")], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert done.returncode == 130, done.stderr
        assert one_line(done.stderr) == (f"python -m course_utils.train: stopped by {says} while starting: nothing was "
                                         "written; run the command again")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_out_is_written_waits_for_the_file_and_says_so(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "m.pt"
    with monkeypatch.context() as patch:
        failing_save(patch, lambda name: name.startswith(".m.pt."), sigint, partial=False)
        assert run_cli(["--preset", "tiny", "--out", str(out)]) == 130
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed == f"python -m course_utils.train: stopped by Ctrl-C as {out} was written; it is complete (the run finished)"
    assert ckpt_train(out)["steps_done"] == 10 and no_tmp_files(tmp_path)


def test_ctrl_c_twice_while_out_is_written_leaves_it_unwritten_and_says_how_to_write_it(monkeypatch, tmp_path, tiny_cli,
                                                                                       capsys):
    out = tmp_path / "m.pt"
    with monkeypatch.context() as patch:
        failing_save(patch, lambda name: name.startswith(".m.pt."), lambda: (sigint(), sigint()))
        assert run_cli(["--preset", "tiny", "--out", str(out)]) == 130
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"stopped by Ctrl-C while {out} was written: it is unchanged, and " in last and "holds the finished run" in last
    assert not out.exists() and no_tmp_files(tmp_path)
    assert run_cli(shlex.split(last.split("write " + str(out) + " with: ")[1])[3:]) == 0 and out.exists()


@pytest.mark.slow  # two training processes of their own
def test_sigterm_stops_like_ctrl_c_and_leaves_no_tmp(tmp_path):
    out = tmp_path / "m.pt"
    done = tiny_process("SIGTERM", "step:6", "--preset", "tiny", "--out", str(out))
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 130 and "stopped by SIGTERM after step 6 of 10: " in last, done.stdout + done.stderr
    assert "continue exactly with: " in last and "Traceback" not in done.stderr
    assert ckpt_train(tmp_path / "m.resume.pt")["steps_done"] == 6 and no_tmp_files(tmp_path) and not out.exists()
    command = shlex.split(last.split("continue exactly with: ")[1])
    assert tiny_process("none", "", *command[3:]).returncode == 0 and ckpt_train(out)["steps_done"] == 10


@pytest.mark.slow  # a training process of its own
def test_sigterm_in_a_script_saves_the_run_then_ends_the_process(tmp_path):
    """train_ddpm in a script (or a notebook kernel being shut down): the step finishes, the run is saved, and the
    process still ends as SIGTERM asked."""
    code = ("import os, signal, sys, torch\n"
            "from course_utils import training\n"
            "from course_utils.data import mnist_subset\n"
            "sys.path.insert(0, sys.argv[2])\n"
            "from test_reliability_31 import CFG\n"
            "original = training.training_loss\n"
            "calls = [0]\n"
            "def loss(*a, **k):\n"
            "    calls[0] += 1\n"
            "    if calls[0] == 3:\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return original(*a, **k)\n"
            "training.training_loss = loss\n"
            "images = mnist_subset('train', 24)[0]\n"
            "training.train_ddpm(training.new_train_state(CFG), images, checkpoint_path=sys.argv[1])\n"
            "print('the script went on')\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run.pt"), str(ROOT / "tests")], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"})
    assert done.returncode == -signal.SIGTERM and "the script went on" not in done.stdout, done.stdout + done.stderr
    assert "Interrupted by SIGTERM: stopped after step 3 of 10" in done.stdout
    assert ckpt_train(tmp_path / "run.pt")["steps_done"] == 3 and no_tmp_files(tmp_path)


@pytest.mark.slow  # a training process of its own
def test_sigterm_in_the_middle_of_a_save_lets_the_save_finish(tmp_path):
    done = tiny_process("SIGTERM", "save:1", "--preset", "tiny", "--out", str(tmp_path / "m.pt"), "--checkpoint-every", "3")
    assert done.returncode == 130 and "stopped by SIGTERM after step 3 of 10" in done.stdout, done.stdout + done.stderr
    assert ckpt_train(tmp_path / "m.resume.pt")["steps_done"] == 3 and no_tmp_files(tmp_path)


def test_a_diverging_learning_rate_ends_with_one_line(tmp_path, tiny_cli, capsys):
    assert run_cli(["--preset", "tiny", "--lr", "1e4", "--out", str(tmp_path / "m.pt")]) == 1
    err = one_line(capsys.readouterr().err)
    assert "training diverged: the loss became nan at step 2" in err and "nothing was saved" in err
    assert err.endswith(f"start again with a lower learning rate: python -m course_utils.train --preset tiny --out "
                        f"{tmp_path / 'm.pt'} --lr 1000")


# ----------------------------------------------------------------------------- the train command's arguments


def refused(argv, capsys) -> str:
    assert run_cli(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith("python -m course_utils.train: error:")
    return err


def test_a_huge_seed_is_refused(tmp_path, capsys):
    err = refused(["--preset", "mnist-uncond", "--seed", "99999999999999999999999", "--out", str(tmp_path / "m.pt")], capsys)
    assert "--seed must be a whole number >= 0 and at most 9223372036854775807" in err


@pytest.mark.parametrize("out", [".", "", ".."])
def test_an_out_that_is_no_file_name_is_refused(tmp_path, capsys, out):
    assert "is not a file name" in refused(["--preset", "mnist-uncond", "--out", out], capsys)


@pytest.mark.parametrize("lr", ["-1e-3", "-inf", "-2"])
def test_a_negative_learning_rate_is_read_as_one_and_refused(tmp_path, capsys, lr):
    assert "--lr must be a number > 0" in refused(["--preset", "mnist-uncond", "--lr", lr, "--out", str(tmp_path / "m.pt")],
                                                  capsys)


@pytest.mark.parametrize("missing", ["train", "state_dict"])
def test_an_init_checkpoint_without_its_parts_is_refused_by_name(tmp_path, capsys, missing):
    state = training.new_train_state(PRESETS["mnist-uncond"])
    path = training.save_train_state(state, tmp_path / "start.pt", resumable=False)
    ckpt = torch.load(path, weights_only=True)
    del ckpt[missing]
    torch.save(ckpt, path)
    err = refused(["--preset", "mnist-uncond", "--init", str(path), "--out", str(tmp_path / "m.pt")], capsys)
    assert f"--init: {path} is a 'ddpm' checkpoint without '{missing}'" in err


def test_a_resume_keeps_its_thread_count_or_warns(monkeypatch, tmp_path, tiny_cli, capsys):
    out = tmp_path / "m.pt"
    with monkeypatch.context() as patch:
        during_step(patch, 4, sigint)
        assert run_cli(["--preset", "tiny", "--threads", "1", "--out", str(out)]) == 130
    assert ckpt_train(tmp_path / "m.resume.pt")["threads"] == 1
    capsys.readouterr()
    torch.set_num_threads(2)
    try:
        with monkeypatch.context() as patch:
            during_step(patch, 1, sigint)
            assert run_cli(["--preset", "tiny", "--out", str(out), "--resume"]) == 130
        printed = capsys.readouterr()
        assert "resuming with --threads 1, the count this run was trained with" in printed.out
        assert torch.get_num_threads() == 1
        assert run_cli(["--preset", "tiny", "--out", str(out), "--resume", "--threads", "2"]) == 0
        assert "warning: --threads 2 differs from the 1 this run was trained with" in capsys.readouterr().err
    finally:
        torch.set_num_threads(1)


# ----------------------------------------------------------------------------- the bench command's arguments


@pytest.fixture
def no_bench(monkeypatch):
    """The bench command must refuse before any work: the benchmark or the floor curve running fails the test."""
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("the benchmark ran before the checks"))
    monkeypatch.setattr(bench, "floor_curve", lambda *a, **k: pytest.fail("the floor curve ran before the checks"))


def bench_refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith("python -m course_utils.bench: error:") and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, says", [
    (["--n", "0"], "--n must be a whole number from 2 to 10000"),
    (["--n", "1"], "--n must be a whole number from 2 to 10000"),
    (["--n", "-5"], "--n must be a whole number from 2 to 10000"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--threads", "-2"], "--threads must be a whole number from 1 to 1024"),
    (["--threads", "0"], "--threads must be a whole number from 1 to 1024"),
    (["--eta", "nan"], "--eta must be a finite number >= 0"),
    (["--quick", "--n", "100"], "--quick runs 64 samples per row and would ignore --n 100"),
])
def test_bench_arguments_are_checked_before_any_work(no_bench, capsys, argv, says):
    assert says in bench_refused(argv, capsys)


def test_bench_on_cuda_without_a_gpu_is_one_line(no_bench, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = bench_refused(["--device", "cuda"], capsys)
    assert "--device cuda: torch sees no CUDA GPU on this machine; use --device cpu" in err


def test_bench_output_folders_are_checked_first_and_made_when_missing(tmp_path, capsys, monkeypatch, no_bench):
    (tmp_path / "a-file").write_text("")
    assert "is a file, not a folder" in bench_refused(["--csv", str(tmp_path / "a-file" / "b.csv")], capsys)
    row = BenchRow("uncond", "DDIM", 10, "—", 1.0, 20.0, 3.0, 14.0, 0.9, 80.0, 1.0, None)
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: [row])
    monkeypatch.setattr(bench, "floor_note", lambda *a, **k: "floor note")
    bench.main(["--models", "uncond", "--rows", "DDIM-10", "--csv", str(tmp_path / "nodir" / "b.csv")])
    assert load_bench(tmp_path / "nodir" / "b.csv") == [row]


@pytest.mark.parametrize("command", [train_cli, bench], ids=["train", "bench"])
def test_every_option_has_help(command):
    for action in command.build_parser()._actions:
        assert action.help, action.option_strings


@pytest.mark.slow  # samples at two batch sizes: make test-fast leaves it to make test
def test_stochastic_rows_do_not_depend_on_the_batch_size():
    rows = [bench.run_benchmark(20, which="uncond", unconditional_rows=[("SDE-DPM++2M", 4), ("DDPM", 1000)][:1],
                                batch_size=size, device="cpu")[0] for size in (20, 7)]
    assert rows[0].fid == pytest.approx(rows[1].fid, abs=1e-3)
    assert rows[0].recognised == rows[1].recognised and rows[0].mean_confidence == pytest.approx(rows[1].mean_confidence)


# ----------------------------------------------------------------------------- library calls from a notebook



@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_noise_and_images_of_another_float_dtype_are_converted(model, schedule, dtype):
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    expected = sample(model, DDIMSampler(schedule, 3), noise=noise.to(dtype).float(), show_progress=False).images
    got = sample(model, DDIMSampler(schedule, 3), noise=noise.to(dtype), show_progress=False).images
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=1e-5)
    with torch.no_grad():
        assert model(noise.to(dtype), torch.tensor([5, 5])).dtype == torch.float32


def test_uint8_noise_or_images_are_refused_with_the_fix(model, schedule):
    pixels = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"uint8 pixels in \[0, 255\] become the course's \[-1, 1\] with x.float\(\) / 127.5"):
        sample(model, DDIMSampler(schedule, 3), noise=pixels, show_progress=False)
    with pytest.raises(ValueError, match="x.float"):
        model(pixels, torch.tensor([5, 5]))


@pytest.mark.parametrize("noise", [[[0.0]], ((0.0,),)])
def test_a_list_for_noise_gets_a_one_line_message(model, schedule, noise):
    with pytest.raises(ValueError, match=r"noise must be a torch.Tensor of shape \(N, C, H, W\), got (list|tuple)"):
        sample(model, DDIMSampler(schedule, 3), noise=noise, show_progress=False)


@pytest.mark.parametrize("scale, says", [(1.0, r"no pixel below 0 \(they lie in \[0, 1\]\): images in \[0, 1\] .* 2 \* x - 1"),
                                         (255.0, r"far outside the course's \[-1, 1\]: pixels in \[0, 255\] .* x / 127.5 - 1")])
def test_evaluate_samples_refuses_images_in_0_1_or_0_255(scale, says):
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * scale
    with pytest.raises(ValueError, match=says):
        metrics.evaluate_samples(FakeReader(), images, floor=0.0)
    with pytest.raises(ValueError, match=says):
        metrics.digit_fid(FakeReader(), images)


def test_evaluate_samples_checks_labels_against_the_classifier(monkeypatch):
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    with pytest.raises(ValueError, match=r"labels must be digits 0-9, got \[11\]. give the classes the samples were made for"):
        metrics.evaluate_samples(FakeReader(), images, torch.tensor([1, 2, 3, 11]), floor=0.0)


def test_nan_weights_are_named_as_weights(schedule):
    broken = TinyUNet(TINY).eval()
    with torch.no_grad():
        broken.out_conv.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="the weights of the model contain NaN or infinity"):
        sample(broken, DDIMSampler(schedule, 3), 2, show_progress=False)
    with pytest.raises(ValueError, match="the weights of the model contain NaN"):
        sample(broken, DDPMSampler(schedule), 2, show_progress=False)


@pytest.mark.parametrize("build, says", [
    (lambda: make_schedule("linear", 0), r"num_timesteps \(T, the diffusion steps\) must be a whole number >= 1, got 0"),
    (lambda: make_schedule("cosine", 0), "must be a whole number >= 1, got 0"),
    (lambda: UNetConfig(base_channels=-16), "UNetConfig.base_channels must be a whole number >= 1, got -16"),
    (lambda: UNetConfig(channel_mults=(1, -2)), r"UNetConfig.channel_mults\[1\] must be a whole number >= 1"),
])
def test_configs_are_checked_where_they_are_built(build, says):
    with pytest.raises(ValueError, match=says):
        build()


def test_a_truncated_real_stats_file_is_named(tmp_path, monkeypatch):
    from course_utils import looks_real
    from course_utils.data import data_dir

    shipped = (data_dir() / looks_real.REAL_STATS_FILE).read_bytes()
    (tmp_path / looks_real.REAL_STATS_FILE).write_bytes(shipped[: len(shipped) // 2])
    monkeypatch.setattr(looks_real, "data_dir", lambda: tmp_path)
    path = tmp_path / looks_real.REAL_STATS_FILE
    with pytest.raises(ValueError, match=f"could not read the real-digit statistics from {path}"):
        looks_real.real_digit_stats(FakeReader(), looks_real.RealStatsCache())


def test_classifier_guidance_with_a_classifier_that_is_not_noise_aware_is_refused(model, schedule):
    with pytest.raises(ValueError, match="needs a noise-aware classifier p\\(y | x_t, t\\), called as classifier\\(x_t, t\\)"):
        ClassifierGuidance(model, DigitClassifier(), schedule, 1.0)
    ClassifierGuidance(model, NoisyDigitClassifier(), schedule, 1.0)  # the noise-aware one is fine


# ----------------------------------------------------------------------------- memory


class _Counting(torch.nn.Module):
    """A model wrapper that remembers the largest batch it was called with."""

    def __init__(self, model):
        super().__init__()
        self.model, self.largest = model, 0

    def forward(self, x, t, labels=None):
        self.largest = max(self.largest, len(x))
        return self.model(x, t)


@pytest.mark.slow  # samples at several chunk sizes: make test-fast leaves it to make test
def test_sample_calls_the_network_on_chunks_and_gives_the_same_images_for_any_chunk(model, schedule):
    noise = torch.randn(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    runs = {}
    for chunk in (10, 4, 3):
        counting = _Counting(model)
        runs[chunk] = sample(counting, DDPMSampler(make_schedule("linear", 30)), noise=noise, chunk_size=chunk,
                             generator=torch.Generator().manual_seed(1), show_progress=False).images
        assert counting.largest == chunk
    assert torch.allclose(runs[10], runs[4], atol=1e-4) and torch.allclose(runs[10], runs[3], atol=1e-4)


def test_with_image_streams_an_image_does_not_depend_on_the_others(model):
    from course_utils.forward import ImageGenerators

    noise = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ddpm = DDPMSampler(make_schedule("linear", 30))
    all_six = sample(model, ddpm, noise=noise, generator=ImageGenerators(torch.Generator().manual_seed(1), 6),
                     show_progress=False).images
    alone = sample(model, ddpm, noise=noise[2:4], generator=ImageGenerators(torch.Generator().manual_seed(1), 6)[2:4],
                   show_progress=False).images
    assert torch.allclose(alone, all_six[2:4], atol=1e-4)


def test_the_chunk_is_chosen_from_free_memory(model, schedule, monkeypatch):
    import course_utils.samplers as samplers

    monkeypatch.setattr(samplers, "available_memory", lambda device: 16 * 2**20)  # 16 MiB free
    counting = _Counting(model)
    sample(counting, DDIMSampler(schedule, 2), 64, show_progress=False)
    assert 1 <= counting.largest < 64  # a quarter of 16 MiB at about 1 MiB per image of a width-8 U-Net


def test_trajectories_for_chosen_images_only(model, schedule):
    out = sample(model, DDIMSampler(schedule, 5), 6, generator=torch.Generator().manual_seed(0), trajectory_images=[1, 4],
                 show_progress=False)
    assert len(out.trajectory) == 6 and len(out.x0_hat) == 5 and out.trajectory_images == [1, 4]
    assert all(x.shape == (2, 1, 28, 28) for x in out.trajectory + out.x0_hat)
    assert torch.equal(out.trajectory[-1], out.images[[1, 4]].cpu())
