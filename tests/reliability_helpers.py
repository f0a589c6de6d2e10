"""What the reliability tests share: a tiny run of the train command, its one-line answers, signals and failing saves
at chosen moments, and a stand-in for the reference classifier."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from course_utils import train as train_cli
from course_utils import training
from course_utils.model import UNetConfig
from course_utils.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
CFG = TrainConfig(architecture=TINY, batch_size=8, train_steps=10, warmup_steps=2)  # 24 digits: 3 steps per epoch


def run_cli(argv) -> int:
    """``python -m course_utils.train ARGV`` in this process; its exit status."""
    try:
        train_cli.main(argv)
    except SystemExit as exit_:
        return exit_.code
    return 0


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def sigint():
    os.kill(os.getpid(), signal.SIGINT)


def sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


def during_step(monkeypatch, call: int, action):
    """Run ``action`` inside training step ``call`` (after its loss is computed, before it is applied)."""
    calls = {"n": 0}
    original = training.training_loss

    def loss(*args, **kwargs):
        value = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == call:
            action()
        return value

    monkeypatch.setattr(training, "training_loss", loss)


def failing_save(monkeypatch, when, action, partial=True):
    """Make torch.save run ``action()`` (raise, or signal) for the saves where ``when(file name)``; with ``partial``,
    after writing a few bytes of the file (the save is cut short), else before it starts (the save goes on)."""
    original = torch.save

    def save(obj, f, *args, **kwargs):
        if when(Path(getattr(f, "name", f)).name):
            if partial:
                f.write(b"partial")
            action()
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def tiny_process(which: str, when: str, *argv: str) -> subprocess.CompletedProcess:
    """The train command in a process of its own (tests/tiny_train.py), sent ``which`` at ``when`` (step:N, save:N, ...)."""
    return subprocess.run([sys.executable, str(ROOT / "tests" / "tiny_train.py"), which, when, "--", *argv],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"})


class FakeReader(torch.nn.Module):
    """Looks like the reference classifier: features (N, 4), a texture (N, 2) and a 10-way head."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, 10)

    def features(self, x):
        return x.flatten(1)[:, :4]

    def texture(self, x):
        return torch.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1)

