"""Where the course runs: device, seeds, quick mode, Colab, progress bars, CPU threads.

One helper of each kind lives here, so every notebook agrees on them.

Quick mode
----------
Set the environment variable ``COURSE_QUICK=1`` to shrink training steps and
sample counts so that CI can run every notebook in minutes. Students never
need it. Notebooks ask ``quick(full, small)`` for every size that quick mode
shrinks, so the full-size value is always visible in the code.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable

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
    """One line saying where the notebook runs, for the top of every notebook."""
    device = pick_device()
    parts = [f"torch {torch.__version__}", f"device: {device.type}"]
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
