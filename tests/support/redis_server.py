"""A real Redis server for the cluster tests: Debian's ``redis-server`` on a free port of
127.0.0.1, with a password and no persistence, stopped (and its folder removed) after."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "cluster-test-secret"


def redis_problem() -> str | None:
    if not Path(REDIS_SERVER).is_file():
        return "redis-server is not installed: apt-get install -y redis-server (scripts/setup.sh does)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A running server; yields its URL (``redis://:<password>@127.0.0.1:<port>/0``)."""
    folder = Path(tempfile.mkdtemp(prefix="redis-test-"))
    port = _free_port()
    command = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--requirepass", PASSWORD,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.05)
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
