"""Deployment end to end: a real scrapyd (PyPI ``scrapyd``) on 127.0.0.1 with a username
and password, the egg built and uploaded by the real ``scrapyd-deploy`` from the project's
sources, jobs scheduled through schedule.json with settings and spider arguments, the
replay proxy standing in for Sina.  The posts must be the golden ones, byte for byte."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest

from crawler.cluster.protocol import ClusterKeys
from crawler.storage.locking import LOCK_NAME
from tests.conftest import CASES
from tests.support.crawl import files_under, run_crawl
from tests.support.redis_server import redis_problem, redis_server
from tests.support.replay_proxy import ROLL_API_PREFIX, ProxyResponse, ReplayProxy, serve_corpus
from tests.support.scrapyd_server import (
    JOB_TIMEOUT,
    PROJECT,
    SPIDER,
    Scrapyd,
    environment,
    output_settings,
    running_scrapyd,
)

pytestmark = [pytest.mark.e2e, pytest.mark.scrapyd]
_PROJECT_MARKS = ("crawler/spiders/sina_finance.py", "settings/sections.yaml")  # a folder holding the project


def _server_python(tmp: Path) -> Path:
    """The Python scrapyd and its jobs run with, as on a server: the packages this test sees
    (scrapyd, Scrapy, the crawler's dependencies), but not the project itself.  A venv whose
    .pth file lists this interpreter's sys.path, less every entry that holds the project
    (the repository, an editable install's path line); an editable install's import hook is
    left out too, since .pth files in listed folders do not run.  So the jobs can only import
    the project from the deployed egg."""
    home = tmp / "server-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=120)
    python = home / "bin" / "python"
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([python, "-c", query], check=True, capture_output=True, text=True).stdout.strip())
    entries = [
        entry
        for entry in dict.fromkeys(os.path.abspath(entry) for entry in sys.path if entry)
        if os.path.isdir(entry) and not any(os.path.exists(os.path.join(entry, mark)) for mark in _PROJECT_MARKS)
    ]
    (site / "test-environment.pth").write_text("".join(f"{entry}\n" for entry in entries), encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrapyd]:
    tmp = tmp_path_factory.mktemp("scrapyd")
    python = _server_python(tmp)
    with ReplayProxy() as proxy:
        roll_api = serve_corpus(proxy, CASES, pageid="155", lid="1686")
        with running_scrapyd(tmp, python, proxy, roll_api) as server:
            yield server


# --- deployment -------------------------------------------------------------------------


def test_deploy_uploads_an_egg_with_the_settings_package_data(scrapyd: Scrapyd) -> None:
    answer = json.loads(scrapyd.deploy_output)
    assert answer["status"] == "ok" and answer["project"] == PROJECT and answer["spiders"] == 2, answer
    assert scrapyd.call(f"listspiders.json?project={PROJECT}")["spiders"] == [SPIDER, "sina_finance_worker"]
    assert scrapyd.call(f"listversions.json?project={PROJECT}")["versions"] == ["r1"]
    (egg,) = (scrapyd.eggs_dir / PROJECT).glob("*.egg")
    with zipfile.ZipFile(egg) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("EGG-INFO/entry_points.txt").decode()
    assert {"settings/sections.yaml", "settings/output.yaml", "crawler/settings.py"} <= names
    assert "crawler/spiders/sina_finance.py" in names
    assert "[scrapy]\nsettings = crawler.settings" in entry_points
    assert not any(name.startswith("tests/") for name in names)


def test_jobs_can_only_import_the_project_from_the_egg(scrapyd: Scrapyd) -> None:
    """Same interpreter, working directory and environment as scrapyd's jobs: no `crawler`
    to import outside the egg (even with the project installed in .venv), so the jobs below
    ran the deployed code; yet Scrapy and the crawler's dependencies are there."""
    code = "import importlib.util as u; print(u.find_spec('crawler'), u.find_spec('scrapy') is not None)"
    done = subprocess.run(
        [scrapyd.python, "-c", code],
        cwd=scrapyd.workdir,
        env=environment(scrapyd.tmp, scrapyd.proxy.url),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.strip() == "None True", done.stdout + done.stderr


def test_requests_without_credentials_are_refused(scrapyd: Scrapyd) -> None:
    jobs_before = scrapyd.jobs()
    for endpoint, data in (
        ("daemonstatus.json", None),
        ("listprojects.json", None),
        ("schedule.json", [("project", PROJECT), ("spider", SPIDER)]),
    ):
        with pytest.raises(HTTPError) as refused:
            scrapyd.call(endpoint, data, auth=False)
        refused.value.close()  # an HTTPError holds the answer and its socket open
        assert refused.value.code == 401, endpoint
    assert scrapyd.jobs() == jobs_before


# --- scheduled runs ---------------------------------------------------------------------


def _assert_golden_posts(posts: Path, log: str) -> None:
    files = files_under(posts)
    for case in CASES:
        assert case.expected_path in files, f"{case.expected_path} not written; log:\n{log[-3000:]}"
        assert files[case.expected_path] == case.expected, case.name
    assert sorted(files) == sorted(case.expected_path for case in CASES)


def test_scheduled_job_writes_the_golden_posts(scrapyd: Scrapyd) -> None:
    out = scrapyd.tmp / "blog"
    jobid = scrapyd.schedule("golden", output_settings(out), sections="china", pages="1")
    scrapyd.wait_finished(jobid)
    log = scrapyd.job_log(jobid)
    _assert_golden_posts(out / "posts", log)
    assert f"Run summary (finished): new={len(CASES)}" in log, log[-3000:]
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["finish_reason"] == "finished"
    assert (out / "state.sqlite").is_file()
    assert len((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) == len(CASES)
    assert (out / "posts" / LOCK_NAME).read_bytes() == b"", "lock released"
    # Items went to scrapyd's items_dir, and nothing was written relative to scrapyd's cwd.
    assert (scrapyd.tmp / "items" / PROJECT / SPIDER / f"{jobid}.jl").is_file()
    assert not (scrapyd.workdir / "output").exists()
    assert {path.name for path in scrapyd.workdir.iterdir()} <= {"scrapyd.conf", "twistd.pid"}


def test_overlapping_job_on_the_same_posts_folder_stops_with_posts_dir_locked(scrapyd: Scrapyd) -> None:
    out = scrapyd.tmp / "overlap"
    lock = out / "posts" / LOCK_NAME
    proxy, api = scrapyd.proxy, scrapyd.roll_api
    # The first job holds the posts folder while its roll-API answer is held back, until the
    # second job has finished (an order of events, not a delay the second job must beat).
    second_done = threading.Event()
    proxy.add_handler(ROLL_API_PREFIX, lambda request: _held(api(request), second_done))
    proxy.reset_log()
    try:
        first = scrapyd.schedule("overlap-first", output_settings(out), sections="china")
        deadline = time.monotonic() + JOB_TIMEOUT
        while not (lock.exists() and lock.read_bytes().startswith(b"PID ")):
            assert time.monotonic() < deadline, f"first job never locked {lock}:\n{scrapyd.job_log(first)}"
            assert scrapyd.jobs()[first]["state"] != "finished", scrapyd.job_log(first)
            time.sleep(0.1)
        second_settings = output_settings(out, SINA_LOCK_WAIT="0", SINA_STATS_FILE=str(out / "stats-second.json"))
        second = scrapyd.schedule("overlap-second", second_settings, sections="china")
        scrapyd.wait_finished(second)
        assert scrapyd.jobs()[first]["state"] == "running", "the first job must still hold the lock"
        second_done.set()
        scrapyd.wait_finished(first)
    finally:
        second_done.set()
        api.install(proxy)
    second_log, first_log = scrapyd.job_log(second), scrapyd.job_log(first)
    assert "posts_dir_locked" in second_log, second_log[-3000:]
    assert f"another crawl is writing to {out / 'posts'} (held by PID " in second_log
    assert re.search(r"held by PID \d+: \S*python\S* -m scrapyd\.runner crawl sina_finance ", second_log), second_log[
        -3000:
    ]
    assert "Run summary (posts_dir_locked)" in second_log
    assert json.loads((out / "stats-second.json").read_text(encoding="utf-8"))["finish_reason"] == "posts_dir_locked"
    assert f"Run summary (finished): new={len(CASES)}" in first_log, first_log[-3000:]
    assert proxy.count(ROLL_API_PREFIX) == 1, "the locked job made no request"
    _assert_golden_posts(out / "posts", first_log)
    assert len((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) == len(CASES)


def _held(response: ProxyResponse, until: threading.Event) -> ProxyResponse:
    response.hold = until
    return response


# --- several machines: workers as scrapyd jobs --------------------------------------------


@pytest.mark.redis
def test_workers_scheduled_through_scrapyd_serve_a_coordinator(scrapyd: Scrapyd, tmp_path: Path) -> None:
    """docs/cluster.md: two `sina_finance_worker` jobs from the deployed egg (its
    version read from the code, as the egg is not installed) work for a coordinator run
    from the installed project; the posts are the golden ones."""
    import redis

    problem = redis_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    worker = "sina_finance_worker"
    proxy = scrapyd.proxy
    with redis_server() as url:
        cluster = {"SINA_REDIS_URL": url, "SINA_CLUSTER": "scrapyd"}
        _serve_pages(proxy, delay=0.3)  # slow enough that the workers get their share
        try:
            jobs = [
                scrapyd.schedule(
                    f"worker-{n}", {**cluster, "SINA_STATS_FILE": str(tmp_path / f"worker{n}.json")}, spider=worker
                )
                for n in range(2)
            ]
            workers_up = ClusterKeys("scrapyd").workers
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + JOB_TIMEOUT
            while len(list(client.scan_iter(match=workers_up))) < 2:
                assert time.monotonic() < deadline, [scrapyd.job_log(job, worker)[-2000:] for job in jobs]
                time.sleep(0.1)
            fast = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0", "SINA_HOST_RATE": "1000"}
            coordinator = run_crawl(proxy.url, tmp_path / "coordinator", "sections=china", settings={**cluster, **fast})
            for job in jobs:
                scrapyd.wait_finished(job)
        finally:
            _serve_pages(proxy, delay=0.0)
    assert coordinator.returncode == 0, coordinator.log[-3000:]
    _assert_golden_posts(tmp_path / "coordinator" / "posts", coordinator.log)
    answered = []
    for n, job in enumerate(jobs):
        log = scrapyd.job_log(job, worker)
        assert "Working for cluster 'scrapyd'" in log, log[-3000:]
        stats = json.loads((tmp_path / f"worker{n}.json").read_text(encoding="utf-8"))
        assert stats["finish_reason"] == "finished", log[-3000:]
        answered.append(int(stats.get("sina/cluster/answers", 0)))
    assert sum(answered) > 0 and coordinator.stat("sina/cluster/answers") == sum(answered)
    assert coordinator.stat("sina/cluster/taken") + sum(answered) == len(CASES)


def _serve_pages(proxy: ReplayProxy, delay: float) -> None:
    for case in CASES:
        for url in (case.https_url, case.https_url.split("?")[0]):
            proxy.add(url, case.page, delay=delay)
