"""The parse worker process: PageFacts for the pages the crawl sends (crawler.parsing.workers).

It imports no Scrapy and no asyncio, only what page_facts needs, to stay small.

Protocol, private to these two modules: for each page the crawl writes a frame
``(url, content_type, body style, page kind, body length)`` on the worker's stdin, then the body's bytes as they
are (not pickled: no copy of a 200 KB page in the crawl).  The worker answers each page,
in order, on its stdout with a frame ``(True, PageFacts)`` or ``(False, traceback)``.  A
frame is an 8-byte big-endian length, then a pickle (both ends are this code).  The
worker exits when its stdin ends: its crawl is done, or gone.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import BinaryIO

from crawler.hexo.body import BodyStyle
from crawler.parsing.page_facts import page_facts

LENGTH = 8  # bytes of the big-endian length before each frame


def frame(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(LENGTH, "big") + data


def page_request(url: str, content_type: str | None, style: BodyStyle, kind: str, body: bytes) -> tuple[bytes, bytes]:
    """What the crawl writes for one page: the frame, then the body itself."""
    return frame((url, content_type, style, kind, len(body))), body


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer pages (see page_request) until requests ends."""
    while True:
        header = requests.read(LENGTH)
        if len(header) < LENGTH:
            return
        length = int.from_bytes(header, "big")
        data = requests.read(length)
        if len(data) < length:  # the crawl went mid-frame
            return
        url, content_type, style, kind, size = pickle.loads(data)
        body = requests.read(size)
        if len(body) < size:
            return
        try:
            answer: tuple[bool, object] = (True, page_facts(body, content_type, url, style, kind))
        except Exception:  # a bug on some page: reported with the page, the worker goes on
            answer = (False, f"{url}:\n{traceback.format_exc()}")
        answers.write(frame(answer))
        answers.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the crawl shuts down gracefully and still
    # needs its worker for the pages in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt a frame
    with os.fdopen(sys.stdin.fileno(), "rb", closefd=False) as requests, answers:
        serve(requests, answers)


if __name__ == "__main__":
    main()
