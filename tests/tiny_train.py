"""`python -m course_utils.train` in a process of its own, with a tiny preset on 24 digits, for tests that send it
real signals (a test must not send SIGTERM to pytest itself).

    python tests/tiny_train.py SIGNAL WHEN -- TRAIN ARGUMENTS...

runs ``course_utils.train.main(TRAIN ARGUMENTS)`` with ``--preset tiny`` available, and sends SIGNAL (SIGINT,
SIGTERM or "none") to this process WHEN: ``step:N`` while training step N is computed, ``save:N`` while the N-th
checkpoint file is being written, ``load:1`` while the digits are loaded, ``vae:N`` in the VAE's N-th step.
The VAE and classifier presets train on the same 24 digits.
"""

import os
import signal
import sys

import torch

import course_utils.data
from course_utils import train, training, vae
from course_utils.data import mnist_subset
from course_utils.model import UNetConfig
from course_utils.training import PRESETS, TrainConfig

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
PRESETS["tiny"] = TrainConfig(architecture=TINY, batch_size=8, train_steps=10, warmup_steps=2)

def send_on(call: int, which: str, original):
    """``original``, wrapped to send ``which`` to this process on its ``call``-th call."""
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            os.kill(os.getpid(), getattr(signal, which))
        return original(*args, **kwargs)

    return wrapped


if __name__ == "__main__":
    which, when, _, *argv = sys.argv[1:]
    torch.set_num_threads(1)
    images, labels = mnist_subset("train", 24, seed=0)
    train.load_mnist = course_utils.data.load_mnist = lambda split: (images, labels)
    if which != "none":
        where, call = when.split(":")
        if where == "step":
            training.training_loss = send_on(int(call), which, training.training_loss)
        elif where == "save":
            torch.save = send_on(int(call), which, torch.save)
        elif where == "load":
            train.load_mnist = send_on(int(call), which, train.load_mnist)
        else:
            vae.negative_elbo = send_on(int(call), which, vae.negative_elbo)
    train.main(argv)
