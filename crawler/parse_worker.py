"""The parse worker process: PageFacts for the pages the crawl sends (crawler.parse_workers).

It imports no Scrapy and no asyncio, only what page_facts needs, to stay small.

Protocol, private to these two modules: the crawl writes ``(url, body, content_type)`` frames on the
worker's stdin; the worker answers each, in order, on its stdout with ``(True, PageFacts)``
or ``(False, traceback)``.  A frame is an 8-byte big-endian length, then a pickle (both
ends are this code).  The worker exits when its stdin ends: its crawl is done, or gone.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import BinaryIO

from crawler.page_facts import page_facts

LENGTH = 8  # bytes of the big-endian length before each frame


def frame(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(LENGTH, "big") + data


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer (url, body, content_type) frames until requests ends."""
    while True:
        header = requests.read(LENGTH)
        if len(header) < LENGTH:
            return
        url, body, content_type = pickle.loads(requests.read(int.from_bytes(header, "big")))
        try:
            answer: tuple[bool, object] = (True, page_facts(body, content_type, url))
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
