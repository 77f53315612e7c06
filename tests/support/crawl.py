"""Running the real `scrapy crawl sina_finance` against the replay proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.storage.locking import LOCK_NAME
from tests.conftest import CORPUS  # noqa: F401  (re-exported: modules import it from here too)
from tests.support.settings import output_settings

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CrawlResult:
    returncode: int
    log: str
    stats: dict[str, Any]

    def stat(self, key: str) -> int:
        return int(self.stats.get(key, 0))


def crawl_command(
    proxy_url: str,
    work: Path,
    *spider_args: str,
    spider: str = "sina_finance",
    settings: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    python: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one crawl whose output, log and stats are in
    ``work`` and whose network is the replay proxy at ``proxy_url``.  With ``python``, the
    crawler installed in that interpreter's environment runs (see ``crawl_folder``)."""
    work.mkdir(parents=True, exist_ok=True)
    all_settings = {
        **output_settings(work),
        "SINA_STATS_FILE": str(work / "stats.json"),
        "LOG_FILE": str(work / "crawl.log"),
        "LOG_FILE_APPEND": "False",
        "LOG_LEVEL": "INFO",
        # The politeness defaults stay on; only the start delay is shortened.
        "AUTOTHROTTLE_START_DELAY": "0.1",
        "DOWNLOAD_DELAY": "0.05",
        "RETRY_BACKOFF_BASE": "0.05",  # the backoff rule stays on, with short pauses
        **(settings or {}),
    }
    command = [*(prefix or []), str(python or sys.executable), "-m", "scrapy", "crawl", spider]
    for arg in spider_args:
        command += ["-a", arg]
    for name, value in all_settings.items():
        command += ["-s", f"{name}={value}"]
    environment = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "all_proxy")}
    environment.update(http_proxy=proxy_url, https_proxy=proxy_url, HTTP_PROXY=proxy_url, HTTPS_PROXY=proxy_url)
    if python is not None:  # the installed project's settings, not a scrapy.cfg's
        environment = {key: value for key, value in environment.items() if key != "PYTHONPATH"}
        environment["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    environment.update(env or {})
    return command, environment


def scrapy_command(
    proxy_url: str, work: Path, *arguments: str, settings: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Another scrapy command (``shell URL``, ``parse --spider sina_finance URL``) with the
    settings, log and network a crawl by crawl_command has."""
    command, environment = crawl_command(proxy_url, work, settings=settings)
    at = command.index("crawl")
    return [*command[:at], *arguments, *command[at + 2 :]], environment


def crawl_folder(work: Path, python: Path | None) -> Path:
    """Where a crawl runs: the repository (its scrapy.cfg, its sources first on the path),
    or, for another interpreter's installed crawler, ``work``, where no sources are."""
    return REPO if python is None else work


def crawl_result(work: Path, returncode: int, stderr: str = "") -> CrawlResult:
    """What a crawl run by crawl_command left in ``work``: its log and final stats."""
    log_file, stats_file = work / "crawl.log", work / "stats.json"
    log = (log_file.read_text(encoding="utf-8") if log_file.exists() else "") + stderr
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    return CrawlResult(returncode, log, stats)


def run_crawl(
    proxy_url: str,
    work: Path,
    *spider_args: str,
    settings: dict[str, str] | None = None,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    spider: str = "sina_finance",
    python: Path | None = None,
) -> CrawlResult:
    """One crawl in a subprocess (a Twisted reactor cannot be restarted in-process);
    ``env`` adds environment variables (e.g. ``no_proxy``); ``prefix`` is a command that
    runs the crawl (e.g. ``setpriv`` dropping capabilities); ``python`` is the interpreter
    of another environment whose installed crawler runs (this repository's by default)."""
    (work / "stats.json").unlink(missing_ok=True)
    command, environment = crawl_command(
        proxy_url, work, *spider_args, spider=spider, settings=settings, env=env, prefix=prefix, python=python
    )
    cwd = crawl_folder(work, python)
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
    return crawl_result(work, done.returncode, done.stderr)


def start_crawl(
    proxy_url: str,
    work: Path,
    *spider_args: str,
    spider: str = "sina_finance",
    settings: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """The same crawl, started in the background; ``finished_crawl`` waits for it and
    reads what it left (its stderr goes to ``work/stderr.txt``)."""
    (work / "stats.json").unlink(missing_ok=True)
    command, environment = crawl_command(proxy_url, work, *spider_args, spider=spider, settings=settings)
    with (work / "stderr.txt").open("w", encoding="utf-8") as stderr:
        return subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


@contextmanager
def running_crawl(
    proxy_url: str,
    work: Path,
    *spider_args: str,
    spider: str = "sina_finance",
    settings: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """``start_crawl`` for a ``with`` block: a crawl still running when the block ends
    (the test failed before ``finished_crawl``) is killed and reaped, never left behind
    to warn or to disturb the next test."""
    process = start_crawl(proxy_url, work, *spider_args, spider=spider, settings=settings)
    try:
        yield process
    finally:
        end_process(process)


def end_process(process: subprocess.Popen[str]) -> None:
    """Kill ``process`` if it still runs, and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait()


def finished_crawl(process: subprocess.Popen[str], work: Path, timeout: float = 180) -> CrawlResult:
    """What a crawl from start_crawl left, once it has exited (killed after ``timeout`` s)."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the crawl in {work} did not end within {timeout} s") from None
    stderr = work / "stderr.txt"
    return crawl_result(work, process.returncode, stderr.read_text(encoding="utf-8") if stderr.exists() else "")


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under root (relative POSIX path -> bytes), temporary ones included,
    but for the crawler's lock file at the top (checked on its own).  Strict: for a tree
    no crawl is writing any more (a file renamed away while it is read is an error);
    ``count_posts`` is the one to poll a running crawl with."""
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != LOCK_NAME
    }


def count_posts(root: Path) -> int:
    """How many posts (``.md`` files, hidden ones and temporary files aside) are under
    root now: safe to poll while a crawl writes, renames and removes files there."""
    return sum(
        1 for _, _, names in os.walk(root) for name in names if name.endswith(".md") and not name.startswith(".")
    )
