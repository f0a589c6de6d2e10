"""What every training loop of the course shares: shuffled batches, stopping cleanly, and one ``fit()`` loop.

* :func:`shuffled_batches`: endless batches of rows, a new order every pass over the data (an epoch);
* :class:`StopGuard`: Ctrl-C (SIGINT; Jupyter's "interrupt kernel" sends it too) or SIGTERM (``kill``, a job
  scheduler, a machine shutting down) asks the loop to stop after the step in progress, so a step is never
  half done; a second one stops at once;
* :func:`fit`: the loop of the classifiers and the VAE: loss, backward, optimizer step, every step's loss kept.

``training.train_ddpm`` keeps a loop of its own around ``training.train_step`` (it saves and resumes runs exactly),
with the same batches and the same guard.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence

import torch

from .cli import Interrupted
from .env import progress

STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def shuffled_batches(tensors: Sequence[torch.Tensor | None], batch_size: int, *, seed: int | None = None,
                     generator: torch.Generator | None = None, start_step: int = 0) -> Iterator[tuple]:
    """Endless batches: a tuple with the same rows of each of ``tensors`` (a None stays None), ``batch_size``
    rows at a time, ``max(N // batch_size, 1)`` batches per epoch (a last incomplete batch is left out).

    Epoch k's order is ``randperm(N)`` drawn from a generator seeded with ``seed + k``, so a run can restart
    at any ``start_step`` and see the same data (``train_ddpm``'s exact resume); or, with ``generator``, drawn
    from it when the epoch starts (the classifier and the VAE, whose other random draws share that generator).
    """
    if (seed is None) == (generator is None):
        raise ValueError("give shuffled_batches either seed= (epoch k uses seed + k) or generator=, not both")
    n = len(next(t for t in tensors if t is not None))
    per_epoch = max(n // batch_size, 1)
    epoch, offset = divmod(start_step, per_epoch)
    while True:
        order = torch.randperm(n, generator=generator if seed is None else torch.Generator().manual_seed(seed + epoch))
        for i in range(offset, per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            yield tuple(None if t is None else t[idx] for t in tensors)
        epoch, offset = epoch + 1, 0


class StopGuard:
    """While a loop runs, Ctrl-C or SIGTERM asks it to stop after the current step.

    The first signal only sets ``requested`` (and ``signal_name``: "Ctrl-C" or "SIGTERM"); the loop checks it
    between steps, so a step is never half done and a save is never cut short. A second signal raises
    KeyboardInterrupt at once (for a step that hangs). Where no handler can be installed (not the main
    thread), the signals act as usual. The handlers in force before are put back on exit.
    (The KeyboardInterrupt is a :class:`course_utils.cli.Interrupted`, which names the signal.)
    """

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, frame) -> None:
        name = STOP_SIGNALS.get(signum, f"signal {signum}")
        if self.requested:
            raise Interrupted(name)
        self.signal_name = name

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not None:  # None: a handler not set from Python, which could not be put back
                    signal.signal(signum, self._handle)
                    self._previous[signum] = previous
        return self

    def __exit__(self, *exc) -> None:
        self._sigterm_default = self._previous.get(signal.SIGTERM) == signal.SIG_DFL
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def pass_on(self) -> None:
        """After the loop has stopped cleanly: a SIGTERM that nothing else handles (a script, a notebook kernel being
        shut down, not a course command) still ends the process, as its sender asked. Call it after the guard's block."""
        if self.signal_name == "SIGTERM" and getattr(self, "_sigterm_default", False):
            os.kill(os.getpid(), signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A loop stopped early by Ctrl-C or SIGTERM (after ``step`` of ``total`` steps): nothing was half done."""

    def __init__(self, signal_name: str, step: int, total: int):
        super().__init__(f"stopped by {signal_name} after step {step} of {total}")
        self.signal_name, self.step, self.total = signal_name, step, total


def fit(model: torch.nn.Module, loss_of: Callable[[object], torch.Tensor], batches: Iterator, *, steps: int,
        optimizer: torch.optim.Optimizer, scheduler=None, desc: str = "training") -> list[float]:
    """The training loop of the classifiers and the VAE: for each of ``steps`` batches from ``batches``,
    ``loss_of(batch)``, backward, ``optimizer`` step (then ``scheduler`` step, if any).

    Returns the loss of every step and leaves the model in eval mode. Ctrl-C or SIGTERM stops it after the
    step in progress by raising :class:`Stopped` (a KeyboardInterrupt), so the weights are never half updated;
    a SIGTERM that no one else handles then ends the process (:meth:`StopGuard.pass_on`).
    """
    losses: list[float] = []
    model.train()
    try:
        with StopGuard() as stop:
            for step in progress(range(steps), desc=desc, unit="step"):
                loss = loss_of(next(batches))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                losses.append(loss.item())
                if stop.requested and step + 1 < steps:
                    break
    finally:
        model.eval()
    if stop.requested:
        stop.pass_on()
        if len(losses) < steps:
            raise Stopped(stop.signal_name, len(losses), steps)
    return losses
