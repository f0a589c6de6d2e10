"""A real browser: JupyterLab runs the student notebook 02 and its t-slider redraws the picture.

Starts JupyterLab on a free local port (kernel in quick mode), drives Debian's Chromium with
Playwright for Python: opens notebooks/02_forward_process_and_schedules.ipynb, runs all cells
from the Run menu, waits for the forward-process explorer's slider, moves it with the keyboard
and checks that the figure under it changed. Screenshots go to test-artifacts/.

Needs (skipped with this message otherwise):
    apt-get install chromium          # /usr/bin/chromium
    pip install playwright            # the Python package only; `playwright install` is not needed

JupyterLab runs with autosave off and its own settings and workspace folders; the test checks
afterwards that the student copy on disk still has no outputs (and restores it if it has).
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/02_forward_process_and_schedules.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHECKPOINT = ROOT / "notebooks" / ".ipynb_checkpoints" / "02_forward_process_and_schedules-checkpoint.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SETTINGS = {  # JupyterLab user settings for the test: never write the notebook, never reach the internet
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}
SLIDER = ".widget-output"  # the explorer's output area sits under its slider
MINUTE = 60_000  # Playwright timeouts are in milliseconds


def _requirements_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Chromium (Debian/Ubuntu: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed: pip install playwright "
                    "(the browser download `playwright install` is not needed; the test uses /usr/bin/chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(port: int, token: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s")


def _start_jupyterlab(port: int, token: str, home: Path, log) -> subprocess.Popen:
    settings = home / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, COURSE_QUICK="1", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    for name in ("MPLBACKEND", "COURSE_NO_WIDGETS"):  # the kernel must use the inline backend and widgets
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def _has_outputs(path: Path) -> bool:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any(cell.get("outputs") for cell in cells)


def _wait_for_kernel(page, timeout: float = 180) -> None:
    """Wait until the notebook's kernel is idle, answering a "Select Kernel" dialog if one comes up.

    JupyterLab asks which kernel to start when it opens a notebook before it knows the kernel
    specs (seen on a slow machine); the preferred one, Python 3 (ipykernel), is already selected.
    """
    dialog = page.locator(".jp-Dialog")
    idle = page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if dialog.count() and dialog.first.is_visible():
            if "Select Kernel" in dialog.first.inner_text():
                dialog.locator(".jp-mod-accept").first.click()
        elif idle.count() and page.locator(".jp-KernelStatus, .jp-StatusBar-TextItem", has_text="Idle").count():
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"the notebook's kernel was not idle within {timeout:.0f} s")


def _image_src(page) -> str:
    return page.locator(f"{SLIDER} img").first.get_attribute("src") or ""


def test_slider_redraws_the_figure_in_jupyterlab():
    _requirements_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("browser_*.png"):
        old.unlink()
    notebook_bytes = (ROOT / NOTEBOOK).read_bytes()
    had_checkpoint = CHECKPOINT.exists()
    port, token = _free_port(), "course-browser-test"
    home = Path(tempfile.mkdtemp(prefix="course-browser-"))
    log_path = ARTIFACTS / "browser_jupyterlab.log"
    with open(log_path, "w") as log:
        proc = _start_jupyterlab(port, token, home, log)
        try:
            _wait_for_server(port, token, proc)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(2 * MINUTE)
                    page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}")
                    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
                    _wait_for_kernel(page)

                    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                                 has_text="Run All Cells").first.click()

                    handle = page.locator(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle").first
                    handle.wait_for(timeout=5 * MINUTE)
                    page.locator(f"{SLIDER} img").first.wait_for(timeout=2 * MINUTE)
                    handle.scroll_into_view_if_needed()
                    page.mouse.wheel(0, 250)  # show the picture under the slider too
                    before = _image_src(page)
                    readout_before = page.locator(".widget-slider .widget-readout").first.inner_text()
                    page.screenshot(path=str(ARTIFACTS / "browser_slider_before.png"))

                    handle.focus()
                    for _ in range(3):
                        handle.press("ArrowRight")
                    handle.press("End")  # nouislider (ipywidgets 8): End jumps to the maximum, t = T - 1
                    page.wait_for_function(
                        "([sel, old]) => { const img = document.querySelector(sel);"
                        " return img !== null && img.getAttribute('src') !== old; }",
                        arg=[f"{SLIDER} img", before], timeout=2 * MINUTE,
                    )
                    page.wait_for_timeout(1000)  # let the last redraw land
                    readout_after = page.locator(".widget-slider .widget-readout").first.inner_text()
                    after = _image_src(page)
                    page.screenshot(path=str(ARTIFACTS / "browser_slider_after.png"))

                    assert before.startswith("data:image/png") and after.startswith("data:image/png")
                    assert after != before, "the figure did not change when the slider moved"
                    assert readout_before.strip() == "500" and readout_after.strip() == "999", (
                        readout_before, readout_after)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / "browser_failure.png"))
                    raise
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            shutil.rmtree(home, ignore_errors=True)
            if not had_checkpoint and CHECKPOINT.exists():  # made by JupyterLab when it opened the notebook
                CHECKPOINT.unlink()
                if not any(CHECKPOINT.parent.iterdir()):
                    CHECKPOINT.parent.rmdir()
            if _has_outputs(ROOT / NOTEBOOK):  # JupyterLab saved the run: put the student copy back
                (ROOT / NOTEBOOK).write_bytes(notebook_bytes)
                pytest.fail(f"JupyterLab saved outputs into {NOTEBOOK}; the file was restored")
