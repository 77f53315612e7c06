"""What the log of a real crawl says, through the replay proxy: a healthy run logs nothing
at WARNING or above and no traceback; a robots.txt that cannot be fetched is one line; with
HEXO_IMAGES=local, every image not stored is one line and the run summary counts it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import CASES, corpus_case
from tests.support.crawl import run_crawl
from tests.support.rasters import png_1x1
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, serve_corpus

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
LOUD = re.compile(r"\] (WARNING|ERROR|CRITICAL): ")
MAXSIZE = 1_000_000  # the test's DOWNLOAD_MAXSIZE: the article pages are below it


def _loud(log: str) -> list[str]:
    return [line for line in log.splitlines() if LOUD.search(line)]


def test_a_healthy_run_logs_no_warning_and_no_traceback(tmp_path: Path) -> None:
    """The corpus with the default settings (images remote, no cluster): not one WARNING."""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    assert result.returncode == 0 and result.stat("sina/posts/new") == len(CASES)
    assert _loud(result.log) == []
    assert "Traceback" not in result.log
    assert result.stat("log_count/WARNING") == 0 and result.stat("log_count/ERROR") == 0


@pytest.mark.parametrize("failure", ["dropped", "too_large"])
def test_a_robots_txt_that_cannot_be_fetched_is_one_line(tmp_path: Path, failure: str) -> None:
    """The crawl goes on as if the host had no robots.txt, and says so on one line."""
    robots = "https://finance.sina.com.cn/robots.txt"
    answer = (
        ProxyResponse(200, b"", fault="drop")
        if failure == "dropped"
        else ProxyResponse(200, b"User-agent: *\n" * (MAXSIZE // 10), {"Content-Type": "text/plain"})
    )
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        proxy.add_handler(robots, lambda request: answer)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={"DOWNLOAD_MAXSIZE": str(MAXSIZE), "DOWNLOAD_WARNSIZE": str(MAXSIZE)},
        )
    assert result.returncode == 0 and result.stat("sina/posts/new") == 1
    reason = "connection_lost" if failure == "dropped" else "too_large"
    assert _loud(result.log) == [
        line for line in result.log.splitlines() if "robots.txt of https://finance.sina.com.cn not read" in line
    ]
    (line,) = _loud(result.log)
    assert line.endswith(
        f"WARNING: robots.txt of https://finance.sina.com.cn not read ({reason}): "
        "its pages are fetched as if it had none"
    )
    assert "Traceback" not in result.log


def test_image_failures_are_in_the_summary_and_each_is_logged_once(tmp_path: Path) -> None:
    """An article with seven images: one stored, the others answered 404, 503 (retried),
    too large, or a dropped connection; each not stored is one line naming its URL and why."""
    case = next(case for case in CASES if "iihnzahi3275702" in case.https_url)  # seven images
    outcomes = {
        "2b6c-iittafs2905468.jpg": ProxyResponse(200, png_1x1(), {"Content-Type": "image/png"}),
        "6e20-iittafs2905537.jpg": ProxyResponse(404, b"gone"),
        "1efd-iittafs2905625.jpg": ProxyResponse(503, b"busy"),
        "4e8f-iittafs2905672.jpg": ProxyResponse(200, b"\x89PNG" + b"0" * MAXSIZE, {"Content-Type": "image/png"}),
        "36e3-iittafs2905734.jpg": ProxyResponse(200, b"", fault="drop"),
        "e818-iittafs2905813.jpg": ProxyResponse(404, b"gone"),
        "4c85-iittafs2905880.jpg": ProxyResponse(404, b"gone"),
    }

    def image(request: ProxyRequest) -> ProxyResponse:
        return next((answer for name, answer in outcomes.items() if request.url.endswith(name)), ProxyResponse(404))

    with ReplayProxy() as proxy:
        serve_corpus(proxy, [case])
        proxy.add("https://n.sinaimg.cn/robots.txt", b"", status=404)
        proxy.add_handler("https://n.sinaimg.cn/news/crawl/", image)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={
                "HEXO_IMAGES": "local",
                "RETRY_TIMES": "1",
                "DOWNLOAD_MAXSIZE": str(MAXSIZE),
                "DOWNLOAD_WARNSIZE": str(MAXSIZE),
            },
        )
    assert result.returncode == 0 and result.stat("sina/posts/new") == 1
    (summary,) = [line for line in result.log.splitlines() if "Run summary (finished)" in line]
    assert summary.endswith("; images: stored=1 failed=6 (connection_lost=1, http_404=3, http_503=1, too_large=1)"), (
        summary
    )
    failed = [url for url in proxy.urls() if any(url.endswith(name) for name in list(outcomes)[1:])]
    assert len(set(failed)) == 6
    for url in set(failed):
        lines = [line for line in result.log.splitlines() if url in line]
        assert len(lines) == 1, f"{url} logged {len(lines)} times:\n" + "\n".join(lines)
        assert re.search(r"WARNING: Image kept remote for .* \(download failed: \w+\): ", lines[0]), lines[0]
    assert "Traceback" not in result.log


def test_an_article_over_the_size_limit_is_one_warning_and_cancelled_by_its_length(tmp_path: Path) -> None:
    """Scrapy's download handler cancels it on its Content-Length (its line, now DEBUG,
    says so); the skip's line is the one warning."""
    big = SEED.page + b"<!-- " + b"x" * MAXSIZE + b" -->"
    other = next(case for case in CASES if case.name != SEED.name)  # parsed: the run is not a failure
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED, other])
        proxy.add(SEED.https_url, big)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={"DOWNLOAD_MAXSIZE": str(MAXSIZE), "DOWNLOAD_WARNSIZE": str(MAXSIZE), "LOG_LEVEL": "DEBUG"},
        )
    assert result.stat("sina/skipped/too_large") == 1
    (line,) = _loud(result.log)
    assert line.endswith(f"WARNING: Article skipped (too_large): {SEED.https_url}"), line
    assert re.search(
        rf"DEBUG: Expected to receive {len(big)} bytes which is larger than download max size \({MAXSIZE}\) "
        rf"in request <GET {re.escape(SEED.https_url)}>",
        result.log,
    ), "cancelled on its Content-Length, before its body was read"
