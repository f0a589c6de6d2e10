"""Where the course runs: device, seeds, quick mode, Colab, progress bars, CPU threads.

CPU threads
-----------
How many threads PyTorch should use on a CPU depends on the machine and on what else runs on
it: the course's networks are small, so keeping many threads in step can cost more than it saves.
:func:`choose_threads` times a training step of the course's U-Net with 1, 2, 4 and 8 threads (up to
the number of cores), keeps the fastest, and remembers the choice in a small file, so every notebook
after the first reuses it; :func:`describe_environment` (the first cell of every notebook) applies it
and says which it is. ``COURSE_THREADS=N`` forces N threads.

One helper of each kind lives here, so every notebook agrees on them.

Quick mode
----------
Set the environment variable ``COURSE_QUICK=1`` to shrink training steps and
sample counts so that CI can run every notebook in minutes. Students never
need it. Notebooks ask ``quick(full, small)`` for every size that quick mode
shrinks, so the full-size value is always visible in the code.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .validation import seed_number, whole_number

QUICK_ENV_VAR = "COURSE_QUICK"
DEFAULT_NUM_THREADS = torch.get_num_threads()  # PyTorch's own choice at start-up: one per physical core
MAX_THREADS = 1024  # more than any machine the course runs on has cores; extra threads would only wait
_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to 1/true/yes/on (any case)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_quick_mode() -> bool:
    """True when ``COURSE_QUICK`` is set to 1/true/yes/on."""
    return env_flag(QUICK_ENV_VAR)


def quick(full, small):
    """Return ``small`` in quick mode and ``full`` otherwise."""
    return small if is_quick_mode() else full


def in_ci() -> bool:
    """True on a continuous-integration runner (the ``CI`` variable is set)."""
    return env_flag("CI")


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


DEVICE_ENV_VAR = "COURSE_DEVICE"


def pick_device(prefer: str | None = None, *, flag: str = "device") -> torch.device:
    """The best device available: CUDA, then Apple MPS, then the CPU.

    ``prefer`` (for example ``"cpu"``) forces a choice; so does the
    ``COURSE_DEVICE`` environment variable. A device that is not there is refused (:func:`check_device`);
    ``flag`` names the choice in that message (``"--device"`` for a command).
    """
    if prefer:
        return check_device(prefer, flag, option=f"{flag} " if flag.startswith("--") else "")
    if os.environ.get(DEVICE_ENV_VAR):
        return check_device(os.environ[DEVICE_ENV_VAR], DEVICE_ENV_VAR, option=f"{flag} " if flag.startswith("--") else "")
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(name: str | torch.device, source: str = "device", option: str = "") -> torch.device:
    """``name`` as a torch.device that this machine has (cuda, cuda:N, mps or cpu), or a ValueError that says
    what to use instead. ``source`` names where the choice came from (an argument, ``--device``, COURSE_DEVICE);
    ``option`` is written before the suggested device (``"--device "`` for a command)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{source} {str(name)!r} is not a device: use cuda, mps or cpu") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{source} {device}: torch sees no CUDA GPU on this machine; use {option}cpu "
                             "(or leave the device out to take the best device there is)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{source} {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0; use {option}cuda:0")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{source} mps: Apple's MPS is not available here; use {option}cpu")
    elif device.type != "cpu":
        raise ValueError(f"{source} {device}: the course runs on cuda, mps or cpu")
    return device


def available_memory(device: torch.device | str) -> int:
    """Bytes of memory free for new tensors on ``device``: the GPU's free memory, or the machine's available RAM
    (what the operating system could give without swapping). 2 GiB when it cannot be found out."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:  # Linux, Colab
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:  # other Unix systems (macOS)
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2 * 2**30


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy (if present) and torch; return a CPU generator with that seed.

    Functions that draw noise take a ``generator=`` argument; pass the one
    returned here to make a cell reproducible on its own.
    """
    seed_number(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for the package itself
        pass
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress_disabled() -> bool:
    """Progress bars are hidden in CI and in quick mode so stored outputs stay stable."""
    return in_ci() or is_quick_mode() or os.environ.get("TQDM_DISABLE", "") == "1"


def progress(iterable=None, **kwargs):
    """``tqdm.auto.tqdm`` that stays quiet in CI and in quick mode."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", progress_disabled())
    return tqdm(iterable, **kwargs)


def describe_environment() -> str:
    """One line saying where the notebook runs, for the top of every notebook; on a CPU it also chooses the
    number of PyTorch threads (:func:`choose_threads`) and says which."""
    device = pick_device()
    parts = [f"torch {torch.__version__}", f"device: {device.type}"]
    if device.type == "cpu":
        parts.append(choose_threads().summary())
    if in_colab():
        parts.append("Google Colab")
    if is_quick_mode():
        parts.append(f"QUICK MODE ({QUICK_ENV_VAR}=1): small sizes for CI")
    return " | ".join(parts)


def seconds_per_call(fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``fn()``, in seconds, after ``warmup`` untimed calls.

    The fastest rather than the mean, because other programs on a busy machine only ever add time.
    """
    whole_number(repeats, "repeats", low=1)
    whole_number(warmup, "warmup", low=0)
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_thread_counts(fn: Callable[[], object], counts=None, *, repeats: int = 3) -> dict[int, float]:
    """Seconds per call of ``fn()`` (see :func:`seconds_per_call`) with each number of PyTorch CPU threads.

    ``counts`` defaults to 1 and PyTorch's default (one thread per core). Which is faster depends on the
    machine: a small network does little work per operation, so keeping threads in step can cost more than
    they save, and on a machine busy with other programs extra threads wait for a free core. The thread
    count in force before the call is put back afterwards; pick the fastest with ``min(t, key=t.get)``.
    """
    counts = sorted({1, DEFAULT_NUM_THREADS}) if counts is None else list(counts)
    if not counts:
        raise ValueError("counts must list at least one number of threads, e.g. [1, 2]")
    for n in counts:
        whole_number(n, "each of counts (threads)", low=1, high=MAX_THREADS)
    before = torch.get_num_threads()
    try:
        timings = {}
        for n in counts:
            torch.set_num_threads(n)
            timings[n] = seconds_per_call(fn, repeats=repeats)
        return timings
    finally:
        torch.set_num_threads(before)


THREADS_ENV_VAR = "COURSE_THREADS"
THREAD_COUNTS = (1, 2, 4, 8)


@dataclass
class ThreadChoice:
    """The number of PyTorch CPU threads the course uses here, and why."""

    threads: int
    seconds_per_step: dict[int, float] = field(default_factory=dict)  # threads -> s per training step measured
    source: str = "measured now"  # "measured now", "measured earlier (file)", or "set by COURSE_THREADS"

    def summary(self) -> str:
        return f"CPU threads: {self.threads} ({self.source})"

    def __str__(self) -> str:
        timings = ", ".join(f"{n} thread(s) {1000 * s:.0f} ms" for n, s in sorted(self.seconds_per_step.items()))
        return self.summary() + (f"; one training step of the course's U-Net: {timings}" if timings else "")


def _thread_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "diffusion-course" / "threads.json"


def _machine_key() -> str:
    """What the measurement depends on: the machine, its cores and the torch build."""
    return f"{platform.node()}|{platform.machine()}|{os.cpu_count()}|{torch.__version__}"


def _training_step_timer() -> Callable[[], object]:
    """One training step of the course's CPU U-Net at batch 32 (notebook 4's live run), on random data."""
    from .model import MODEL_PRESETS, TinyUNet  # imported here: env is imported by everything

    generator = torch.Generator().manual_seed(0)
    model = TinyUNet(MODEL_PRESETS["cpu"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(32, 1, 28, 28, generator=generator)
    t = torch.randint(0, 1000, (32,), generator=generator)

    def step():
        loss = ((model(x, t) - x) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def choose_threads(*, remeasure: bool = False, apply: bool = True) -> ThreadChoice:
    """Pick the fastest number of PyTorch CPU threads for the course on this machine, and use it.

    The first call times one training step of the course's U-Net with 1, 2, 4 and 8 threads (no more
    than the cores), about ten seconds, and writes the result to ``~/.cache/diffusion-course/threads.json``;
    later calls, in any notebook, read it back. ``remeasure=True`` times again (for example when the machine
    has become busier or quieter). ``COURSE_THREADS=N`` forces N threads and measures nothing.
    With ``apply`` (the default) the choice is passed to ``torch.set_num_threads``.
    """
    forced = os.environ.get(THREADS_ENV_VAR, "").strip()
    if forced:
        if not forced.isdigit() or not 1 <= int(forced) <= MAX_THREADS:
            raise ValueError(
                f"{THREADS_ENV_VAR} must be a whole number of threads from 1 to {MAX_THREADS}, got {forced!r}; "
                f"set it to one (for example {THREADS_ENV_VAR}=2) or unset it to let the course measure"
            )
        choice = ThreadChoice(int(forced), source=f"set by {THREADS_ENV_VAR}")
    else:
        choice = None if remeasure else _read_thread_choice()
        if choice is None:
            cores = os.cpu_count() or 1
            counts = [n for n in THREAD_COUNTS if n <= max(cores, 1)]
            timings = time_thread_counts(_training_step_timer(), counts, repeats=2)
            choice = ThreadChoice(min(timings, key=timings.get), timings)
            _write_thread_choice(choice)
    if apply:
        torch.set_num_threads(choice.threads)
    return choice


def _read_thread_choice() -> ThreadChoice | None:
    try:
        saved = json.loads(_thread_cache().read_text())[_machine_key()]
        timings = {int(n): float(s) for n, s in saved["seconds_per_step"].items()}
        return ThreadChoice(int(saved["threads"]), timings, source=f"measured earlier, {_thread_cache()}")
    except (OSError, ValueError, KeyError, TypeError):  # no file yet, another machine's, or unreadable: measure
        return None


def _write_thread_choice(choice: ThreadChoice) -> None:
    path = _thread_cache()
    try:
        saved = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    saved[_machine_key()] = {"threads": choice.threads, "seconds_per_step": choice.seconds_per_step, "when": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(saved, indent=1))
        tmp.replace(path)
    except OSError:  # a read-only home: the choice still holds for this session
        pass
