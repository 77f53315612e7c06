"""The core install (``pip install .``, no ``[cluster]`` extra) crawls: with ``redis`` and
``scrapy_redis`` made unimportable (tests/support/without_cluster_extra.py), every module
of the crawler imports but the four that are the cluster, ``scrapy list`` lists both
spiders, and a cluster run stops with one plain line naming the install command (exit 2).
tests/test_e2e_plain_install.py does the same on a real ``pip install .``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.crawl import REPO

BLOCKED = [sys.executable, "-m", "tests.support.without_cluster_extra"]
INSTALL = "pip install 'sina-finance-hexo[cluster]'"
# Imported only once a cluster is used (SINA_REDIS_URL, or the worker spider run).
CLUSTER_MODULES = {
    "crawler.cluster.budget",
    "crawler.cluster.coordinator",
    "crawler.cluster.driver",
    "crawler.cluster.worker",
}
IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil
import crawler
results = {}
def failed(name):
    results[name] = "cannot walk into it"
for info in pkgutil.walk_packages(crawler.__path__, "crawler.", onerror=failed):
    try:
        importlib.import_module(info.name)
        results[info.name] = None
    except ImportError as exc:
        results[info.name] = str(exc)
print(json.dumps(results))
"""


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BLOCKED, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_module_but_the_clusters_imports_without_the_extra() -> None:
    done = _run("-c", IMPORT_EVERY_MODULE)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    # The walk saw what Scrapy loads: the spiders, the settings, the components.
    for name in (
        "crawler.spiders.sina_finance",
        "crawler.spiders.sina_finance_worker",
        "crawler.settings",
        "crawler.commands.crawl",
        "crawler.downloadermiddlewares.hostrate",
        "crawler.extensions.runstate",
        "crawler.pipelines.hexo_posts",
        *CLUSTER_MODULES,
    ):
        assert name in results, f"{name} not found by the walk"
    failed = {name: error for name, error in results.items() if error is not None}
    assert set(failed) == CLUSTER_MODULES, failed
    for error in failed.values():
        assert error in ("No module named 'redis'", "No module named 'scrapy_redis'")


def test_the_blocker_blocks() -> None:
    """Without it the cluster modules import here (the test environment has the extra)."""
    done = subprocess.run([sys.executable, "-c", "import crawler.cluster.worker"], cwd=REPO, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert _run("-c", "import crawler.cluster.worker").returncode == 1


def test_scrapy_list_lists_both_spiders_without_the_extra() -> None:
    done = _run("scrapy", "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sina_finance\nsina_finance_worker\n"


def _crawl(tmp_path: Path, spider: str, *settings: str) -> subprocess.CompletedProcess[str]:
    output = [f"HEXO_POSTS_DIR={tmp_path / 'posts'}", f"STATE_DB={tmp_path / 'state.sqlite'}"]
    output += [f"MANIFEST={tmp_path / 'manifest.jsonl'}", "LOG_LEVEL=INFO"]
    arguments = [argument for setting in (*output, *settings) for argument in ("-s", setting)]
    return _run("scrapy", "crawl", spider, *arguments)


def _plain_stop(done: subprocess.CompletedProcess[str]) -> str:
    """The one line that says why the crawl did not start (exit 2, no traceback)."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if "Not crawling:" in line]
    return line


def test_the_worker_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    line = _plain_stop(_crawl(tmp_path, "sina_finance_worker"))
    assert line.endswith(
        "Not crawling: sina_finance_worker is a cluster's worker, but redis cannot be imported"
        f" (No module named 'redis'): it needs {INSTALL}"
    ), line


def test_a_coordinator_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    # Never reached: the crawl stops before it opens anything.
    line = _plain_stop(_crawl(tmp_path, "sina_finance", "SINA_REDIS_URL=redis://127.0.0.1:9/0"))
    assert line.endswith(
        "Not crawling: SINA_REDIS_URL is set but redis cannot be imported (No module named 'redis'):"
        f" a cluster needs {INSTALL}"
    ), line
    assert not (tmp_path / "posts").exists() and not (tmp_path / "state.sqlite").exists()
