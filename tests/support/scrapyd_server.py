"""A real scrapyd (PyPI ``scrapyd``) for the deployment tests: run by a given Python on a
free port of 127.0.0.1 with a username and password, the replay proxy standing in for
Sina for its jobs, and the project's egg built and uploaded by the real ``scrapyd-deploy``
(run by this interpreter, from a copy of the sources).  Stopped with its jobs after."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import ProxyHandler, Request, build_opener

import pytest

from tests.support.crawl import REPO
from tests.support.replay_proxy import ReplayProxy, RollApi
from tests.support.settings import output_settings as run_output

PROJECT = "sina_finance_hexo"  # the [deploy] project of scrapy.cfg
SPIDER = "sina_finance"
USERNAME, PASSWORD = "deployer", "s3cret-pass"
JOB_TIMEOUT = 300.0  # a hang guard: a job ends in seconds, only a stuck one waits it out
# Not inherited by scrapyd and its jobs: they would bypass the replay proxy, override the
# generated scrapyd.conf, or let a job import the project from the working tree instead of the egg.
_DROPPED_ENV = {
    "no_proxy",
    "all_proxy",
    "http_proxy",
    "https_proxy",
    "pythonpath",
    "scrapyd_username",
    "scrapyd_password",
    "scrapy_settings_module",
    "scrapy_project",
}

_direct = build_opener(ProxyHandler({}))  # the test talks to scrapyd directly, never through a proxy


@dataclass
class Scrapyd:
    url: str
    workdir: Path
    logs_dir: Path
    eggs_dir: Path
    tmp: Path
    proxy: ReplayProxy
    roll_api: RollApi
    python: Path
    deploy_output: str

    def call(self, endpoint: str, data: list[tuple[str, str]] | None = None, auth: bool = True) -> dict[str, Any]:
        body = urlencode(data).encode() if data is not None else None
        request = Request(self.url + endpoint, data=body)
        if auth:
            token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with _direct.open(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    def schedule(self, jobid: str, settings: dict[str, str], spider: str = SPIDER, **spider_args: str) -> str:
        data = [("project", PROJECT), ("spider", spider), ("jobid", jobid)]
        data += [("setting", f"{name}={value}") for name, value in settings.items()]
        data += list(spider_args.items())
        answer = self.call("schedule.json", data)
        assert answer["status"] == "ok", answer
        scheduled = answer["jobid"]
        assert isinstance(scheduled, str), answer
        return scheduled

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Job id -> its listjobs.json entry, with the state (pending/running/finished) added."""
        answer = self.call(f"listjobs.json?project={PROJECT}")
        assert answer["status"] == "ok", answer
        return {
            job["id"]: {**job, "state": state} for state in ("pending", "running", "finished") for job in answer[state]
        }

    def wait_finished(self, jobid: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.jobs().get(jobid)
            if job is not None and job["state"] == "finished":
                return job
            time.sleep(0.25)
        pytest.fail(f"job {jobid} not finished after {timeout} s; log so far:\n{self.job_log(jobid)[-3000:]}")

    def job_log(self, jobid: str, spider: str = SPIDER) -> str:
        path = self.logs_dir / PROJECT / spider / f"{jobid}.log"
        return path.read_text(encoding="utf-8") if path.exists() else f"(no log at {path})"


def output_settings(folder: Path, **extra: str) -> dict[str, str]:
    """A job's settings: its posts, state, manifest and stats under ``folder``."""
    return {
        **run_output(folder),
        "SINA_STATS_FILE": str(folder / "stats.json"),
        # The politeness defaults stay on; only the start delay is shortened.
        "AUTOTHROTTLE_START_DELAY": "0.1",
        "DOWNLOAD_DELAY": "0.05",
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(tmp: Path, proxy_url: str | None) -> dict[str, str]:
    """scrapyd's and its jobs' environment: no user's config, the replay proxy if given."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in _DROPPED_ENV}
    env.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "xdg"))  # no user's ~/.scrapyd.conf, ~/.netrc
    if proxy_url:
        env.update(http_proxy=proxy_url, https_proxy=proxy_url, HTTP_PROXY=proxy_url, HTTPS_PROXY=proxy_url)
    return env


def _project_tops() -> list[str]:
    """The top-level packages of the project (crawler, settings), from pyproject.toml."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({package.split(".")[0] for package in included})


def project_copy(target: Path) -> Path:
    """The project's sources as they are now (the files setup.py/pyproject.toml package,
    scrapy.cfg), in a folder of their own: building writes build/ and *.egg-info, and a
    stale build/ of the repository would be packaged too."""
    target.mkdir()
    for name in ("pyproject.toml", "setup.py", "scrapy.cfg", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for top in _project_tops():
        shutil.copytree(REPO / top, target / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM scrapyd, then SIGKILL whatever is left in its process group (its jobs)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_scrapyd(tmp: Path, python: Path, proxy: ReplayProxy, roll_api: RollApi) -> Iterator[Scrapyd]:
    """scrapyd run by ``python`` (``python -m scrapyd``) with its folders under ``tmp``,
    the project deployed to it as version r1."""
    workdir, logs_dir, eggs_dir = tmp / "workdir", tmp / "logs", tmp / "eggs"
    for folder in (workdir, tmp / "home", tmp / "xdg"):
        folder.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    (workdir / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        "bind_address = 127.0.0.1\n"
        f"http_port = {port}\n"
        f"username = {USERNAME}\n"
        f"password = {PASSWORD}\n"
        f"eggs_dir = {eggs_dir}\n"
        f"logs_dir = {logs_dir}\n"
        f"items_dir = {tmp / 'items'}\n"
        f"dbs_dir = {tmp / 'dbs'}\n"
        "max_proc = 2\n"
        "poll_interval = 0.2\n",
        encoding="utf-8",
    )
    server_log = (tmp / "scrapyd.out").open("wb")
    process = subprocess.Popen(
        [python, "-m", "scrapyd"],
        cwd=workdir,
        env=environment(tmp, proxy.url),
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its jobs share its process group: cleaned up with it
    )
    try:
        server = Scrapyd(url, workdir, logs_dir, eggs_dir, tmp, proxy, roll_api, python, deploy_output="")
        _wait_ready(server, process)
        server.deploy_output = _deploy(server, port)
        yield server
    finally:
        _stop(process)
        server_log.close()


def _wait_ready(server: Scrapyd, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scrapyd exited ({process.returncode}):\n{(server.tmp / 'scrapyd.out').read_text()}")
        try:
            if server.call("daemonstatus.json")["status"] == "ok":
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"scrapyd not answering at {server.url}:\n{(server.tmp / 'scrapyd.out').read_text()}")


def _deploy(server: Scrapyd, port: int) -> str:
    """`scrapyd-deploy test` from a copy of the project; the target (with credentials) comes
    from the user-level scrapy.cfg ($XDG_CONFIG_HOME/scrapy.cfg), the project from [deploy]."""
    (server.tmp / "xdg" / "scrapy.cfg").write_text(
        f"[deploy:test]\nurl = http://127.0.0.1:{port}/\nusername = {USERNAME}\npassword = {PASSWORD}\n",
        encoding="utf-8",
    )
    source = project_copy(server.tmp / "src")
    done = subprocess.run(
        [sys.executable, "-m", "scrapyd_client.deploy", "test", "--version", "r1"],  # the scrapyd-deploy command
        cwd=source,
        env=environment(server.tmp, None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout  # the server's answer; the progress messages go to stderr
