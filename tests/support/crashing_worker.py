"""A parse worker that dies (exit status 70) on a page whose URL contains "crash-me", a
stand-in for a page that crashes the parser, and whose page_facts raises on a URL that
contains "raise-me", a stand-in for a bug.  Every other page is answered as the real
worker answers it."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO
from unittest import mock

from crawler.hexo.body import BodyStyle
from crawler.parsing import worker as parse_worker
from crawler.parsing.page_facts import page_facts


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if b"crash-me" in data:
            os._exit(70)
        return data


def _page_facts_with_a_bug(body: bytes, content_type: str | None, url: str, style: BodyStyle, kind: str) -> object:
    if "raise-me" in url:
        raise ZeroDivisionError("a bug met on this page")
    return page_facts(body, content_type, url, style, kind)


def main() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    with (
        mock.patch.object(parse_worker, "page_facts", _page_facts_with_a_bug),
        os.fdopen(sys.stdin.fileno(), "rb", closefd=False) as requests,
        answers,
    ):
        parse_worker.serve(_Reader(requests), answers)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
