"""`make lab`, the README's command, starts JupyterLab serving notebooks/: check that it answers over HTTP,
and that its page switches off the "Jupyter news" popup (tests/test_browser.py checks that in Chromium)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.instructor]  # needs the instructor's files

ROOT = Path(__file__).resolve().parent.parent
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"  # asks "Would you like to get notified ... news?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_serves_the_notebooks():
    port, token = _free_port(), "course-test-token"
    venv = Path(sys.executable).parent.parent  # the environment running the tests is the one `make` set up
    lab_args = f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token} --allow-root"
    # -o: take the environment as installed (no `pip install -e .` into it from this checkout)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", str(venv / ".installed"), "lab", f"VENV={venv}", f"PORT={port}",
         f"LAB_ARGS={lab_args}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline, contents = time.time() + 120, None
        while time.time() < deadline and contents is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=5) as r:
                    contents = json.load(r)
            except OSError:
                time.sleep(1)
        assert contents is not None, "JupyterLab did not answer within 120 s"
        names = {item["name"] for item in contents["content"]}
        assert "solutions" in names and any(n.endswith(".ipynb") for n in names)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            page = r.read().decode()
            assert r.status == 200 and "JupyterLab" in page
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        assert NEWS_PLUGIN in config["disabledExtensions"], config["disabledExtensions"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the JupyterLab it started
        proc.wait(timeout=30)
