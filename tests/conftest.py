import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# One thread: the unit tests use small tensors, and multi-threaded torch slows down several-fold
# when the machine is oversubscribed (measured: 0.20 s vs 1.09 s per tiny training step).
torch.set_num_threads(1)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def model():
    """An untrained tiny U-Net (reliability_helpers.TINY, seed 0), in eval mode; a module may define its own."""
    from reliability_helpers import TINY

    from course_utils.model import TinyUNet

    torch.manual_seed(0)
    return TinyUNet(TINY).eval()


@pytest.fixture(scope="module")
def schedule():
    """The linear schedule with T = 100; a module may define its own."""
    from course_utils.schedules import make_schedule

    return make_schedule("linear", 100)


def pytest_collection_modifyitems(config, items):
    """Every notebook run by nbval is slow: `make test-fast` (-m "not slow") leaves them out."""
    for item in items:
        if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
            item.add_marker(pytest.mark.slow)
