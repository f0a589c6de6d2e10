"""`make lab` starts JupyterLab serving notebooks/: check that it answers over HTTP."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_serves_the_notebooks():
    port, token = _free_port(), "course-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", "--notebook-dir=notebooks", "--allow-root"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, JUPYTER_NO_CONFIG="1"),
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
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
