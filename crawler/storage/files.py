"""Writing files so that none is ever partial: a temporary file, made durable (fsync),
then renamed over the target; and touching nothing in the posts folder that is not ours.
A post path read back (from the state) is used only once it passes checked_post_path,
the rules a new one meets: relative, no ``..``, no symbolic-link folder on its way,
inside the posts folder once resolved.

Inside a crawl the fsyncs are grouped (GroupFsync, a group commit): the files handed in
while a flush runs are flushed together by the next call in a worker thread, as soon as
that flush ends, so the crawl never waits on the disk once per post nor for a timer, and
no post is renamed into place before its bytes are on disk."""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TEMP_FOLDER = ".sina-finance-hexo.tmp"  # in the posts folder; Hexo skips dot folders
_TEMP_NAME = re.compile(r"^\d+-\d+\.tmp$")  # <pid>-<n>.tmp: only files of this name in it are ours

_temp_numbers = itertools.count()


class UnsafePath(OSError):
    """A path the crawler will not write to: a symbolic link it did not make, or a
    folder on the way that is one (writing would land outside the posts folder)."""


def relative_path_problem(relative: str) -> str | None:
    """Why ``relative`` cannot be a post's path in the posts folder (None: it can), from
    its text alone: a post path is ``a/b/c/name.md``, POSIX, relative, each part a name."""
    if not isinstance(relative, str):
        return "not text"
    if not relative:
        return "empty"
    if "\x00" in relative or "\\" in relative:
        return "a NUL or a backslash in it"
    if relative.startswith("/") or (len(relative) > 1 and relative[1] == ":"):
        return "absolute"
    parts = relative.split("/")
    if ".." in parts:
        return "a '..' component"
    if any(part in ("", ".") for part in parts):
        return "an empty or '.' component"
    if not relative.endswith(".md") or parts[-1] == ".md":
        return "not a post's file name (name.md)"
    return None


def checked_post_path(root: Path, relative: str) -> Path:
    """``root / relative`` when a post may be written there, as for a new post: a relative
    path without ``..`` (relative_path_problem), no folder on its way that is a symbolic
    link, and inside root once resolved.  UnsafePath (naming why) otherwise.  A folder not
    made yet is fine: OwnedTree makes it a real one."""
    problem = relative_path_problem(relative)
    if problem:
        raise UnsafePath(f"{relative!r}: {problem}")
    target = root.joinpath(*relative.split("/"))
    folder = root
    for part in relative.split("/")[:-1]:
        folder = folder / part
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            break  # nothing below a missing folder exists yet
        if stat.S_ISLNK(mode):
            raise UnsafePath(f"{relative!r}: {folder} is a symbolic link")
    try:
        inside = target.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError) as exc:  # a symbolic-link loop above the posts folder
        raise UnsafePath(f"{relative!r}: cannot be resolved: {exc}") from None
    if not inside:
        raise UnsafePath(f"{relative!r}: outside the posts folder once resolved")
    return target


class OwnedTree:
    """The posts folder as the crawler writes into it: folders it makes or finds as real
    folders (never through a symbolic link), posts and images renamed into place from
    temporary files in TEMP_FOLDER, and nothing else touched or deleted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp = root / TEMP_FOLDER
        self._checked: set[Path] = set()  # folders known to be real folders: one check each

    def _real_folder(self, folder: Path) -> None:
        """Make folder (and those above it, up to root) or check it is a real folder."""
        if folder in self._checked:
            return
        if folder != self.root:
            # Lexically inside is not enough: root/../x is outside.
            if not folder.is_relative_to(self.root) or ".." in folder.relative_to(self.root).parts:
                raise UnsafePath(f"{folder} is outside the posts folder {self.root}")
            self._real_folder(folder.parent)
            try:
                os.mkdir(folder)
            except FileExistsError:
                mode = os.lstat(folder).st_mode
                if stat.S_ISLNK(mode):
                    raise UnsafePath(f"{folder} is a symbolic link: not written through") from None
                if not stat.S_ISDIR(mode):
                    raise NotADirectoryError(errno.ENOTDIR, "a file where a folder should be", str(folder)) from None
        else:
            folder.mkdir(parents=True, exist_ok=True)
        self._checked.add(folder)

    def write_temporary(self, target: Path, data: bytes) -> Path | None:
        """A temporary file holding data, to be renamed to target; None when target already
        holds data.  UnsafePath when target, or a folder on its way, is not ours to write."""
        self._real_folder(target.parent)
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISREG(mode):
                raise UnsafePath(f"{target} is not a regular file (a symbolic link?): not written through")
            if _read_no_follow(target) == data:
                return None
        self._real_folder(self.temp)
        while True:  # a name of this process's own; O_EXCL: never an existing file
            temp = self.temp / f"{os.getpid()}-{next(_temp_numbers)}.tmp"
            try:
                return _new_file(temp, data)
            except FileExistsError:
                continue
            except FileNotFoundError:  # the folder went away since: make it again
                self._checked.discard(self.temp)
                self._real_folder(self.temp)

    def write_atomically(self, target: Path, data: bytes, *, fsync: bool = True) -> bool:
        """The whole sequence at once; False when nothing had to change."""
        temp = self.write_temporary(target, data)
        if temp is None:
            return False
        _replace(temp, target, fsync=fsync)
        return True

    def check_writable(self) -> None:
        """Write and delete a temporary file: OSError when the posts folder is not writable
        (read-only, full, not a folder)."""
        self._real_folder(self.temp)
        os.unlink(_new_file(self.temp / f"{os.getpid()}-{next(_temp_numbers)}.tmp", b""))

    def remove_temporary(self) -> int:
        """Delete what an interrupted run left in TEMP_FOLDER: our files only, by name."""
        try:
            mode = os.lstat(self.temp).st_mode
        except FileNotFoundError:
            return 0
        if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
            raise UnsafePath(f"{self.temp} is not a folder of ours (a symbolic link or a file): not cleaned")
        removed = 0
        with os.scandir(self.temp) as entries:
            for entry in entries:
                if _TEMP_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
        return removed


def _new_file(path: Path, data: bytes) -> Path:
    """Create path, which must not exist yet (O_EXCL, never through a link), holding data;
    nothing is left behind when writing fails."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _read_no_follow(path: Path) -> bytes:
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(handle, "rb") as existing:
        return existing.read()


def fsync_paths(paths: list[Path]) -> None:
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _replace(temp: Path, target: Path, *, fsync: bool) -> None:
    try:
        if fsync:
            fsync_paths([temp])
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomically(target: Path, data: bytes, *, fsync: bool = True) -> bool:
    """A file of the user's choosing outside the posts folder (SINA_STATS_FILE): a
    temporary file beside it, renamed over it.  False when nothing had to change."""
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _new_file(target.with_name(f".{target.name}.{os.getpid()}-{next(_temp_numbers)}.tmp"), data)
    _replace(temp, target, fsync=fsync)
    return True


class GroupFsync:
    """Flushes files to disk in groups, by one worker-thread call per group: a file handed
    in while no flush runs starts a group that goes ``window`` seconds later (0: at the
    event loop's next turn, with the files handed in meanwhile); files handed in while a
    flush runs wait for it and go together as soon as it ends; at most ``size`` at a time.
    Each caller waits for its group.  (A fixed 20 ms window made every post wait 20 ms
    more: latency that a crawl's pipelines hold posts for, POSTS_IN_PIPELINES at most.)"""

    def __init__(self, window: float = 0.0, size: int = 64) -> None:
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
            if not self._flushing:  # else it goes when the running flush ends (_flushed)
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
            if not group.done():
                if done.cancelled():
                    group.cancel()
                elif done.exception() is not None:
                    group.set_exception(done.exception())  # type: ignore[arg-type]
                else:
                    group.set_result(None)
            if not self._flushing and self._group is not None and self._timer is None:
                self._flush()  # the files handed in during this flush

        task.add_done_callback(finished)
