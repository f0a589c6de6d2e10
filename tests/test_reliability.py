"""Issue #22's probe table, one test (or a few) per row: each bad input gets a clear one-line error
before any work, or a correct result.

The first two rows (SIGINT then ``--resume``; the message on SIGINT) are in tests/test_resume.py.
"""

import math
import tempfile
from pathlib import Path

import pytest
import torch
from reliability_helpers import FakeReader

from course_utils import data, metrics, pretrained
from course_utils import train as train_cli
from course_utils.classifier import NoisyDigitClassifier
from course_utils.guidance import ClassifierFreeGuidance, ClassifierGuidance
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import DDIMSampler, sample
from course_utils.schedules import make_schedule
from course_utils.training import PRESETS, TrainConfig, new_train_state, save_train_state

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)

# ----------------------------------------------------------------------------- python -m course_utils.train


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the command starts any work: loading MNIST, building a model, training."""

    def work(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    for name in ("load_mnist", "new_train_state", "resume_train_state", "train_ddpm", "save_train_state"):
        monkeypatch.setattr(train_cli, name, work)
    import course_utils.classifier

    monkeypatch.setattr(course_utils.classifier, "train_classifier_command", work)
    import course_utils.vae

    monkeypatch.setattr(course_utils.vae, "train_vae_command", work)


def refused(argv, capsys) -> str:
    """Run the command; it must stop with status 2 and exactly one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as exit_:
        train_cli.main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m course_utils.train: error:")
    return lines[0]


@pytest.mark.parametrize("steps", ["-5", "0"])
def test_steps_must_be_positive(tmp_path, no_work, capsys, steps):
    err = refused(["--preset", "mnist-uncond", "--steps", steps, "--out", str(tmp_path / "m.pt")], capsys)
    assert "--steps must be at least 1" in err and steps in err
    assert list(tmp_path.iterdir()) == []


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores chmod, so then /sys)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            tempfile.TemporaryFile(dir=candidate).close()
        except OSError:
            return candidate
    pytest.skip("no folder here refuses writes to this process")


def test_read_only_output_folder_is_refused_before_training(tmp_path, no_work, capsys):
    folder = _read_only_folder(tmp_path)
    err = refused(["--preset", "mnist-uncond", "--out", str(folder / "model.pt")], capsys)
    assert "--out" in err and "cannot write" in err and "choose a folder you can write to" in err


def test_out_that_is_a_folder_is_refused_and_leaves_nothing(tmp_path, no_work, capsys):
    (tmp_path / "models").mkdir()
    err = refused(["--preset", "mnist-uncond", "--out", str(tmp_path / "models")], capsys)
    assert "is a folder" in err and "models/model.pt" in err
    assert [p.name for p in tmp_path.rglob("*")] == ["models"]  # no *.tmp, no probe file


def test_save_checkpoint_leaves_no_tmp_file_when_the_write_fails(tmp_path):
    from course_utils.checkpoints import CheckpointError, save_checkpoint

    (tmp_path / "models").mkdir()
    with pytest.raises(CheckpointError, match="is a folder"):
        save_checkpoint(tmp_path / "models", {"kind": "ddpm"})
    folder = _read_only_folder(tmp_path)
    with pytest.raises((OSError, RuntimeError)):  # torch.save reports a refused file as a RuntimeError
        save_checkpoint(folder / "model.pt", {"kind": "ddpm"})
    assert not list(tmp_path.rglob("*.tmp"))


def test_out_inside_a_file_or_a_read_only_folder_is_refused_and_makes_no_folders(tmp_path, no_work, capsys):
    (tmp_path / "notes.txt").write_text("a file")
    err = refused(["--preset", "mnist-uncond", "--out", str(tmp_path / "notes.txt" / "m.pt")], capsys)
    assert "is a file, not a folder" in err
    folder = _read_only_folder(tmp_path)
    err = refused(["--preset", "mnist-uncond", "--out", str(folder / "new" / "deeper" / "m.pt")], capsys)
    assert f"cannot write in {folder}" in err
    assert not (folder / "new").exists()


def test_checkpoint_interval_must_be_at_least_one(tmp_path, no_work, capsys):
    err = refused(["--preset", "mnist-uncond", "--checkpoint-every", "0", "--out", str(tmp_path / "m.pt")], capsys)
    assert "--checkpoint-every must be at least 1" in err


def test_resume_without_a_resume_file_says_so(tmp_path, no_work, capsys):
    err = refused(["--preset", "mnist-uncond", "--resume", "--out", str(tmp_path / "m.pt")], capsys)
    assert "--resume" in err and str(tmp_path / "m.resume.pt") in err and "without --resume" in err
    assert "Pretrained" not in err


@pytest.mark.parametrize("lr", ["-1", "0", "nan", "inf"])
def test_learning_rate_must_be_positive(tmp_path, no_work, capsys, lr):
    err = refused(["--preset", "mnist-uncond", "--lr", lr, "--out", str(tmp_path / "m.pt")], capsys)
    assert "--lr must be a number > 0" in err


def test_cuda_without_a_gpu_is_one_line(tmp_path, no_work, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = refused(["--preset", "mnist-uncond", "--device", "cuda", "--out", str(tmp_path / "m.pt")], capsys)
    assert "--device cuda" in err and "no CUDA GPU" in err and "--device cpu" in err


@pytest.mark.parametrize("device, says", [("gpu", "is not a device"), ("meta", "cuda, mps or cpu")])
def test_unknown_device_is_one_line(tmp_path, no_work, capsys, device, says):
    err = refused(["--preset", "mnist-uncond", "--device", device, "--out", str(tmp_path / "m.pt")], capsys)
    assert "--device" in err and says in err


def test_device_from_the_environment_is_checked_too(tmp_path, no_work, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    assert "COURSE_DEVICE 'gpu' is not a device" in refused(["--preset", "mnist-uncond", "--out", str(tmp_path / "m.pt")], capsys)


def test_resume_with_another_preset_says_what_differs(tmp_path, no_work, capsys):
    save_train_state(new_train_state(PRESETS["mnist-cond"]), tmp_path / "m.resume.pt")
    err = refused(["--preset", "mnist-uncond", "--resume", "--out", str(tmp_path / "m.pt")], capsys)
    assert "does not fit --preset mnist-uncond" in err and "architecture.num_classes: 10 vs None" in err
    assert "use --preset mnist-cond" in err


def test_resume_of_a_sampling_only_file_is_refused(tmp_path, no_work, capsys):
    save_train_state(new_train_state(PRESETS["mnist-uncond"]), tmp_path / "m.resume.pt", resumable=False)
    err = refused(["--preset", "mnist-uncond", "--resume", "--out", str(tmp_path / "m.pt")], capsys)
    assert "only sampling weights" in err and "--init" in err


def test_resume_steps_are_the_total_and_must_not_be_less_than_what_is_done(tmp_path, no_work, capsys):
    state = new_train_state(PRESETS["mnist-uncond"])
    state.step = 20
    save_train_state(state, tmp_path / "m.resume.pt")
    err = refused(["--preset", "mnist-uncond", "--resume", "--steps", "15", "--out", str(tmp_path / "m.pt")], capsys)
    assert "already trained 20 steps" in err and "at least 20" in err
    err = refused(["--preset", "mnist-uncond", "--resume", "--seed", "3", "--out", str(tmp_path / "m.pt")], capsys)
    assert "--seed" in err and "keeps its own seed" in err


def test_classifier_counts_epochs_and_refuses_steps(tmp_path, no_work, capsys):
    help_text = " ".join(train_cli.build_parser().format_help().split())
    assert "--epochs" in help_text and "classifier, vae and autoencoder presets: passes over the 60,000" in help_text
    out = str(tmp_path / "c.pt")
    assert "use --epochs N" in refused(["--preset", "classifier", "--steps", "3", "--out", out], capsys)
    assert "--epochs must be at least 1" in refused(["--preset", "classifier", "--epochs", "0", "--out", out], capsys)
    assert "--resume is for the DDPM presets" in refused(["--preset", "classifier", "--resume", "--out", out], capsys)
    assert "use --steps N" in refused(["--preset", "mnist-uncond", "--epochs", "3", "--out", out], capsys)
    assert "the vae preset does not take it" in refused(["--preset", "vae", "--steps", "3", "--out", out], capsys)
    assert "--epochs must be at least 1" in refused(["--preset", "vae", "--epochs", "0", "--out", out], capsys)


def test_classifier_command_gets_its_epochs(tmp_path, monkeypatch, capsys):
    import course_utils.classifier

    calls = []
    monkeypatch.setattr(course_utils.classifier, "train_classifier_command", lambda out, **kw: calls.append((out, kw)))
    train_cli.main(["--preset", "classifier", "--epochs", "2", "--device", "cpu", "--out", str(tmp_path / "c.pt")])
    assert calls == [(tmp_path / "c.pt", {"device": torch.device("cpu"), "seed": None, "epochs": 2})]


def test_vae_command_gets_its_epochs_and_seed(tmp_path, monkeypatch):
    import course_utils.vae

    calls = []
    monkeypatch.setattr(course_utils.vae, "train_vae_command", lambda out, **kw: calls.append((out, kw)))
    train_cli.main(["--preset", "vae", "--epochs", "3", "--seed", "5", "--device", "cpu", "--out", str(tmp_path / "v.pt")])
    assert calls == [(tmp_path / "v.pt", {"device": torch.device("cpu"), "seed": 5, "epochs": 3})]


@pytest.mark.parametrize("argv, says", [
    (["--threads", "0"], "--threads must be a whole number from 1 to 1024"),
    (["--seed", "-1"], "--seed must be a whole number >= 0"),
    (["--steps", "many"], "argument --steps: invalid int value"),  # argparse's own errors are one line too
])
def test_other_numbers_are_checked(tmp_path, no_work, capsys, argv, says):
    assert says in refused(["--preset", "mnist-uncond", *argv, "--out", str(tmp_path / "m.pt")], capsys)


# ----------------------------------------------------------------------------- labels, noise, guidance


@pytest.fixture(scope="module")
def cond():
    torch.manual_seed(0)
    model = TinyUNet(UNetConfig(**{**TINY.__dict__, "num_classes": 10})).eval()
    torch.nn.init.normal_(model.label_embedding.weight)
    return model


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 100)


def _guided(kind, cond, schedule):
    if kind == "classifier-free":
        return ClassifierFreeGuidance(cond, 3.0)
    return ClassifierGuidance(cond, NoisyDigitClassifier().eval(), schedule, 1.0)


@pytest.mark.parametrize("bad", [11, -1])
@pytest.mark.parametrize("through", ["model", "classifier-free", "classifier"])
def test_labels_out_of_range_are_refused(cond, schedule, bad, through):
    labels = torch.tensor([3, bad])
    wrapped = cond if through == "model" else _guided(through, cond, schedule)
    with pytest.raises(ValueError, match=r"labels must be digits 0-9|labels must be classes 0-9"):
        sample(wrapped, DDIMSampler(schedule, 2), 2, labels=labels, show_progress=False)
    with pytest.raises(ValueError, match=rf"labels must be (digits|classes) 0-9.*\[{bad}\]"):
        wrapped(torch.zeros(2, 1, 28, 28), torch.tensor([5, 5]), labels)  # called directly, not through sample()


def test_label_ten_is_not_a_digit_but_the_model_knows_it_as_the_null_label(cond, schedule):
    labels = torch.tensor([10, 2])
    with pytest.raises(ValueError, match="guidance_scale=0"):
        sample(cond, DDIMSampler(schedule, 2), 2, labels=labels, show_progress=False)
    with pytest.raises(ValueError, match=r"digits 0-9, got \[10\]"):
        ClassifierFreeGuidance(cond, 2.0)(torch.zeros(2, 1, 28, 28), torch.tensor([5, 5]), labels)
    # the documented ways to the null label: guidance scale 0, or no labels at all
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    run = lambda model, labels: sample(model, DDIMSampler(schedule, 2), noise=noise, labels=labels,  # noqa: E731
                                       show_progress=False).images
    assert torch.equal(run(ClassifierFreeGuidance(cond, 0.0), torch.tensor([1, 2])), run(cond, None))
    # and the model itself accepts it, for guidance and label dropout
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([50, 50])
    with torch.no_grad():
        assert torch.equal(cond(x, t, torch.tensor([10, 10])), cond(x, t))


@pytest.mark.parametrize("labels", [torch.tensor([3.7, 1.0]), torch.tensor([3.0, 1.0]), torch.tensor([True, False])])
def test_non_integer_labels_are_refused(cond, schedule, labels):
    with pytest.raises(ValueError, match="integer tensor"):
        sample(cond, DDIMSampler(schedule, 2), 2, labels=labels, show_progress=False)
    with pytest.raises(ValueError, match="integer tensor"):
        cond(torch.zeros(2, 1, 28, 28), torch.tensor([5, 5]), labels)


def test_labels_of_the_wrong_shape_are_refused(cond):
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        cond(torch.zeros(2, 1, 28, 28), torch.tensor([5, 5]), torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_noise_is_refused(cond, schedule, value):
    noise = torch.randn(2, 1, 28, 28)
    noise[1, 0, 3, 4] = value
    with pytest.raises(ValueError, match="NaN or infinity"):
        sample(cond, DDIMSampler(schedule, 2), noise=noise, show_progress=False)
    with pytest.raises(ValueError, match="NaN or infinity"):  # the model refuses such an input too
        cond(noise, torch.tensor([5, 5]))


@pytest.mark.parametrize("scale", [math.nan, math.inf])
def test_non_finite_guidance_scales_are_refused(cond, schedule, scale):
    with pytest.raises(ValueError, match="guidance_scale must be a finite number"):
        ClassifierFreeGuidance(cond, scale)
    with pytest.raises(ValueError, match="classifier_scale must be a finite number"):
        ClassifierGuidance(cond, NoisyDigitClassifier(), schedule, scale)


@pytest.mark.parametrize("num_steps", [2.5, 2.0, "2", True, 0, 101])
def test_ddim_num_steps_must_be_a_whole_number_in_range(schedule, num_steps):
    with pytest.raises(ValueError, match="num_steps .* must be a whole number from 1 to T=100"):
        DDIMSampler(schedule, num_steps=num_steps)


@pytest.mark.parametrize("eta", [-1.0, math.nan])
def test_ddim_eta_must_be_a_number_at_least_zero(schedule, eta):
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        DDIMSampler(schedule, eta=eta)


@pytest.mark.parametrize("num_images", [0, -2, 1.5])
def test_sample_needs_at_least_one_image(cond, schedule, num_images):
    with pytest.raises(ValueError, match="num_images must be a whole number >= 1"):
        sample(cond, DDIMSampler(schedule, 2), num_images, show_progress=False)
    with pytest.raises(ValueError, match="at least one image"):
        sample(cond, DDIMSampler(schedule, 2), noise=torch.zeros(0, 1, 28, 28), show_progress=False)


# ----------------------------------------------------------------------------- metrics


@pytest.fixture
def no_data(monkeypatch):
    """The metrics must refuse before they load any real digits."""

    def load(*args, **kwargs):
        raise AssertionError("real digits were loaded before the batch was checked")

    monkeypatch.setattr(metrics, "load_mnist", load)


@pytest.mark.parametrize("n", [0, 1])
def test_metrics_need_two_images(no_data, n):
    images = torch.zeros(n, 1, 28, 28)
    for call in (
        lambda: metrics.evaluate_samples(FakeReader(), images),
        lambda: metrics.evaluate_samples(FakeReader(), images, floor=0.0),
        lambda: metrics.digit_fid(FakeReader(), images),
        lambda: metrics.digit_fid(FakeReader(), images, images),
    ):
        with pytest.raises(ValueError, match=f"got {n} image\\(s\\), need at least 2: a covariance needs two"):
            call()
    with pytest.raises(ValueError, match=r"fid_floor's n \(images on each side\) must be a whole number >= 2"):
        metrics.fid_floor(FakeReader(), n)
    with pytest.raises(ValueError, match="a covariance needs two samples"):
        metrics.gaussian_stats(torch.zeros(n, 4))


def test_metrics_refuse_more_images_than_the_real_test_set(no_data):
    with pytest.raises(ValueError, match=r"test split has 10000\) must be a whole number from 1 to 10000"):
        metrics.evaluate_samples(FakeReader(), torch.zeros(10_001, 1, 28, 28))
    with pytest.raises(ValueError, match=r"test split has 10000\) must be a whole number from 1 to 10000"):
        metrics.fid_floor(FakeReader(), 10_001)


def test_metrics_refuse_non_finite_images(no_data):
    images = torch.zeros(4, 1, 28, 28)
    images[2] = math.nan
    with pytest.raises(ValueError, match="samples contain NaN or infinity"):
        metrics.evaluate_samples(FakeReader(), images, floor=0.0)
    with pytest.raises(ValueError, match="images to classify contain NaN or infinity"):
        metrics.classify(FakeReader(), images)


def test_metrics_at_two_images_give_numbers(monkeypatch):
    """The smallest batch the metrics take gives finite numbers, not nan."""
    g = torch.Generator().manual_seed(0)
    real = torch.rand(10000, 1, 28, 28, generator=g) * 2 - 1  # "recognised" fits and sizes its regions on 10,000
    monkeypatch.setattr(metrics, "load_mnist", lambda split: (real, torch.zeros(len(real), dtype=torch.long)))
    report = metrics.evaluate_samples(FakeReader(), torch.rand(2, 1, 28, 28, generator=g) * 2 - 1)
    assert report.n == 2 and math.isfinite(report.digit_fid) and math.isfinite(report.fid_floor)


# ----------------------------------------------------------------------------- checkpoints and data


@pytest.mark.parametrize("call, valid", [
    (pretrained.load_ddpm, "'uncond', 'cond'"),
    (pretrained.checkpoint_info, "'autoencoder', 'classifier', 'cond', 'flow', 'text2img', 'uncond', 'vae'"),
    (pretrained.checkpoint_path, "'autoencoder', 'classifier', 'cond', 'flow', 'text2img', 'uncond', 'vae'"),
])
def test_unknown_checkpoint_names_list_the_valid_ones(call, valid):
    with pytest.raises(ValueError, match=f"unknown checkpoint 'uncondd' \\(did you mean 'uncond'\\?\\).*{valid}"):
        call("uncondd")


def test_a_missing_checkpoint_file_is_still_a_path_error(tmp_path):
    with pytest.raises(pretrained.CheckpointError, match="does not exist: check the path"):
        pretrained.load_ddpm(tmp_path / "nope.pt")


def test_a_failed_mnist_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    root = tmp_path / "course" / "data"
    folder = root / "mnist"
    folder.mkdir(parents=True)  # an empty mnist folder: every file is missing
    (root / "torchvision" / "kept").mkdir(parents=True)  # a folder that was there before stays
    data._load_uint8.cache_clear()

    def failing_download(split, where):  # what torchvision does without network: folders, then an error
        (where / "torchvision" / "MNIST" / "raw").mkdir(parents=True)
        raise OSError("no network")

    monkeypatch.setattr(data, "_download_with_torchvision", failing_download)
    with pytest.raises(data.MNISTDataError, match="missing"):
        data.load_mnist("test", folder=folder)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["mnist", "torchvision", "torchvision/kept"]

    (root / "torchvision" / "kept").rmdir()
    (root / "torchvision").rmdir()
    data._load_uint8.cache_clear()
    with pytest.raises(data.MNISTDataError):
        data.load_mnist("test", folder=folder)
    assert [p.name for p in root.iterdir()] == ["mnist"]


def test_training_refuses_bad_loop_arguments():
    from course_utils.training import train_ddpm

    state = new_train_state(TrainConfig(architecture=TINY, batch_size=4))
    images = torch.zeros(8, 1, 28, 28)
    for kwargs, says in (({"steps": -1}, "steps must be"), ({"checkpoint_every": 0}, "checkpoint_every must be"),
                         ({"callback_every": 0}, "callback_every must be")):
        with pytest.raises(ValueError, match=says):
            train_ddpm(state, images, **kwargs)
    assert state.step == 0
