"""Fault matrix, end to end: ONE real `scrapy crawl sina_finance` through the replay
proxy, over three sections.  Section china lists every golden article (two of them
served as GBK pages) among one article or roll item per fault; section macro's roll API
answers an HTML error page, section local's a JSON error status.  Each fault must give
its stats counter and one warning naming the URL and the reason; no fault may cost a
good article its byte-exact post, nor leave a partial or temporary file."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import pytest

from crawler.storage.locking import LOCK_NAME
from tests.conftest import CASES, CORPUS, corpus_case
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import ROLL_API_PREFIX, CorpusCase, ProxyRequest, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e
GBK_HEADER_CASE = "fxsktkp9337164"  # GBK can encode every character of this page
GBK_META_CASE = "seed-haiguan"  # its one non-GBK character (©, in the footer) becomes &#169;

ARTICLE_BASE = "https://finance.sina.com.cn/roll/2026-09-28/doc-i{}.shtml"
ROLL_URL = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid={lid}&k=&num=50&page=1"
CHINA_ROLL = ROLL_URL.format(lid="1686")
MACRO_ROLL = ROLL_URL.format(lid="1687")
LOCAL_ROLL = ROLL_URL.format(lid="1688")

DOWNLOAD_TIMEOUT = 2  # seconds (margin for a loaded machine); the slow article answers after SLOW_DELAY
SLOW_DELAY = 6.0
MAXSIZE = 5 * 1024 * 1024  # crawler/settings.py DOWNLOAD_MAXSIZE, not overridden here


def to_gbk(page: bytes, errors: str = "strict") -> bytes:
    """The same page as a GBK site serves it: text re-encoded, charset declarations changed."""
    text = page.decode("utf-8")
    text, declarations = re.subn(r"(?i)(charset\s*=\s*[\"']?)utf-8", r"\1gbk", text)
    assert declarations >= 1, "no charset declaration to change"
    return text.encode("gbk", errors=errors)


@dataclass(frozen=True)
class ArticleFault:
    publishid: str
    reason: str  # sina/skipped/<reason>
    response: ProxyResponse
    retry_reason: str | None  # retry/reason_count/<retry_reason>, None: not retried

    @property
    def url(self) -> str:
        return ARTICLE_BASE.format(self.publishid)


SEED = corpus_case("seed-haiguan")
NO_BODY_PAGE = (
    b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body><p>no container</p></body></html>'
)
# A real page, then a 6 MB comment: its Content-Length alone is over DOWNLOAD_MAXSIZE.
LARGE_PAGE = SEED.page + b"<!-- " + b"x" * (6 * 1024 * 1024) + b" -->"

ARTICLE_FAULTS = (
    ArticleFault("faulted0000404", "http_404", ProxyResponse(404, b"<html><body>not found</body></html>"), None),
    ArticleFault(
        "faulted0000500", "http_500", ProxyResponse(500, b"<html><body>boom</body></html>"), "500 Internal Server Error"
    ),
    ArticleFault(
        "faulted0000001",
        "timeout",
        ProxyResponse(200, SEED.page, delay=SLOW_DELAY),
        "scrapy.exceptions.DownloadTimeoutError",
    ),
    ArticleFault(
        "faulted0000002",
        "truncated",
        ProxyResponse(200, SEED.page, fault="truncate"),
        "scrapy.exceptions.ResponseDataLossError",
    ),
    # Closed without an answer (Scrapy's DownloadFailedError).
    ArticleFault(
        "faulted0000003",
        "connection_lost",
        ProxyResponse(200, SEED.page, fault="drop"),
        "scrapy.exceptions.DownloadFailedError",
    ),
    ArticleFault("faulted0000004", "no_body", ProxyResponse(200, NO_BODY_PAGE), None),
    ArticleFault("faulted0000005", "too_large", ProxyResponse(200, LARGE_PAGE), None),
)
RETRIED = [fault for fault in ARTICLE_FAULTS if fault.retry_reason is not None]
NO_URL_DOCID = "comos:faulted0000006"
NO_TIME_URL = ARTICLE_BASE.format("faulted0000007")


def _fault_item(fault_publishid: str, number: int) -> dict[str, Any]:
    item = copy.deepcopy(SEED.item)
    ctime = str(1790000000 + number)
    item.update(
        url=ARTICLE_BASE.format(fault_publishid),
        title=f"坏文章{number}",
        ctime=ctime,
        intime=ctime,
        mtime=ctime,
        docid=f"comos:{fault_publishid}",
    )
    return item


def _china_listing() -> list[dict[str, Any]]:
    listing = [copy.deepcopy(case.item) for case in CASES]
    listing += [_fault_item(fault.publishid, number) for number, fault in enumerate(ARTICLE_FAULTS)]
    no_url = _fault_item("faulted0000006", 90)
    del no_url["url"]
    no_url["docid"] = NO_URL_DOCID
    no_time = _fault_item("faulted0000007", 91)
    for key in ("ctime", "intime"):
        del no_time[key]
    return [*listing, no_url, no_time]


class FaultsRun(TypedDict):
    """What the module's one crawl left and what the proxy saw of it."""

    work: Path
    result: CrawlResult
    files: dict[str, bytes]
    requests: dict[str, int]  # requests per fault reason, and "no_time"
    gbk_pages: dict[str, bytes]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FaultsRun:
    work: Path = tmp_path_factory.mktemp("faults")
    gbk_header = corpus_case(GBK_HEADER_CASE)
    gbk_meta = corpus_case(GBK_META_CASE)
    gbk_pages = {
        GBK_HEADER_CASE: to_gbk(gbk_header.page),
        GBK_META_CASE: to_gbk(gbk_meta.page, errors="xmlcharrefreplace"),
    }
    china = RollApi({("155", "1686"): _china_listing()})

    def roll_api(request: ProxyRequest) -> ProxyResponse:
        lid = request.query.get("lid")
        if lid == "1687":  # a gateway's HTML error page, with status 200
            page = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            return ProxyResponse(200, page, {"Content-Type": "text/html; charset=utf-8"})
        if lid == "1688":
            body = '{"result":{"status":{"code":-1,"msg":"系统繁忙"},"data":[]}}'.encode()
            return ProxyResponse(200, body, {"Content-Type": "application/json; charset=utf-8"})
        return china(request)

    with ReplayProxy() as proxy:
        for case in CASES:
            if case.name == GBK_HEADER_CASE:
                page, headers = gbk_pages[case.name], {"Content-Type": "text/html; charset=gbk"}
            elif case.name == GBK_META_CASE:
                page, headers = gbk_pages[case.name], {"Content-Type": "text/html"}  # charset only in <meta>
            else:
                page, headers = case.page, None
            proxy.add(case.https_url, page, headers=headers)
        for fault in ARTICLE_FAULTS:

            def answer(request: ProxyRequest, response: ProxyResponse = fault.response) -> ProxyResponse:
                return response

            proxy.add_handler(fault.url, answer)
        proxy.add_handler(ROLL_API_PREFIX, roll_api)
        result = run_crawl(
            proxy.url,
            work,
            "sections=china,macro,local",
            settings={"RETRY_TIMES": "1", "DOWNLOAD_TIMEOUT": str(DOWNLOAD_TIMEOUT)},
        )
        counts = {fault.reason: proxy.count(fault.url) for fault in ARTICLE_FAULTS}
        counts["no_time"] = proxy.count(NO_TIME_URL)
    return {
        "work": work,
        "result": result,
        "files": files_under(work / "posts"),
        "requests": counts,
        "gbk_pages": gbk_pages,
    }


def _result(run: FaultsRun) -> CrawlResult:
    return run["result"]


def _warnings_naming(log: str, *parts: str) -> list[str]:
    return [line for line in log.splitlines() if "WARNING" in line and all(part in line for part in parts)]


# --- the good articles --------------------------------------------------------------


def test_corpus_and_fixture_pages_are_what_the_faults_need(run: FaultsRun) -> None:
    assert len(CASES) >= 11, f"golden corpus missing or incomplete at {CORPUS}"
    for name, page in run["gbk_pages"].items():
        with pytest.raises(UnicodeDecodeError):
            page.decode("utf-8")  # really GBK bytes, so a UTF-8 decoder would be wrong
        assert page.decode("gbk").count("charset=") >= 1, name
    assert len(LARGE_PAGE) > MAXSIZE


def test_crawl_finishes_cleanly(run: FaultsRun) -> None:
    result = _result(run)
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "finished"
    assert "Traceback" not in result.log, result.log[-3000:]
    assert (run["work"] / "posts" / LOCK_NAME).read_bytes() == b"", "lock released"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_good_article_is_byte_exact(run: FaultsRun, case: CorpusCase) -> None:
    files = run["files"]
    assert case.expected_path in files, f"{case.expected_path} not written; log:\n{_result(run).log[-3000:]}"
    assert files[case.expected_path] == case.expected


def test_gbk_pages_give_the_same_posts_as_utf8(run: FaultsRun) -> None:
    # One with the charset in the Content-Type header, one with it only in <meta>.
    for name in (GBK_HEADER_CASE, GBK_META_CASE):
        case = corpus_case(name)
        assert run["files"].get(case.expected_path) == case.expected, name


def test_nothing_else_written_no_partial_or_temporary_file(run: FaultsRun) -> None:
    files = run["files"]
    assert sorted(files) == sorted(case.expected_path for case in CASES)
    assert not [path for path in files if Path(path).name.startswith(".")], "temporary or hidden file left"
    leftovers = [p for p in (run["work"] / "posts").rglob("*") if p.is_file() and p.name != LOCK_NAME]
    assert len(leftovers) == len(CASES)
    result = _result(run)
    assert result.stat("sina/posts/new") == len(CASES)
    assert result.stat("sina/articles/parsed") == len(CASES)
    assert result.stat("sina/posts/failed/bad_item") == 0
    assert result.stat("sina/posts/failed/os_error") == 0


# --- article faults -----------------------------------------------------------------


@pytest.mark.parametrize("fault", ARTICLE_FAULTS, ids=[fault.reason for fault in ARTICLE_FAULTS])
def test_article_fault_counted_and_logged_once(run: FaultsRun, fault: ArticleFault) -> None:
    result = _result(run)
    assert result.stat(f"sina/skipped/{fault.reason}") == 1, {
        key: value for key, value in result.stats.items() if key.startswith("sina/skipped/")
    }
    lines = _warnings_naming(result.log, f"Article skipped ({fault.reason}): {fault.url}")
    assert len(lines) == 1, _warnings_naming(result.log, fault.url)


@pytest.mark.parametrize("fault", ARTICLE_FAULTS, ids=[fault.reason for fault in ARTICLE_FAULTS])
def test_article_fault_retried_once_or_not_at_all(run: FaultsRun, fault: ArticleFault) -> None:
    result = _result(run)
    requests = run["requests"][fault.reason]
    if fault.retry_reason is None:
        assert requests == 1, f"{fault.reason}: {requests} requests, expected no retry"
        return
    # RETRY_TIMES=1: one retry (Twisted itself may resend once on a reused connection it finds closed)
    assert result.stat(f"retry/reason_count/{fault.retry_reason}") == 1
    if fault.response.fault == "drop":
        assert requests >= 2, f"{fault.reason}: {requests} request(s)"
    else:
        assert requests == 2, f"{fault.reason}: {requests} request(s)"


def test_retries_in_total(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("retry/count") == len(RETRIED)  # 500, timeout, truncated, dropped
    assert result.stat("retry/max_reached") == len(RETRIED)
    assert result.stat("sina/skipped/http_500") == 1  # finally skipped, after its retry


def test_too_large_cancelled_by_its_content_length(run: FaultsRun) -> None:
    """Cancelled, and said once: the skip's line (Scrapy's own max-size line is DEBUG,
    crawler.scrapy_internals.ScrapyLogLines; tests/test_e2e_quiet_log.py reads it there)."""
    result = _result(run)
    fault = next(fault for fault in ARTICLE_FAULTS if fault.reason == "too_large")
    assert [line for line in result.log.splitlines() if fault.url in line and "WARNING" in line] == [
        line for line in result.log.splitlines() if f"Article skipped (too_large): {fault.url}" in line
    ]
    assert len(_warnings_naming(result.log, "Article skipped (too_large)", fault.url)) == 1
    assert "larger than download max size" not in result.log
    assert result.stat("downloader/exception_type_count/scrapy.exceptions.DownloadCancelledError") == 1


# --- roll items and roll API faults -------------------------------------------------


def test_item_without_url_skipped(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("sina/skipped/no_url") == 1
    lines = _warnings_naming(result.log, f"Roll item skipped (no_url) in {CHINA_ROLL}", NO_URL_DOCID)
    assert len(lines) == 1, result.log[-3000:]


def test_item_without_time_skipped_and_not_fetched(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("sina/skipped/no_time") == 1
    lines = _warnings_naming(result.log, f"Roll item skipped (no_time) in {CHINA_ROLL}: {NO_TIME_URL}")
    assert len(lines) == 1, result.log[-3000:]
    assert run["requests"]["no_time"] == 0


def test_roll_api_html_page_is_not_json(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("sina/roll/failed/not_json") == 1
    lines = _warnings_naming(result.log, f"Roll API failed for section macro: {MACRO_ROLL}: not_json")
    assert len(lines) == 1, result.log[-3000:]
    assert result.stat("sina/section/macro/listed") == 0


def test_roll_api_error_status(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("sina/roll/failed/status") == 1
    lines = _warnings_naming(result.log, f"Roll API failed for section local: {LOCAL_ROLL}: status", "code=-1")
    assert len(lines) == 1, result.log[-3000:]
    assert result.stat("sina/section/local/listed") == 0


def test_china_listing_counts(run: FaultsRun) -> None:
    result = _result(run)
    assert result.stat("sina/roll/pages") == 1  # macro and local failed
    assert result.stat("sina/section/china/listed") == len(CASES) + len(ARTICLE_FAULTS)


# --- the end-of-run summary ---------------------------------------------------------


def test_summary_line_lists_every_reason(run: FaultsRun) -> None:
    skipped = sorted([*(fault.reason for fault in ARTICLE_FAULTS), "no_url", "no_time"])
    expected = (
        f"Run summary (finished): new={len(CASES)} updated=0 unchanged=0 (not fetched: 0); "
        f"skipped: {', '.join(f'{reason}=1' for reason in skipped)}; "
        "failed: none; roll API failures: not_json=1, status=1"
    )
    summaries = [line for line in _result(run).log.splitlines() if "Run summary (" in line]
    assert len(summaries) == 1, summaries
    assert summaries[0].endswith(expected), f"\n{summaries[0]}\n!=\n{expected}"
