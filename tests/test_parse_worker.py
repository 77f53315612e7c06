"""The parse worker's side of the protocol in-process (crawler/parsing/worker.py): it
answers frames from the crawl with a golden page's facts, reports a bug on one page and
goes on, stops at the end of its input (even mid-frame), and keeps its answers apart
from anything printed.  The crawl's side, with real worker processes, is in
test_parse_workers.py."""

from __future__ import annotations

import io
import pickle
import signal
import sys
from pathlib import Path

import pytest

import crawler.parsing.worker as worker
from crawler.parsing.page_facts import PageFacts, page_facts
from crawler.parsing.worker import LENGTH, main, page_request, serve
from tests.conftest import CASES

CASE = CASES[0]


def _frames(*pages: tuple[str, bytes]) -> bytes:
    return b"".join(
        b"".join(page_request(url, "text/html; charset=utf-8", "clean", "article", body)) for url, body in pages
    )


def _answers(data: bytes) -> list[tuple[bool, object]]:
    answers = []
    stream = io.BytesIO(data)
    while header := stream.read(LENGTH):
        answers.append(pickle.loads(stream.read(int.from_bytes(header, "big"))))
    return answers


def test_each_page_is_answered_in_order_and_a_bug_fails_that_page_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def facts(body: bytes, content_type: str | None, url: str, style: str, kind: str) -> PageFacts:
        if url.endswith("/bug"):
            raise ZeroDivisionError("a bug met on one page")
        return page_facts(body, content_type, url, style, kind)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "page_facts", facts)
    out = io.BytesIO()
    serve(
        io.BytesIO(
            _frames(
                (CASE.https_url, CASE.page), ("https://finance.sina.com.cn/bug", b"<p>x"), (CASE.https_url, CASE.page)
            )
        ),
        out,
    )
    first, bug, last = _answers(out.getvalue())
    expected = page_facts(CASE.page, "text/html; charset=utf-8", CASE.https_url, "clean", "article")
    assert first == (True, expected) and last == first
    assert bug[0] is False and isinstance(bug[1], str)
    assert bug[1].startswith("https://finance.sina.com.cn/bug:\nTraceback") and "ZeroDivisionError" in bug[1]


@pytest.mark.parametrize("cut", [3, LENGTH + 5, -1])
def test_input_that_ends_mid_frame_ends_the_worker(cut: int) -> None:
    data = _frames((CASE.https_url, CASE.page))
    out = io.BytesIO()
    serve(io.BytesIO(data[:cut]), out)
    assert out.getvalue() == b"", "no answer to a page it did not get whole"


def test_main_answers_on_its_stdout_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """main() as the crawl starts it: frames on stdin, answers on stdout; stdout is then
    stderr for anything else, and Ctrl-C (the crawl's process group) is ignored."""
    (tmp_path / "in").write_bytes(_frames((CASE.https_url, CASE.page)))
    sigint = signal.getsignal(signal.SIGINT)
    with (
        (tmp_path / "in").open("rb") as stdin,
        (tmp_path / "out").open("wb") as stdout,
        (tmp_path / "err").open("wb") as stderr,
    ):
        monkeypatch.setattr(sys, "stdin", stdin)
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", stderr)
        try:
            main()
            ignored = signal.getsignal(signal.SIGINT)
        finally:
            signal.signal(signal.SIGINT, sigint)
        stdout.write(b"a stray print")  # goes where stderr goes now
    assert ignored == signal.SIG_IGN
    ((ok, facts),) = _answers((tmp_path / "out").read_bytes())
    assert ok and isinstance(facts, PageFacts) and facts.og_title is not None
    assert (tmp_path / "err").read_bytes() == b"a stray print"
