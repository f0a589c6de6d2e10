"""The explorers of course_utils.widgets under ipywidgets 7.7.1, the version Google Colab ships.

The project's environment has ipywidgets 8. This test installs ipywidgets 7.7.1 once into
``build/ipywidgets7/`` (ignored by git; delete it to reinstall) with ``pip install --target``,
and runs a small script in a subprocess with that folder first on ``PYTHONPATH``, so the script
imports 7.7.1 while everything else (IPython, traitlets, ipykernel, torch) comes from the venv.
It builds all three explorers, moves their controls and calls their render callbacks.

Only ipywidgets and its one pure-Python import, ipython_genutils, are installed (``--no-deps``):
widgetsnbextension and jupyterlab_widgets are front-end packages that the Python side never imports.
Skipped, with the reason, when pip cannot fetch the packages (no package index reachable).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "ipywidgets7"
PACKAGES = ["ipywidgets==7.7.1", "ipython_genutils==0.2.0"]

SCRIPT = r'''
import sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # ipywidgets 7 uses ipykernel's deprecated Comm class

import ipywidgets, IPython, traitlets, ipykernel, matplotlib, torch
print(f"ipywidgets {ipywidgets.__version__} from {ipywidgets.__file__}")
print(f"traitlets {traitlets.__version__}, IPython {IPython.__version__}, ipykernel {ipykernel.__version__}, "
      f"matplotlib {matplotlib.__version__}, torch {torch.__version__}")
assert ipywidgets.__version__ == "7.7.1", ipywidgets.__version__
assert ipywidgets.__file__.startswith(sys.argv[1]), ipywidgets.__file__
torch.set_num_threads(1)

import matplotlib.pyplot as plt
from course_utils import widgets
from course_utils.model import TinyUNet, UNetConfig
from course_utils.schedules import make_schedule


tiny = dict(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
torch.manual_seed(0)
model, cond = TinyUNet(UNetConfig(**tiny)).eval(), TinyUNet(UNetConfig(num_classes=10, **tiny)).eval()
schedule = make_schedule("linear")
noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
x0 = -torch.ones(1, 1, 28, 28)
x0[..., 4:24, 12:16] = 1.0

drawn = []
def spy(name):
    real = getattr(widgets, name)
    def wrapper(*args, **kwargs):
        fig = real(*args, **kwargs)
        drawn.append((name, [ax.get_title() for ax in fig.axes]))
        return fig
    setattr(widgets, name, wrapper)
for name in ("render_forward", "render_ddim", "render_guidance"):
    spy(name)

def controls(box):
    row, out = box.children
    assert isinstance(row, ipywidgets.HBox) and isinstance(out, ipywidgets.Output), box
    return row.children

(t,) = controls(widgets.forward_process_explorer(x0, static=False))
assert isinstance(t, ipywidgets.IntSlider) and (t.min, t.max, t.value) == (0, 999, 500)
t.value = 999
steps, eta = controls(widgets.ddim_explorer(model, schedule, noise, num_steps=2, static=False))
assert isinstance(steps, ipywidgets.IntSlider) and isinstance(eta, ipywidgets.FloatSlider)
assert steps.continuous_update is False and eta.continuous_update is False
steps.value, eta.value = 3, 0.5
digit, scale = controls(widgets.guidance_explorer(cond, schedule, noise, num_steps=2, static=False))
assert isinstance(digit, ipywidgets.Dropdown) and isinstance(scale, ipywidgets.FloatSlider)
digit.value, scale.value = 9, 1.0

titles = [titles[0] for _, titles in drawn]
print("drawn:", titles)
assert [n for n, _ in drawn] == ["render_forward"] * 2 + ["render_ddim"] * 3 + ["render_guidance"] * 3, drawn
assert titles[1].startswith("linear, t = 999") and titles[4].startswith("DDIM, 3 steps, η = 0.50")
assert titles[7] == "digit 9, guidance scale w = 1.0 (no guidance)"
print("OK: three explorers built and redrawn under ipywidgets", ipywidgets.__version__)
'''


def _install_ipywidgets7() -> Path:
    """ipywidgets 7.7.1 in build/ipywidgets7 (installed on first use, reused afterwards)."""
    marker = CACHE / ".complete"
    if marker.exists():
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="ipywidgets7-", dir=CACHE.parent))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--target", str(tmp), *PACKAGES],
            capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            pytest.skip(f"could not install {' '.join(PACKAGES)} with pip (is the package index reachable?): "
                        + " | ".join(tail))
        (tmp / ".complete").write_text(" ".join(PACKAGES) + "\n")
        shutil.rmtree(CACHE, ignore_errors=True)
        tmp.rename(CACHE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CACHE


def test_explorers_work_on_ipywidgets_7_7_1():
    target = _install_ipywidgets7()
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("COURSE_NO_WIDGETS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(target), str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(target)], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, env=env)
    print(result.stdout)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    assert "ipywidgets 7.7.1 from" in result.stdout and "OK: three explorers" in result.stdout
