"""One writer per posts folder: an exclusive flock on a lock file inside it.

scrapyd can start a second job while one runs; the second waits up to
SINA_LOCK_WAIT seconds, then stops with a message naming the holder: the lock file
holds the holder's PID and command line (any password in a URL on it masked), written
once the flock is taken, so whatever a turned-away run reads there is the live holder."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import shlex
import stat
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".sina-finance-hexo.lock"  # a dot file: Hexo ignores it
POLL_SECONDS = 0.2
COMMAND_CHARS = 300  # of the holder's command line, in the lock file and the message
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/]*@")  # user:password@, to the last @ (as redis-py)


def command_line(argv: list[str] | None = None) -> str:
    """This process's command line as its operator typed it (``scrapy crawl sina_finance
    -a pages=2``, ``python -m scrapy crawl …``, scrapyd's ``python -m scrapyd.runner crawl
    …``), with the credentials of any URL on it masked (``-s SINA_REDIS_URL=…``)."""
    parts = list(sys.orig_argv if argv is None else argv)
    if len(parts) > 1 and not parts[1].startswith("-"):  # a script (the ``scrapy`` entry point)
        parts = parts[1:]
    if parts:
        parts[0] = os.path.basename(parts[0])
    text = _URL_PASSWORD.sub(r"\1***@", shlex.join(parts))
    return text if len(text) <= COMMAND_CHARS else text[: COMMAND_CHARS - 1] + "…"


def holder_record(pid: int, command: str, since: datetime) -> str:
    """What the lock file holds while a run has it (and the message quotes)."""
    return f"PID {pid}: {command}, since {since:%Y-%m-%dT%H:%M:%SZ}"


class LockedError(Exception):
    """Another crawl holds the lock."""


class LockFileError(Exception):
    """The lock file cannot be made or is not ours (a symbolic link, a folder)."""


class PostsFolderLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a symbolic link: truncating it would empty someone else's file
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockFileError(f"{self.path} is a symbolic link; the crawler does not write through it") from None
            raise LockFileError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockFileError(f"{self.path} is not a regular file; the crawler does not write to it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder_record(os.getpid(), command_line(), datetime.now(UTC)).encode(), 0)
        self._fd = fd
        return True

    def locked_error(self, wait_seconds: float) -> LockedError:
        try:
            holder = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            holder = ""
        # Empty only in the instant between the holder's flock and its write.
        held_by = f"held by {holder}" if holder else "holder unknown"
        return LockedError(
            f"another crawl is writing to {self.path.parent} ({held_by}); waited {wait_seconds:g} s (SINA_LOCK_WAIT)"
        )

    def acquire(self, wait_seconds: float) -> None:
        """Take the lock, waiting up to wait_seconds (blocking: for scripts and tests)."""
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise self.locked_error(wait_seconds)
            time.sleep(POLL_SECONDS)

    async def acquire_async(self, wait_seconds: float, give_up: Callable[[], bool] = lambda: False) -> bool:
        """The same inside a crawl: the reactor (signals, cancel.json) keeps running.  False,
        the lock not taken, once ``give_up()`` says so (the crawl was told to stop)."""
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while not self.try_acquire():
            if give_up():
                return False
            if time.monotonic() >= deadline:
                raise self.locked_error(wait_seconds)
            await asyncio.sleep(POLL_SECONDS)  # Scrapy runs on the asyncio reactor
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
