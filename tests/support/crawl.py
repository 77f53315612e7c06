"""Running the real `scrapy crawl sina_finance` against the replay proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.storage.locking import LOCK_NAME
from tests.conftest import CORPUS  # noqa: F401  (re-exported: modules import it from here too)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CrawlResult:
    returncode: int
    log: str
    stats: dict[str, Any]

    def stat(self, key: str) -> int:
        return int(self.stats.get(key, 0))


def run_crawl(
    proxy_url: str,
    work: Path,
    *spider_args: str,
    settings: dict[str, str] | None = None,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> CrawlResult:
    """One crawl in a subprocess (a Twisted reactor cannot be restarted in-process);
    ``env`` adds environment variables (e.g. ``no_proxy``); ``prefix`` is a command that
    runs the crawl (e.g. ``setpriv`` dropping capabilities)."""
    work.mkdir(parents=True, exist_ok=True)
    stats_file = work / "stats.json"
    stats_file.unlink(missing_ok=True)
    log_file = work / "crawl.log"
    all_settings = {
        "HEXO_POSTS_DIR": str(work / "posts"),
        "STATE_DB": str(work / "state.sqlite"),
        "MANIFEST": str(work / "manifest.jsonl"),
        "SINA_STATS_FILE": str(stats_file),
        "LOG_FILE": str(log_file),
        "LOG_FILE_APPEND": "False",
        "LOG_LEVEL": "INFO",
        # The politeness defaults stay on; only the start delay is shortened.
        "AUTOTHROTTLE_START_DELAY": "0.1",
        "DOWNLOAD_DELAY": "0.05",
        "RETRY_BACKOFF_BASE": "0.05",  # the backoff rule stays on, with short pauses
        **(settings or {}),
    }
    command = [*(prefix or []), sys.executable, "-m", "scrapy", "crawl", "sina_finance"]
    for arg in spider_args:
        command += ["-a", arg]
    for name, value in all_settings.items():
        command += ["-s", f"{name}={value}"]
    extra_env = env
    env = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "all_proxy")}
    env.update(http_proxy=proxy_url, https_proxy=proxy_url, HTTP_PROXY=proxy_url, HTTPS_PROXY=proxy_url)
    env.update(extra_env or {})
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    log = (log_file.read_text(encoding="utf-8") if log_file.exists() else "") + done.stderr
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    return CrawlResult(done.returncode, log, stats)


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under root (relative POSIX path -> bytes), temporary ones included,
    but for the crawler's lock file at the top (checked on its own)."""
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != LOCK_NAME
    }
