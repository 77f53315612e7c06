"""Is the site still the site?  ``scrapy sina-check`` run for real (a subprocess, through
the replay proxy): ok on the bundled pages, "template changed" on an article page without
its body container, "listing broken" on a listing that is garbage; it writes nothing and
takes no lock.  And a normal crawl whose section's article pages mostly lost their body
container says "template changed?" in that section's summary line and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CASES, REPO, corpus_case
from tests.support.crawl import files_under, run_crawl
from tests.support.kinds import KIND_SECTIONS, serve_kinds
from tests.support.replay_proxy import ROLL_API_PREFIX, ReplayProxy, RollApi, serve_corpus
from tests.support.settings import output_settings
from tests.support.synthetic import LID, PAGEID, synthetic_articles, without_body_container

pytestmark = pytest.mark.e2e

SECTIONS = ",".join(("china", *KIND_SECTIONS))


def _check(proxy_url: str, work: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``scrapy sina-check`` with its output settings under ``work`` (which it must not touch)."""
    command = [sys.executable, "-m", "scrapy", "sina-check", *args]
    for name, value in output_settings(work).items():
        command += ["-s", f"{name}={value}"]
    environment = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "all_proxy")}
    environment.update(http_proxy=proxy_url, https_proxy=proxy_url)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


def _rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by section id: [name, status, reason]."""
    lines = stdout.strip().splitlines()
    assert lines[0].split() == ["section", "name", "status", "reason"], stdout
    rows = {}
    for line in lines[1:]:
        section, name, rest = line.split(maxsplit=2)
        status = "ok" if rest.startswith("ok ") else " ".join(rest.split()[:2])
        rows[section] = [name, status, rest[len(status) :].strip()]
    return rows


def test_sina_check_says_ok_on_the_bundled_pages(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES)
        serve_kinds(proxy)
        done, elapsed = _check(proxy.url, tmp_path, "-a", f"sections={SECTIONS}")
        requested = proxy.urls()
    print(f"scrapy sina-check on the corpus ({elapsed:.1f} s):\n{done.stdout}")  # the table, shown with -s
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = _rows(done.stdout)
    assert list(rows) == ["china", "zhibo", "feed-usstock"]  # sections.yaml order
    assert [row[1] for row in rows.values()] == ["ok", "ok", "ok"]
    assert rows["china"][0] == "国内滚动" and rows["china"][2].startswith("11 items; https://finance.sina.com.cn/")
    assert rows["zhibo"][2].startswith("3 items; flash ")
    # One listing page per section and one article of each that has pages: nothing more.
    asked = [url for url in requested if not url.endswith("/robots.txt")]
    assert len([url for url in asked if "doc-i" in url]) == 2 and len(asked) == 5, asked
    assert not tmp_path.exists() or files_under(tmp_path) == {}, "no post, no state, no manifest, no lock"


def test_sina_check_says_template_changed_and_listing_broken(tmp_path: Path) -> None:
    good, changed = corpus_case("seed-haiguan"), corpus_case("nitmeau2811260")
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [good], lid="1686")  # china: fine
        serve_corpus(proxy, [changed], lid="1687")  # macro: its article lost its body container
        proxy.add(changed.https_url, without_body_container(changed.page))
        RollApi({("155", "1686"): [good.item], ("155", "1687"): [changed.item]}).install(proxy)
        garbage = b"<html>Sina is down for maintenance</html>"
        proxy.add(f"{ROLL_API_PREFIX}?pageid=155&lid=1688&k=&num=50&page=1", garbage)  # local: not the API's answer
        done, _ = _check(proxy.url, tmp_path, "-a", "sections=china,macro,local")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    rows = _rows(done.stdout)
    assert rows["china"][1] == "ok"
    assert rows["macro"][1:] == [
        "template changed",
        f"{changed.https_url}: no body container (#artibody, #article)",
    ]
    listing = f"{ROLL_API_PREFIX}?pageid=155&lid=1688&k=&num=50&page=1"
    assert rows["local"][1:] == ["listing broken", f"{listing}: not_json: answer starts with '{garbage[:40].decode()}'"]
    assert "Section macro: template changed" in done.stderr  # and said on stderr, as an error


def test_a_crawl_whose_articles_mostly_lost_their_body_container_says_template_changed(tmp_path: Path) -> None:
    items, pages = synthetic_articles([corpus_case("seed-haiguan")], 5)
    with ReplayProxy() as proxy:
        for number, (url, page) in enumerate(pages):
            proxy.add(url, without_body_container(page) if number < 4 else page)
        RollApi({(PAGEID, LID): items}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    assert result.returncode == 1, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"  # the run did its work: only the exit status says it
    assert result.stat("sina/run/template_changed") == 1
    assert result.stat("sina/section/china/fetched") == 5 and result.stat("sina/section/china/no_body") == 4
    assert (
        "Run summary, section china: listed=5 known=0 new=1 updated=0 unchanged=0 skipped=4 failed=0 list_failed=0"
        " template changed?" in result.log
    )
    assert "Section china: 4 of 5 fetched article pages have no body container (no_body)" in result.log
    assert len(files_under(tmp_path / "posts")) == 1
