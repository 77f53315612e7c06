"""crawler/storage in-process, for what the pipeline tests do not reach: fsyncs grouped
inside a crawl (and a failed flush reaching every writer of its group), the posts-folder
lock taken inside a crawl, the lock file refused when it is not ours, paths refused once
resolved, the crawl state's listings and schema versions, a manifest line cut by a crash.

Invariants are in the modules' docstrings."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path

import pytest

import crawler.storage.files as files
import crawler.storage.locking as locking
from crawler.storage.files import (
    TEMP_FOLDER,
    GroupFsync,
    OwnedTree,
    UnsafePath,
    checked_post_path,
    write_atomically,
)
from crawler.storage.locking import LockedError, LockFileError, PostsFolderLock
from crawler.storage.manifest import Manifest
from crawler.storage.state import SCHEMA_VERSION, CrawlState, StateError

# --- grouped fsyncs ---------------------------------------------------------------------


def test_files_handed_in_together_are_flushed_by_one_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(files, "fsync_paths", lambda paths: calls.append([path.name for path in paths]))
    paths = [tmp_path / f"{n}.md" for n in range(5)]
    for path in paths:
        path.write_bytes(b"x")
    group = GroupFsync(window=0.01, size=3)

    async def write_all() -> None:
        await asyncio.gather(*(group.durable(path) for path in paths))

    asyncio.run(write_all())
    group.close()
    assert calls == [["0.md", "1.md", "2.md"], ["3.md", "4.md"]], "a full group at once, the rest after the window"


def test_files_handed_in_during_a_flush_go_together_as_soon_as_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group commit: no timer between two flushes, and no flush per file under load."""
    calls: list[list[str]] = []
    release = threading.Event()

    def slow_disk(paths: list[Path]) -> None:
        calls.append([path.name for path in paths])
        release.wait(5)

    monkeypatch.setattr(files, "fsync_paths", slow_disk)
    group = GroupFsync(window=60.0)  # the window only delays a group started while idle

    async def write() -> float:
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(group.durable(tmp_path / "a.md"))
        await asyncio.sleep(0)  # it is handed in
        group._flush()  # the first group goes now (as its window would end)
        await asyncio.sleep(0.01)
        assert calls == [["a.md"]], "the first flush runs"
        later = [asyncio.ensure_future(group.durable(tmp_path / f"{name}.md")) for name in "bc"]
        await asyncio.sleep(0.01)
        start = loop.time()
        release.set()
        await asyncio.gather(first, *later)
        return loop.time() - start

    waited = asyncio.run(write())
    group.close()
    assert calls == [["a.md"], ["b.md", "c.md"]]
    assert waited < 5, "the second group went when the first flush ended, not after the 60 s window"


def test_a_failed_flush_fails_every_writer_of_its_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(paths: list[Path]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "fsync_paths", full_disk)
    group = GroupFsync(window=0.001)

    async def write_two() -> tuple[BaseException | None, ...]:
        return await asyncio.gather(
            group.durable(tmp_path / "a.md"), group.durable(tmp_path / "b.md"), return_exceptions=True
        )

    results = asyncio.run(write_two())
    group.close()
    assert [type(result) for result in results] == [OSError, OSError]


def test_the_real_fsync_of_a_group(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"x")
    group = GroupFsync(window=0.001)
    asyncio.run(group.durable(path))
    group.close()
    assert not group._flushing, "every flush done before close returns"


# --- the posts-folder lock --------------------------------------------------------------


def test_inside_a_crawl_the_lock_waits_without_blocking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locking, "POLL_SECONDS", 0.001)
    holder, waiter = PostsFolderLock(tmp_path), PostsFolderLock(tmp_path)
    assert holder.try_acquire() and holder.try_acquire(), "taking it again is a no-op"

    async def wait_then_release() -> None:
        waiting = asyncio.ensure_future(waiter.acquire_async(60))
        await asyncio.sleep(0.01)
        assert not waiting.done(), "the other crawl holds it"
        holder.release()
        await waiting

    asyncio.run(wait_then_release())
    recorded = f"PID {os.getpid()}: {locking.command_line()}, since "
    assert (tmp_path / locking.LOCK_NAME).read_text().startswith(recorded)
    held = r"another crawl is writing to .* \(held by PID \d+: .*, since .*\); waited 0 s"
    with pytest.raises(LockedError, match=held):
        asyncio.run(holder.acquire_async(0))
    waiter.release()
    holder.acquire(0)
    holder.release()


def test_a_lock_holder_that_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    lock = PostsFolderLock(tmp_path / "posts")
    assert "(holder unknown)" in str(lock.locked_error(1.5)), "no lock file yet"


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["/srv/venv/bin/python", "/srv/venv/bin/scrapy", "crawl", "sina_finance"], "scrapy crawl sina_finance"),
        (["/usr/bin/python3", "-m", "scrapy", "crawl", "sina_finance"], "python3 -m scrapy crawl sina_finance"),
        (["/usr/bin/python3", "-m", "scrapyd.runner", "crawl", "x"], "python3 -m scrapyd.runner crawl x"),
        (
            ["/v/bin/python", "/v/bin/scrapy", "crawl", "x", "-s", "SINA_REDIS_URL=redis://:s3cr@t@h:6379/0"],
            "scrapy crawl x -s SINA_REDIS_URL=redis://***@h:6379/0",
        ),
        (["/v/bin/python", "/v/bin/scrapy", "crawl", "x", "-a", "sections=a b"], "scrapy crawl x -a 'sections=a b'"),
    ],
)
def test_the_lock_names_its_holders_command_line_without_passwords(argv: list[str], shown: str) -> None:
    assert locking.command_line(argv) == shown


def test_a_long_command_line_is_cut(tmp_path: Path) -> None:
    shown = locking.command_line(["/v/bin/python", "/v/bin/scrapy", "crawl", "x" * 1000])
    assert len(shown) == locking.COMMAND_CHARS and shown.endswith("…")


@pytest.mark.parametrize("kind", ["symlink", "folder"])
def test_a_lock_file_that_is_not_ours_is_refused(tmp_path: Path, kind: str) -> None:
    target = tmp_path / locking.LOCK_NAME
    if kind == "symlink":
        (tmp_path / "someone-else").write_text("keep me")
        target.symlink_to(tmp_path / "someone-else")
        message = "is a symbolic link"
    else:
        target.mkdir()
        message = "cannot create the lock file"
    with pytest.raises(LockFileError, match=message):
        PostsFolderLock(tmp_path).try_acquire()


def test_a_lock_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / locking.LOCK_NAME)
    with pytest.raises(LockFileError, match="is not a regular file"):
        PostsFolderLock(tmp_path).try_acquire()


# --- paths and the owned tree -----------------------------------------------------------


def test_a_path_that_leaves_the_posts_folder_once_resolved(tmp_path: Path) -> None:
    root = tmp_path / "posts"
    root.mkdir()
    (root / "x.md").symlink_to(tmp_path / "outside.md")
    with pytest.raises(UnsafePath, match="outside the posts folder once resolved"):
        checked_post_path(root, "x.md")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UnsafePath, match="cannot be resolved"):
        checked_post_path(tmp_path / "loop", "x.md")


def test_the_owned_tree_never_writes_outside_or_over_what_is_not_its_own(tmp_path: Path) -> None:
    tree = OwnedTree(tmp_path / "posts")
    with pytest.raises(UnsafePath, match="outside the posts folder"):
        tree.write_atomically(tmp_path / "posts" / ".." / "escape" / "x.md", b"x")
    with pytest.raises(UnsafePath, match="outside the posts folder"):
        tree.write_atomically(tmp_path / "elsewhere" / "x.md", b"x")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "elsewhere").exists()
    assert tree.write_atomically(tmp_path / "posts" / "a" / "x.md", b"x", fsync=False)
    assert not tree.write_atomically(tmp_path / "posts" / "a" / "x.md", b"x"), "unchanged: nothing written"


def test_a_temporary_name_taken_or_a_temporary_folder_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = OwnedTree(tmp_path / "posts")
    tree.check_writable()
    monkeypatch.setattr(files, "_temp_numbers", iter([7, 8, 9, 10]))
    (tree.temp / f"{os.getpid()}-7.tmp").write_bytes(b"someone's")
    first = tree.write_temporary(tree.root / "a.md", b"a")
    assert first is not None and first.name == f"{os.getpid()}-8.tmp", "an existing name is never reused"
    first.unlink()
    (tree.temp / f"{os.getpid()}-7.tmp").unlink()
    tree.temp.rmdir()  # gone since the tree checked it
    second = tree.write_temporary(tree.root / "b.md", b"b")
    assert second is not None and second.read_bytes() == b"b"


def test_temporary_files_are_cleaned_only_in_a_folder_of_ours(tmp_path: Path) -> None:
    tree = OwnedTree(tmp_path / "posts")
    assert tree.remove_temporary() == 0, "no temporary folder yet"
    tree.temp.mkdir(parents=True)
    (tree.temp / "123-4.tmp").write_bytes(b"left by a killed run")
    (tree.temp / "notes.txt").write_bytes(b"not ours")
    assert tree.remove_temporary() == 1 and (tree.temp / "notes.txt").exists()
    (tree.temp / "notes.txt").unlink()
    tree.temp.rmdir()
    (tmp_path / "posts" / TEMP_FOLDER).symlink_to(tmp_path)
    with pytest.raises(UnsafePath, match="not a folder of ours"):
        tree.remove_temporary()


def test_a_file_of_the_user_s_choosing_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "stats" / "last.json"
    assert write_atomically(target, b"{}", fsync=False)
    assert not write_atomically(target, b"{}"), "unchanged: not written again"
    assert write_atomically(target, b"{1}") and target.read_bytes() == b"{1}"
    assert [path.name for path in target.parent.iterdir()] == ["last.json"]


# --- the crawl state --------------------------------------------------------------------


def _record(state: CrawlState, publishid: str, section: str = "china") -> None:
    state.record(
        publishid=publishid,
        docid=None,
        url=f"https://finance.sina.com.cn/doc-i{publishid}.shtml",
        section=section,
        path=f"a/{publishid}.md",
        sha256="0" * 64,
        mtime=None,
        post_format="v3 clean",
        changed=True,
    )


def test_the_state_lists_its_rows_and_the_pages_a_section_finished(tmp_path: Path) -> None:
    state = CrawlState(tmp_path / "state.sqlite")
    for publishid in ("zzzzzzz0000002", "aaaaaaa0000001"):
        _record(state, publishid)
    assert [row.publishid for row in state.all()] == ["aaaaaaa0000001", "zzzzzzz0000002"]
    assert state.pages_done("china") == 0, "never finished"
    state.set_pages_done("china", 3)
    state.set_pages_done("china", 5)
    assert state.pages_done("china") == 5 and state.pages_done("live") == 0
    state.close()
    again = CrawlState(tmp_path / "state.sqlite")
    assert again.count() == 2 and again.pages_done("china") == 5
    again.close()


def test_a_state_of_schema_1_is_upgraded_and_one_of_a_later_crawler_refused(tmp_path: Path) -> None:
    old = tmp_path / "v1.sqlite"
    with sqlite3.connect(old) as db:
        db.execute(
            "CREATE TABLE articles (publishid TEXT PRIMARY KEY, docid TEXT, url TEXT NOT NULL, section TEXT NOT NULL,"
            " path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, mtime INTEGER, first_seen TEXT NOT NULL,"
            " last_written TEXT NOT NULL)"
        )
        db.execute("PRAGMA user_version=1")
    db.close()
    state = CrawlState(old)
    _record(state, "aaaaaaa0000001")
    assert state.get("aaaaaaa0000001").post_format == "v3 clean"  # type: ignore[union-attr]
    state.close()
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match=f"state schema version {SCHEMA_VERSION + 1}, this crawler knows"):
        CrawlState(old)
    (tmp_path / "garbage.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="cannot open the state database"):
        CrawlState(tmp_path / "garbage.sqlite")


# --- the manifest -----------------------------------------------------------------------


def test_a_line_cut_by_a_crash_is_ended_before_the_next(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_bytes(b'{"n":1}\n{"n":2')  # killed mid-line
    manifest = Manifest(path)
    manifest.append({"n": 3})
    manifest.close()
    assert path.read_bytes() == b'{"n":1}\n{"n":2\n{"n":3}\n'
