"""The core install crawls, for real: a venv with ``pip install .`` alone (no ``[cluster]``
extra, so no redis nor scrapy-redis; no test packages either), driven from outside by this
interpreter, lists both spiders, writes the seed post byte for byte through the replay
proxy, and says plainly what a cluster needs.  A scrapyd set up as docs/deploy.md says
but without the extra (scrapyd and the declared dependencies, the project as an egg)
lists both spiders and runs ``sina_finance``.

The venv is the one SINA_PLAIN_PYTHON names (.ci/run makes it), else one made here from
a copy of the sources.  The crawls run from a folder without sources, so the installed
crawler is what runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import corpus_case
from tests.support.crawl import REPO, files_under, run_crawl
from tests.support.replay_proxy import ReplayProxy, serve_corpus
from tests.support.scrapyd_server import PROJECT, SPIDER, Scrapyd, output_settings, project_copy, running_scrapyd

pytestmark = [pytest.mark.e2e, pytest.mark.plain_install]
PLAIN_PYTHON = "SINA_PLAIN_PYTHON"  # a venv's python, with `pip install .` and nothing else
SEED = corpus_case("seed-haiguan")
INSTALL = "pip install 'sina-finance-hexo[cluster]'"
ABSENT = ("redis", "scrapy_redis", "pytest", "trustme", "scrapyd_client")  # the extra, the test packages


@pytest.fixture(scope="module")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get(PLAIN_PYTHON)
    if given:
        python = Path(given).absolute()  # not resolved: a venv's python is a symlink out of it
        assert python.is_file(), f"{PLAIN_PYTHON}={given}: no such interpreter"
        return python
    tmp = tmp_path_factory.mktemp("plain")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, timeout=120)
    python = tmp / "venv" / "bin" / "python"
    source = project_copy(tmp / "src")
    # --no-compile: the same files, without byte-compiling every package at install (a few
    # seconds); imports compile what they use.
    done = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-compile", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return python


def _in_plain(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "SCRAPY_SETTINGS_MODULE")}
    env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"  # the installed project's, not a scrapy.cfg's
    return subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _absent(python: Path, tmp_path: Path) -> list[str]:
    code = f"import importlib.util as u, json; print(json.dumps([n for n in {ABSENT!r} if u.find_spec(n) is None]))"
    done = _in_plain(python, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    absent: list[str] = json.loads(done.stdout)
    return absent


def test_the_venv_has_the_crawler_but_no_cluster_extra_nor_test_packages(plain_python: Path, tmp_path: Path) -> None:
    assert _absent(plain_python, tmp_path) == list(ABSENT)
    code = "import crawler, sysconfig; print(crawler.__file__); print(sysconfig.get_paths()['purelib'])"
    done = _in_plain(plain_python, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    module, site = done.stdout.splitlines()
    assert Path(module).is_relative_to(site), f"crawler imported from {module}, not installed in {site}"


def test_scrapy_list_lists_both_spiders(plain_python: Path, tmp_path: Path) -> None:
    done = _in_plain(plain_python, "-m", "scrapy", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sina_finance\nsina_finance_worker\n"


def test_the_seed_is_written_byte_for_byte(plain_python: Path, tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED], pageid="155", lid="1686")
        result = run_crawl(proxy.url, tmp_path, "sections=china", python=plain_python)
    assert result.returncode == 0, result.log[-3000:]
    assert files_under(tmp_path / "posts") == {SEED.expected_path: SEED.expected}
    assert result.stat("sina/posts/new") == 1
    assert "Traceback" not in result.log


def test_a_cluster_run_says_what_it_needs(plain_python: Path, tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        worker = run_crawl(proxy.url, tmp_path / "worker", spider="sina_finance_worker", python=plain_python)
        # Never reached: the crawl stops before it opens anything.
        cluster = {"SINA_REDIS_URL": "redis://127.0.0.1:9/0"}
        coordinator = run_crawl(proxy.url, tmp_path / "coordinator", settings=cluster, python=plain_python)
        assert proxy.urls() == []
    for run in (worker, coordinator):
        assert run.returncode == 2, run.log[-3000:]
        assert "Traceback" not in run.log, run.log[-3000:]
        (line,) = [line for line in run.log.splitlines() if "Not crawling:" in line]
        assert line.endswith(f"needs {INSTALL}"), line
    assert not (tmp_path / "coordinator" / "posts").exists()


# --- scrapyd on the core install ------------------------------------------------------


@pytest.fixture(scope="module")
def core_scrapyd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrapyd]:
    """scrapyd as docs/deploy.md sets a server up, less the ``cluster`` extra: a venv with
    scrapyd and the project's declared dependencies, but not the project (its jobs import
    it from the deployed egg)."""
    tmp = tmp_path_factory.mktemp("core-scrapyd")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "server-venv")], check=True, timeout=120)
    python = tmp / "server-venv" / "bin" / "python"
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    done = _in_plain(python, "-m", "pip", "install", "--quiet", "--no-compile", "scrapyd", *dependencies, cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"redis", "scrapy_redis"} <= set(_absent(python, tmp)), "scrapyd brought the cluster extra"
    assert _in_plain(python, "-c", "import crawler", cwd=tmp).returncode == 1, "the project is installed"
    with ReplayProxy() as proxy:
        roll_api = serve_corpus(proxy, [SEED], pageid="155", lid="1686")
        with running_scrapyd(tmp, python, proxy, roll_api) as server:
            yield server


@pytest.mark.scrapyd
def test_scrapyd_without_redis_lists_both_spiders_and_runs_sina_finance(core_scrapyd: Scrapyd) -> None:
    answer = json.loads(core_scrapyd.deploy_output)
    assert answer.get("spiders") == 2, answer  # before: the egg's spiders failed to load without redis
    assert core_scrapyd.call(f"listspiders.json?project={PROJECT}")["spiders"] == [SPIDER, "sina_finance_worker"]
    out = core_scrapyd.tmp / "blog"
    jobid = core_scrapyd.schedule("core", output_settings(out), sections="china")
    core_scrapyd.wait_finished(jobid)
    log = core_scrapyd.job_log(jobid)
    assert files_under(out / "posts") == {SEED.expected_path: SEED.expected}, log[-3000:]
    assert json.loads((out / "stats.json").read_text(encoding="utf-8"))["finish_reason"] == "finished"
    assert "Traceback" not in log, log[-3000:]
