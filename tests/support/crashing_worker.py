"""A parse worker that dies (exit status 70) on a page whose URL contains "crash-me":
a stand-in for a page that crashes the parser.  Every other page is answered as the real
worker answers it."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

from crawler import parse_worker


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if b"crash-me" in data:
            os._exit(70)
        return data


def main() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    with os.fdopen(sys.stdin.fileno(), "rb", closefd=False) as requests, answers:
        parse_worker.serve(_Reader(requests), answers)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
