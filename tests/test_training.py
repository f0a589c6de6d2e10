from dataclasses import replace

import pytest
import torch

from course_utils.checkpoints import CheckpointError, read_checkpoint, save_checkpoint
from course_utils.data import mnist_subset
from course_utils.model import UNetConfig
from course_utils.pretrained import checkpoint_info, load_ddpm
from course_utils.training import EMA, PRESETS, TrainConfig, new_train_state, resume_train_state, save_train_state, train_ddpm

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)


@pytest.fixture(scope="module")
def data():
    return mnist_subset("train", 512, seed=0)


@pytest.mark.slow  # a few hundred training steps
def test_a_few_hundred_steps_lower_the_loss(data):
    images, _ = data
    state = new_train_state(TrainConfig(architecture=TINY, batch_size=32, lr=2e-3, warmup_steps=20, train_steps=300))
    train_ddpm(state, images)
    first, last = sum(state.losses[:30]) / 30, sum(state.losses[-30:]) / 30
    assert state.step == 300 and last < 0.6 * first


def test_conditional_training_needs_labels(data):
    state = new_train_state(TrainConfig(architecture=replace(TINY, num_classes=10), batch_size=16))
    with pytest.raises(ValueError, match="labels"):
        train_ddpm(state, data[0], steps=1)
    train_ddpm(state, *data, steps=2)
    assert state.step == 2


def test_interrupt_keeps_what_was_trained(data):
    state = new_train_state(TrainConfig(architecture=TINY, batch_size=16))

    def stop(s):
        raise KeyboardInterrupt

    train_ddpm(state, data[0], steps=10, callback=stop, callback_every=4)
    assert state.step == 4 and len(state.losses) == 4 and state.interrupted
    train_ddpm(state, data[0], steps=2)  # running it again carries on (notebook 4 relies on this)
    assert state.step == 6 and len(state.losses) == 6 and not state.interrupted


def test_ema_moves_towards_the_weights():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.model.weight, torch.ones(2, 2), atol=1e-3)


def test_checkpoint_round_trip_and_resume(tmp_path, data):
    images, _ = data
    cfg = TrainConfig(architecture=TINY, batch_size=16, train_steps=6)
    path = tmp_path / "run.pt"
    state = train_ddpm(new_train_state(cfg), images, checkpoint_path=path, checkpoint_every=3)
    ckpt = read_checkpoint(path, kind="ddpm")
    assert ckpt["train"]["steps_done"] == 6 and ckpt["train"]["seed"] == 0
    assert ckpt["model_config"] == TINY.to_dict() and ckpt["schedule"] == {"name": "linear", "num_timesteps": 1000}

    model, schedule = load_ddpm(path)
    for a, b in zip(model.state_dict().values(), state.ema.model.state_dict().values()):
        assert torch.equal(a, b)

    resumed = resume_train_state(path)
    assert resumed.step == 6 and resumed.losses == state.losses
    train_ddpm(resumed, images, steps=2)
    assert resumed.step == 8


def test_continuing_equals_training_in_one_go(tmp_path, data):
    images, _ = data
    cfg = TrainConfig(architecture=TINY, batch_size=16)
    straight = train_ddpm(new_train_state(cfg), images, steps=4)
    half = train_ddpm(new_train_state(cfg), images, steps=2, checkpoint_path=tmp_path / "half.pt")
    resumed = train_ddpm(resume_train_state(tmp_path / "half.pt"), images, steps=2)
    assert resumed.losses == straight.losses  # bit for bit
    del half


def test_mismatched_checkpoint_gives_a_clear_error(tmp_path, data):
    path = tmp_path / "tiny.pt"
    save_train_state(new_train_state(TrainConfig(architecture=TINY)), path)
    ckpt = read_checkpoint(path)
    ckpt["model_config"] = PRESETS["mnist-uncond"].architecture.to_dict()  # claims another architecture
    ckpt.pop("format")
    save_checkpoint(path, ckpt)
    with pytest.raises(CheckpointError, match="different architecture"):
        load_ddpm(path)


def test_unreadable_or_foreign_files_are_explained(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not read"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a course checkpoint"):
        read_checkpoint(tmp_path / "plain.pt")


def test_learning_rate_warms_up_then_stays_or_decays():
    from course_utils.training import TrainConfig, learning_rate

    constant = TrainConfig(lr=1e-3, warmup_steps=10, train_steps=100)
    assert learning_rate(constant, 0) == pytest.approx(1e-4)
    assert learning_rate(constant, 50) == learning_rate(constant, 99) == pytest.approx(1e-3)
    cosine = TrainConfig(lr=1e-3, warmup_steps=10, train_steps=100, lr_decay="cosine")
    assert learning_rate(cosine, 50) == pytest.approx(0.5e-3)
    assert learning_rate(cosine, 100) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="lr_decay"):
        learning_rate(TrainConfig(lr_decay="linear"), 5)


@pytest.mark.slow  # trains through the command twice: make test-fast leaves it to make test
def test_training_command_can_start_from_a_checkpoints_weights(tmp_path):
    """--init: a new run (fresh optimizer, its own lr schedule) from sampling weights, recording where it began."""
    from course_utils.train import main

    start = new_train_state(PRESETS["mnist-uncond"])
    with torch.no_grad():
        for p in start.ema.model.parameters():
            p.add_(0.01)  # sampling weights that differ from the preset's seeded random init
    start.step = 7
    save_train_state(start, tmp_path / "start.pt", resumable=False)

    out = tmp_path / "more.pt"
    main(["--preset", "mnist-uncond", "--init", str(tmp_path / "start.pt"), "--lr", "5e-4",
          "--lr-decay", "cosine", "--steps", "2", "--checkpoint-every", "1", "--out", str(out)])
    train = read_checkpoint(out)["train"]
    assert train["steps_done"] == 2 and train["lr"] == 5e-4 and train["lr_decay"] == "cosine"
    assert train["init"]["from"] == str(tmp_path / "start.pt") and train["init"]["steps_done"] == 7
    # two small steps from the given weights stay near them, far from a random start
    model, _ = load_ddpm(out)
    given = dict(start.ema.model.named_parameters())
    moved = max((p - given[name]).abs().max().item() for name, p in model.named_parameters())
    assert 0 < moved < 0.01

    # resuming that run keeps the record of where it started
    main(["--preset", "mnist-uncond", "--resume", "--steps", "3", "--out", str(out)])
    train = read_checkpoint(out)["train"]
    assert train["steps_done"] == 3 and train["init"]["steps_done"] == 7
    info = checkpoint_info(out)["train"]
    assert info["total_steps"] == 3 + 7
    assert info["total_seconds"] == pytest.approx(train["train_seconds"] + train["init"]["train_seconds"])


def test_training_command_explains_a_start_from_another_architecture(tmp_path, capsys):
    from course_utils.train import main

    save_train_state(new_train_state(TrainConfig(architecture=TINY)), tmp_path / "tiny.pt", resumable=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "mnist-uncond", "--init", str(tmp_path / "tiny.pt"), "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert "--init" in err and "does not fit --preset mnist-uncond" in err and "architecture.base_channels: 8 vs 16" in err
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "mnist-uncond", "--init", str(tmp_path / "tiny.pt"), "--resume", "--out", str(tmp_path / "x.pt")])
    assert exit_.value.code == 2 and "not both" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.resume.pt").exists()


def test_min_snr_weighting_only_lowers_the_weight_of_the_nearly_clean_steps():
    from course_utils.schedules import make_schedule
    from course_utils.training import eps_prediction_loss

    schedule = make_schedule("linear")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    wrong = torch.randn(2, 1, 4, 4, generator=g)

    def model(x_t, t):
        return wrong

    for t in (torch.tensor([900, 900]), torch.tensor([5, 5])):
        plain = eps_prediction_loss(model, x0, t, noise, schedule)
        huge = eps_prediction_loss(model, x0, t, noise, schedule, min_snr_gamma=1e12)
        five = eps_prediction_loss(model, x0, t, noise, schedule, min_snr_gamma=5.0)
        assert torch.allclose(plain, huge)
        abar = schedule.alphas_cumprod[t[0]]
        snr = abar / (1 - abar)
        assert torch.allclose(five, plain * min(snr, 5.0) / snr, rtol=1e-5)  # 1 at t = 900, far below 1 at t = 5
    with pytest.raises(ValueError, match="min_snr_gamma"):
        TrainConfig(architecture=TINY, min_snr_gamma=0.0)


def test_a_flow_matching_run_trains_saves_and_resumes_exactly(data, tmp_path):
    images, _ = data
    config = TrainConfig(architecture=replace(TINY, continuous_time=True), objective="flow", time_sampling="logit-normal",
                         batch_size=8, train_steps=4)
    straight = train_ddpm(new_train_state(config), images)
    half = train_ddpm(new_train_state(config), images, steps=2, checkpoint_path=tmp_path / "flow.pt")
    ckpt = read_checkpoint(tmp_path / "flow.pt")
    assert ckpt["kind"] == "flow" and "schedule" not in ckpt and ckpt["train"]["objective"] == "flow"
    resumed = train_ddpm(resume_train_state(tmp_path / "flow.pt"), images)
    assert resumed.losses == straight.losses and half.step == 2
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="continuous_time"):
        TrainConfig(architecture=TINY, objective="flow")


def test_a_checkpoint_written_before_the_rename_still_loads_its_architecture():
    config = TrainConfig(architecture=TINY, batch_size=16)
    old = config.to_dict()
    old["model"] = old.pop("architecture")  # checkpoints written before the rename call it "model"
    assert TrainConfig.from_dict(old) == config
    assert "model" not in config.to_dict() and config.to_dict()["architecture"]["base_channels"] == TINY.base_channels
