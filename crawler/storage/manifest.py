"""The manifest: one JSON line per post written or updated, for other tools.

Each line is written with a single write() on a file opened O_APPEND, so lines
from one run never interleave; a write that fails part-way is cut back, so the file
holds whole lines only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._repair_last_line()

    def _repair_last_line(self) -> None:
        """A line cut by a crash (no final newline) is ended so the next one stays whole."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as existing:
            existing.seek(size - 1)
            if existing.read(1) != b"\n":
                os.write(self._fd, b"\n")

    def append(self, entry: dict[str, Any]) -> None:
        """Append one line, whole or not at all: on a write error (a full disk) the file is
        cut back to its last whole line before the error is raised."""
        data = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size  # one writer (the posts-folder lock): the line starts here
        try:
            while data:  # a regular file takes it whole unless the disk is full
                data = data[os.write(self._fd, data) :]
        except BaseException:
            os.ftruncate(self._fd, size)
            raise

    def close(self) -> None:
        os.close(self._fd)
