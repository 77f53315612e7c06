"""Seeing another process open a file, as an event (Linux inotify, through ctypes).

A crawl that finds the posts folder locked tries the lock again and again, opening the
lock file each time (crawler/storage/locking.py).  A test that holds the lock watches the
file with :class:`OpenWatch` to learn that the crawl has reached the lock and been turned
away, instead of sleeping for a while and hoping it has.
"""

from __future__ import annotations

import ctypes
import os
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

IN_OPEN = 0x00000020
_libc = ctypes.CDLL(None, use_errno=True)


class OpenWatch:
    """Tells whether a file has been opened (by any process, this one included).  inotify
    merges repeated opens that nobody has read yet into one event: this says "opened" since
    the last look, not how many times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._opened = False
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        if _libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN) < 0:
            code = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(code, f"inotify_add_watch {path}: {os.strerror(code)}")

    def _read_events(self, timeout: float) -> None:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name[len]
            mask = int.from_bytes(data[offset + 4 : offset + 8], "little")
            name_len = int.from_bytes(data[offset + 12 : offset + 16], "little")
            self._opened = self._opened or bool(mask & IN_OPEN)
            offset += 16 + name_len

    def wait_for_open(self, *, still_waiting: Callable[[], bool], hang_guard: float = 300) -> bool:
        """Block until the file is opened: since the watch began, or since the last call
        that saw an open (each call consumes what it saw).  False as soon as
        ``still_waiting()`` says the other side is gone (e.g. its process ended) without
        opening it.  ``hang_guard`` seconds only stop a test that would otherwise hang."""
        end = time.monotonic() + hang_guard
        while not self._opened:
            if not still_waiting() or time.monotonic() > end:
                self._read_events(0)
                break
            self._read_events(0.05)
        seen, self._opened = self._opened, False
        return seen

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
