"""Writing files so that none is ever partial: a temporary file beside the target,
made durable (fsync), then renamed over it.

Inside a crawl the fsyncs are grouped (GroupFsync): every file written within a few
milliseconds is flushed by one call in a worker thread, so the crawl does not wait on
the disk once per post, and no post is renamed into place before its bytes are on disk."""

from __future__ import annotations

import asyncio
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TEMP_PREFIX = ".tmp-"  # temporary files of ours; a run removes those a killed run left


_temp_numbers = itertools.count()
_folders_made: set[Path] = set()  # folders known to exist: one mkdir call each per process


def write_temporary(target: Path, data: bytes) -> Path | None:
    """A temporary file beside target holding data, or None when target already holds it."""
    try:
        if target.read_bytes() == data:
            return None
    except FileNotFoundError:
        pass
    folder = target.parent
    if folder not in _folders_made:
        folder.mkdir(parents=True, exist_ok=True)
        _folders_made.add(folder)
    while True:  # a name of this process's own; O_EXCL: never an existing file
        temp = folder / f"{TEMP_PREFIX}{os.getpid()}-{next(_temp_numbers)}{target.suffix}"
        try:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            continue
        except FileNotFoundError:  # the folder went away since: make it again
            _folders_made.discard(folder)
            folder.mkdir(parents=True, exist_ok=True)
            _folders_made.add(folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def fsync_paths(paths: list[Path]) -> None:
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_atomically(target: Path, data: bytes, *, fsync: bool = True) -> bool:
    """The whole sequence at once (outside a crawl); False when nothing had to change."""
    temp = write_temporary(target, data)
    if temp is None:
        return False
    try:
        if fsync:
            fsync_paths([temp])
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return True


class GroupFsync:
    """Flushes files to disk in groups: those handed in within ``window`` seconds, at most
    ``size`` at a time, by one worker-thread call; each caller waits for its group."""

    def __init__(self, window: float = 0.02, size: int = 64) -> None:
        self.window = window
        self.size = size
        self._paths: list[Path] = []
        self._group: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Future[None]] = set()
        # One thread of its own: flushes run one after another, and a single thread keeps
        # memory flat (each thread that allocates gets its own malloc arena).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsync")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def durable(self, path: Path) -> None:
        loop = asyncio.get_running_loop()
        if self._group is None:
            self._group = loop.create_future()
            self._timer = loop.call_later(self.window, self._flush)
        group = self._group
        self._paths.append(path)
        if len(self._paths) >= self.size:
            self._flush()
        await asyncio.shield(group)  # one caller cancelled does not cancel the others' flush

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        paths, group = self._paths, self._group
        self._paths, self._group = [], None
        if group is None:
            return
        task = asyncio.get_running_loop().run_in_executor(self._executor, fsync_paths, paths)
        self._flushing.add(task)

        def finished(done: asyncio.Future[None]) -> None:
            self._flushing.discard(done)
            if group.done():
                return
            if done.cancelled():
                group.cancel()
            elif done.exception() is not None:
                group.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                group.set_result(None)

        task.add_done_callback(finished)
