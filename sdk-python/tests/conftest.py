"""Fixtures of the Python SDK's tests: a granary-server of our own (GRANARY_SERVER names the
binary; port 0, a fresh data directory), a fresh database per module, and a client in it."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import granary


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("GRANARY_SERVER")
    if not binary:
        root = Path(__file__).resolve().parents[2]
        binary = str(root / "target" / "debug" / "granary-server")
    if not Path(binary).exists():
        pytest.fail(f"no granary-server at {binary}: build it, or set GRANARY_SERVER")
    work = tempfile.mkdtemp(prefix="granary-sdk-")
    log_path = Path(work) / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "--data-dir", f"{work}/data", "--pg-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0"],
            stderr=log,
            env={**os.environ, "GRANARY_LOG": "info"},
        )
    port = None
    for _ in range(300):
        found = re.search(r"native protocol listening on 127\.0\.0\.1:(\d+)", log_path.read_text())
        if found:
            port = int(found.group(1))
            break
        if process.poll() is not None:
            break
        time.sleep(0.1)
    if port is None:
        process.kill()
        pytest.fail("granary-server did not start:\n" + log_path.read_text())
    yield ("127.0.0.1", port)
    alive = process.poll() is None
    process.terminate()
    process.wait(timeout=30)
    text = log_path.read_text()
    shutil.rmtree(work, ignore_errors=True)
    assert alive, "granary-server died during the tests:\n" + text


@pytest.fixture(scope="module")
def database(server):
    name = "sdk_" + uuid.uuid4().hex[:12]
    with granary.Client(*server) as client:
        client.execute(f"CREATE DATABASE {name}")
    yield name
    with granary.Client(*server) as client:
        client.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def client(server, database):
    with granary.Client(*server, database=database) as client:
        yield client
