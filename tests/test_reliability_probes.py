"""More probes of issue #31's kinds, not listed in the issue: what a careful user with bad input tries next.

Each test is one probe. Before the fixes of issue #31, the ones marked BAD lost work, and the others
(POOR) ended in a traceback from deep inside torch or gave a silently wrong answer; the rest were already good
and are kept here so they stay so. See the module docstring of tests/test_reliability_31.py for the setup.
"""

import os
import subprocess
import sys

import pytest
import torch
from reliability_helpers import CFG, ROOT, TINY, one_line, run_cli, tiny_process

from course_utils import bench, metrics, plotting
from course_utils import train as train_cli
from course_utils.checkpoints import read_checkpoint, save_checkpoint
from course_utils.data import mnist_subset
from course_utils.inpainting import half_mask, inpaint
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import DDIMSampler, sample
from course_utils.schedules import make_schedule
from course_utils.training import PRESETS, TrainConfig, new_train_state, save_train_state, train_ddpm


def refused(argv, capsys) -> str:
    assert run_cli(argv) == 2
    return one_line(capsys.readouterr().err)


def bench_refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    return one_line(capsys.readouterr().err)


@pytest.fixture
def no_bench(monkeypatch):
    """The bench command must refuse before any work: the benchmark or the floor curve running fails the test."""
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("the benchmark ran before the checks"))
    monkeypatch.setattr(bench, "floor_curve", lambda *a, **k: pytest.fail("the floor curve ran before the checks"))



# ----------------------------------------------------------------------------- the train command


def test_p01_a_huge_thread_count_is_refused(tmp_path, capsys):  # POOR: torch's overflow traceback after the checks
    assert "--threads must be a whole number from 1 to 1024" in refused(
        ["--preset", "mnist-uncond", "--threads", "99999999999", "--out", str(tmp_path / "m.pt")], capsys)


def test_p02_a_resume_file_from_another_course_version_is_one_line(tmp_path, capsys):  # POOR: ValueError traceback
    state = new_train_state(PRESETS["mnist-uncond"])
    path = save_train_state(state, tmp_path / "m.resume.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["train"]["architecture"]["wavelets"] = True  # a setting this version does not know
    torch.save(ckpt, path)
    err = refused(["--preset", "mnist-uncond", "--resume", "--out", str(tmp_path / "m.pt")], capsys)
    assert "holds a recipe this version of the course cannot read" in err and "unknown UNetConfig fields" in err


@pytest.mark.slow  # a training process of its own
def test_p03_ctrl_c_while_the_digits_load_is_one_line(tmp_path):  # POOR: a KeyboardInterrupt traceback
    done = tiny_process("SIGINT", "load:1", "--preset", "tiny", "--out", str(tmp_path / "m.pt"))
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip().splitlines()[-1] == ("python -m course_utils.train: stopped by Ctrl-C: nothing was written; "
                                                   f"run the command again: python -m course_utils.train --preset tiny "
                                                   f"--out {tmp_path / 'm.pt'}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a training process of its own
def test_p04_sigterm_while_the_vae_trains_is_one_line(tmp_path):  # POOR: killed on the spot, nothing said
    done = tiny_process("SIGTERM", "vae:3", "--preset", "vae", "--epochs", "10", "--out", str(tmp_path / "v.pt"))
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "stopped by SIGTERM after step 3 of 10: the vae was not saved" in last and "run the command again" in last
    assert not (tmp_path / "v.pt").exists()


def test_p05_a_full_disk_when_the_vae_is_saved_is_one_line(tmp_path, monkeypatch, capsys):  # POOR: torch traceback
    import course_utils.data
    import course_utils.vae

    images, labels = mnist_subset("train", 24, seed=0)
    monkeypatch.setattr(course_utils.data, "load_mnist", lambda split: (images, labels))
    monkeypatch.setattr(course_utils.vae, "train_vae", lambda x, train, device: (course_utils.vae.TinyVAE().eval(), [1.0]))
    original = torch.save

    def full(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    assert run_cli(["--preset", "vae", "--out", str(tmp_path / "v.pt")]) == 1
    monkeypatch.setattr(torch, "save", original)
    err = one_line(capsys.readouterr().err)
    assert "the disk is full: could not write" in err and "run the command again" in err
    assert list(tmp_path.iterdir()) == []  # no .tmp left


def test_p06_a_resume_while_a_run_on_the_same_out_is_going_is_refused(tmp_path, capsys):  # BAD: both wrote one file
    out = tmp_path / "m.pt"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom course_utils.cli import OutputLock\n"
         "lock = OutputLock(Path(sys.argv[1]), '--out', 'the first run')\nlock.__enter__()\n"
         "print('locked', flush=True)\ntime.sleep(120)\n", str(tmp_path / "m.lock")],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        save_train_state(new_train_state(PRESETS["mnist-uncond"]), tmp_path / "m.resume.pt")
        err = refused(["--preset", "mnist-uncond", "--resume", "--out", str(out)], capsys)
        assert f"process {holder.pid} (the first run" in err
    finally:
        holder.kill()
        holder.wait()


def test_p07_a_lock_left_by_a_killed_run_does_not_block(tmp_path, monkeypatch, capsys):  # good before and after
    images = mnist_subset("train", 24, seed=0)[0]
    monkeypatch.setitem(PRESETS, "tiny", CFG)
    monkeypatch.setattr(train_cli, "load_mnist", lambda split: (images, torch.zeros(24, dtype=torch.long)))
    (tmp_path / "m.lock").write_text("4242\npython -m course_utils.train ...\n2020-01-01 00:00:00\n")
    assert run_cli(["--preset", "tiny", "--out", str(tmp_path / "m.pt")]) == 0
    assert not (tmp_path / "m.lock").exists()


def test_p08_an_init_from_a_classifier_is_one_line(tmp_path, capsys):  # good before
    from course_utils.pretrained import checkpoint_path

    err = refused(["--preset", "mnist-uncond", "--init", str(checkpoint_path("classifier")), "--out", str(tmp_path / "m.pt")],
                  capsys)
    assert "holds a 'classifier' model, but a 'ddpm' or 'flow' or 'text2img' model was asked for" in err


def test_p09_a_seed_that_is_not_a_number_is_one_line(tmp_path, capsys):  # good before
    assert "argument --seed: invalid int value" in refused(["--preset", "vae", "--seed", "1e3", "--out", str(tmp_path / "v.pt")],
                                                           capsys)


# ----------------------------------------------------------------------------- the bench command


def test_p10_a_row_in_the_wrong_case_suggests_the_right_one(no_bench, capsys):  # good before (no suggestion then)
    assert "'ddim-50' names no sampler (did you mean DDIM-50?)" in bench_refused(["--rows", "ddim-50"], capsys)


def test_p11_csv_and_markdown_on_one_file_are_refused(no_bench, tmp_path, capsys):  # POOR: the markdown overwrote the csv
    assert "are the same file" in bench_refused(["--csv", str(tmp_path / "b"), "--markdown", str(tmp_path / "b")], capsys)


def test_p12_a_table_over_a_saved_run_is_refused(no_bench, tmp_path, capsys):  # BAD: the run's resume file was overwritten
    run = save_train_state(new_train_state(PRESETS["mnist-uncond"]), tmp_path / "m.resume.pt")
    before = run.read_bytes()
    assert "holds a saved model or run" in bench_refused(["--csv", str(run)], capsys)
    assert run.read_bytes() == before


def test_p13_floor_curve_refuses_options_it_ignores(no_bench, capsys):  # POOR: --n was silently ignored
    err = bench_refused(["--floor-curve", "--n", "50"], capsys)
    assert "--floor-curve prints the floor and exits; it does not use --n" in err


def test_p14_eta_without_a_ddim_row_is_refused(no_bench, capsys):  # POOR: silently ignored
    refused = bench_refused(["--eta", "0.5", "--rows", "DPM++2M-10"], capsys)
    assert "none of the --rows takes it (the samplers that do: DDIM)" in refused


def test_p15_bench_threads_overflow_is_one_line(no_bench, capsys):  # POOR: torch's overflow traceback
    assert "--threads must be a whole number from 1 to 1024" in bench_refused(["--threads", "99999999999"], capsys)


def test_p16_bench_on_a_device_that_is_no_device_is_one_line(no_bench, capsys):  # POOR: torch's traceback
    assert "--device 'gpu' is not a device: use cuda, mps or cpu" in bench_refused(["--device", "gpu"], capsys)


def test_p17_bench_with_course_device_set_to_a_missing_gpu_is_one_line(no_bench, capsys, monkeypatch):  # POOR
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "COURSE_DEVICE cuda: torch sees no CUDA GPU" in bench_refused([], capsys)


def test_p18_infinite_guidance_scales_are_refused(no_bench, capsys):  # good before
    assert "--scales must be finite and >= 0" in bench_refused(["--models", "cond", "--scales", "1e400"], capsys)


# ----------------------------------------------------------------------------- library calls


def test_p19_num_images_and_noise_that_disagree_are_refused(model, schedule):  # POOR: num_images silently ignored
    with pytest.raises(ValueError, match=r"num_images \(5\) and the noise's 3 images disagree"):
        sample(model, DDIMSampler(schedule, 2), 5, noise=torch.randn(3, 1, 28, 28), show_progress=False)


def test_p20_inpainting_refuses_a_known_image_in_0_1(model, schedule):  # POOR: silently wrong
    known = (mnist_subset("test", 2)[0] + 1) / 2
    with pytest.raises(ValueError, match=r"images in \[0, 1\] become the course's \[-1, 1\]"):
        inpaint(model, DDIMSampler(schedule, 2), known, half_mask(), show_progress=False)


def test_p21_inpainting_refuses_a_mask_that_does_not_fit(model, schedule):  # POOR: torch's broadcasting traceback
    with pytest.raises(ValueError, match=r"mask \(1, 1, 14, 14\) must broadcast against the images \(2, 1, 28, 28\)"):
        inpaint(model, DDIMSampler(schedule, 2), mnist_subset("test", 2)[0], half_mask(size=14), show_progress=False)


def test_p22_training_on_uint8_digits_is_refused_with_the_fix():  # POOR: torch's dtype traceback
    state = new_train_state(CFG)
    with pytest.raises(ValueError, match=r"x.float\(\) / 127.5 - 1"):
        train_ddpm(state, torch.zeros(24, 1, 28, 28, dtype=torch.uint8), steps=1)


def test_p23_training_with_too_few_labels_is_refused():  # POOR: an IndexError from deep in the batcher
    state = new_train_state(TrainConfig(architecture=UNetConfig(**{**TINY.__dict__, "num_classes": 10}), batch_size=8))
    with pytest.raises(ValueError, match=r"labels must have shape \(24,\), one per image, got \(20,\)"):
        train_ddpm(state, mnist_subset("train", 24)[0], torch.zeros(20, dtype=torch.long), steps=1)


@pytest.mark.parametrize("settings, says", [
    ({"batch_size": 0}, "TrainConfig.batch_size must be a whole number >= 1"),  # POOR: ZeroDivisionError later
    ({"ema_decay": 1.5}, "TrainConfig.ema_decay must be a finite number >= 0 and <= 1"),  # POOR: a silently diverging EMA
    ({"seed": 2**70}, "TrainConfig.seed must be a whole number from 0 to"),  # POOR: overflow when training starts
])
def test_p24_train_configs_are_checked_when_built(settings, says):
    with pytest.raises(ValueError, match=says):
        TrainConfig(**settings)


def test_p25_groups_that_do_not_divide_the_channels_are_explained():  # POOR: torch's GroupNorm error
    with pytest.raises(ValueError, match=r"UNetConfig.groups \(3\) must divide every level's channel count \[16, 32\]"):
        UNetConfig(groups=3)


def test_p26_a_linear_schedule_with_few_steps_says_why():  # POOR: "betas must be ... in (0, 1)", no reason given
    with pytest.raises(ValueError, match="the linear schedule needs T >= 21 .* use the cosine schedule"):
        make_schedule("linear", 10)


def test_p27_showing_uint8_images_is_refused_with_the_fix():  # POOR: silently all white
    with pytest.raises(ValueError, match=r"x.float\(\) / 127.5 - 1"):
        plotting.show_images(torch.full((2, 1, 28, 28), 200, dtype=torch.uint8))


def test_p28_showing_a_single_image_says_add_the_batch_dimension():  # POOR: "not enough values to unpack"
    with pytest.raises(ValueError, match=r"add the batch dimension with images\[None\]"):
        plotting.show_images(torch.zeros(1, 28, 28))


def test_p29_classify_refuses_pixels_in_0_255():  # POOR: silently clipped to all white
    from course_utils.pretrained import load_classifier

    with pytest.raises(ValueError, match=r"pixels in \[0, 255\] become \[-1, 1\] with x / 127.5 - 1"):
        metrics.classify(load_classifier(), torch.full((2, 1, 28, 28), 255.0))


def test_p30_a_ddpm_checkpoint_without_its_schedule_is_named(tmp_path):  # POOR: KeyError 'schedule'
    from course_utils.pretrained import load_ddpm

    state = new_train_state(PRESETS["mnist-uncond"])
    ckpt = torch.load(save_train_state(state, tmp_path / "m.pt", resumable=False), weights_only=True)
    del ckpt["schedule"]
    torch.save(ckpt, tmp_path / "m.pt")
    with pytest.raises(Exception, match=r"m.pt is a 'ddpm' checkpoint without 'schedule'"):
        load_ddpm(tmp_path / "m.pt")


def test_p31_a_seed_that_is_not_whole_is_refused():  # POOR: torch's TypeError
    from course_utils.env import set_seed

    with pytest.raises(ValueError, match="seed must be a whole number from 0 to"):
        set_seed(1.5)


def test_p32_accuracy_with_fewer_labels_than_images_is_refused():  # POOR: a broadcasting error
    from course_utils.classifier import DigitClassifier, accuracy

    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        accuracy(DigitClassifier().eval(), mnist_subset("test", 4)[0], torch.zeros(3, dtype=torch.long))


def test_p33_thread_counts_that_overflow_are_refused():  # POOR: torch's overflow traceback
    from course_utils.env import time_thread_counts

    with pytest.raises(ValueError, match="each of counts"):
        time_thread_counts(lambda: None, [10**20])


def test_p34_eta_true_is_not_taken_for_one(schedule):  # POOR: a bool silently taken as η = 1
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        DDIMSampler(schedule, 10, eta=True)


def test_p35_a_ddpm_given_fractional_steps_is_told_so(model):  # POOR: silently embedded as steps 0.5
    with pytest.raises(ValueError, match="t must hold whole step indices 0 … T-1 for this model"):
        model(torch.zeros(2, 1, 28, 28), torch.tensor([0.5, 0.5]))


def test_p36_a_classifier_with_nan_weights_is_named(monkeypatch):  # POOR: NaN confidences, 0% recognised, no word
    from course_utils.pretrained import load_classifier

    classifier = load_classifier()
    with torch.no_grad():
        classifier.hidden[2].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="the weights of the classifier contain NaN"):
        metrics.evaluate_samples(classifier, mnist_subset("test", 4)[0], floor=0.0)


@pytest.mark.parametrize("call", [lambda f: metrics.fid_bootstrap_sd(f, f, rounds=1),
                                  lambda f: metrics.floor_spread(None, 10, draws=1)], ids=["bootstrap", "floor_spread"])
def test_p37_a_standard_deviation_of_one_value_is_refused(call):  # POOR: a silent nan
    with pytest.raises(ValueError, match="a standard deviation needs two"):
        call(torch.randn(10, 4))


def test_p38_labels_as_a_list_still_work(model, schedule):  # good before and after
    cond = TinyUNet(UNetConfig(**{**TINY.__dict__, "num_classes": 10})).eval()
    out = sample(cond, DDIMSampler(schedule, 2), 2, labels=[3, 7], show_progress=False)
    assert out.images.shape == (2, 1, 28, 28)


def test_p39_a_truncated_resume_file_is_one_line(tmp_path, capsys):  # good before
    path = save_train_state(new_train_state(PRESETS["mnist-uncond"]), tmp_path / "m.resume.pt")
    path.write_bytes(path.read_bytes()[:1000])
    assert "could not read checkpoint" in refused(["--preset", "mnist-uncond", "--resume", "--out", str(tmp_path / "m.pt")],
                                                  capsys)


def test_p40_a_checkpoint_saved_over_a_folder_is_refused(tmp_path):  # good before
    (tmp_path / "models").mkdir()
    with pytest.raises(Exception, match="that is a folder"):
        save_checkpoint(tmp_path / "models", {"kind": "vae"})
    with pytest.raises(Exception, match="is a folder, not a checkpoint file"):
        read_checkpoint(tmp_path / "models")


PROBES_BEFORE = {  # what each probe found before issue #31's fixes (run on dd9adea), by its number
    "bad": [6, 12],
    "poor": [1, 2, 3, 4, 5, 11, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
             36, 37],
    "good": [7, 8, 9, 10, 18, 38, 39, 40],
}


def test_the_probe_table_covers_every_probe():
    numbers = sorted(n for kind in PROBES_BEFORE.values() for n in kind)
    here = sorted({int(name[6:8]) for name in globals() if name.startswith("test_p") and name[6:8].isdigit()})
    assert numbers == here, "every probe is counted once in PROBES_BEFORE"
