"""What a run fetches and how far it pages (crawler.admission), one table per rule: a row
is a case, with what the rule decides.  The module is pure: no Scrapy, no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler import admission
from crawler.admission import (
    PAGES_DONE_WHILE_LISTING,
    SKIPPED_FOR_GOOD,
    SectionProgress,
    Window,
    admit,
    fall_out,
    is_known,
    may_stop_at_known,
    next_page,
)

SINCE = 1_790_000_000  # the start of the -a since day


@dataclass(frozen=True)
class Entry:
    publishid: str
    ctime: int | None = SINCE + 60
    intime: int | None = SINCE + 60
    mtime: int | None = 1


def new(publishid: str, **times: int | None) -> Entry:
    return Entry(publishid, **times)


def known(publishid: str, **times: int | None) -> Entry:
    return Entry(f"known-{publishid}", **times)


@dataclass(frozen=True)
class Page:
    """One page of a listing: its entries, the run's rules, and what comes of it."""

    entries: tuple[Entry, ...]
    admitted: tuple[str, ...]
    known: int = 0
    older: int = 0
    next: int | None = None
    page: int = 1
    pages: int = 3
    more: bool = True  # the page was full
    since: int | None = None
    stop_at_known: bool = True
    window: Window | None = None
    outside: int = 0


DAY = 86400
NOW = SINCE + 30 * DAY
WEEK = Window(keep_days=7, now=NOW)
FLOOR = Window(keep_posts=2, now=NOW, floor=(SINCE + 60, "m"))  # the 2nd newest post kept: dated SINCE+60, "m"

PAGES = {
    "new entries, a full page: the next page": Page((new("a"), new("b")), ("a", "b"), next=2),
    "the last page of -a pages: done": Page((new("a"),), ("a",), page=3),
    "-a pages=1: one page": Page((new("a"),), ("a",), pages=1),
    "a page that is not full: done": Page((new("a"),), ("a",), more=False),
    "only known entries, the last run finished: stop": Page((known("a"), known("b")), (), known=2),
    "only known entries, the last run left some behind: page on": Page(
        (known("a"), known("b")), (), known=2, next=2, stop_at_known=False
    ),
    "known and new entries: page on": Page((known("a"), new("b")), ("b",), known=1, next=2),
    "an empty page: done, nothing known": Page((), (), more=False),
    "an empty full page: page on": Page((), (), next=2),
    "an entry listed before -a since: not fetched, stop": Page(
        (new("a"), new("b", ctime=SINCE - 1)), ("a",), older=1, since=SINCE
    ),
    "listed exactly at -a since: fetched": Page((new("a", ctime=SINCE),), ("a",), since=SINCE, next=2),
    "no ctime: intime says when it was listed": Page(
        (new("a", ctime=None, intime=SINCE - 1),), (), older=1, since=SINCE
    ),
    "ctime wins over intime": Page((new("a", ctime=SINCE + 1, intime=SINCE - 1),), ("a",), since=SINCE, next=2),
    "no time at all: fetched whatever -a since": Page(
        (new("a", ctime=None, intime=None),), ("a",), since=SINCE, next=2
    ),
    "before -a since and known: counted as before -a since": Page(
        (known("a", ctime=SINCE - 5),), (), older=1, since=SINCE
    ),
    "no -a since: old entries are fetched": Page((new("a", ctime=1, intime=1),), ("a",), next=2),
    "order kept": Page((new("c"), known("x"), new("a"), new("b")), ("c", "a", "b"), known=1, next=2),
    "keep_days: older than the window, not fetched, stop": Page(
        (new("a", intime=NOW - DAY), new("b", intime=NOW - 8 * DAY)), ("a",), window=WEEK, outside=1
    ),
    "keep_days: exactly at the cutoff, fetched": Page((new("a", intime=NOW - 7 * DAY),), ("a",), window=WEEK, next=2),
    "keep_days: the date is intime (the post's), not ctime": Page(
        (new("a", ctime=NOW, intime=NOW - 8 * DAY),), (), window=WEEK, outside=1
    ),
    "keep_days: no intime, ctime dates it": Page(
        (new("a", ctime=NOW - 8 * DAY, intime=None),), (), window=WEEK, outside=1
    ),
    "keep_days: no date at all, fetched (its page will date it)": Page(
        (new("a", ctime=None, intime=None),), ("a",), window=WEEK, next=2
    ),
    "keep_days: known and outside, counted as outside": Page(
        (known("a", intime=NOW - 9 * DAY),), (), window=WEEK, outside=1
    ),
    "keep_posts: older than the newest kept, not fetched": Page(
        (new("z", intime=SINCE + 61), new("a", intime=SINCE + 59)), ("z",), window=FLOOR, outside=1
    ),
    "keep_posts: same date, publishid decides": Page(
        (new("n", intime=SINCE + 60), new("l", intime=SINCE + 60)), ("n",), window=FLOOR, outside=1
    ),
    "keep_posts: fewer posts kept than N, no floor": Page(
        (new("a", intime=1),), ("a",), window=Window(keep_posts=5, now=NOW), next=2
    ),
    "-a since before the window: counted as before -a since": Page(
        (new("a", ctime=SINCE - 1, intime=SINCE - 1),), (), since=SINCE, window=Window(keep_days=1, now=NOW), older=1
    ),
}


@pytest.mark.parametrize("case", PAGES.values(), ids=PAGES.keys())
def test_a_page_of_a_listing(case: Page) -> None:
    decided = admit(
        case.entries,
        since=case.since,
        stop_at_known=case.stop_at_known,
        known=lambda entry: entry.publishid.startswith("known-"),
        window=case.window,
    )
    assert [entry.publishid for entry in decided.admitted] == list(case.admitted)
    assert (decided.known, decided.older, decided.outside) == (case.known, case.older, case.outside)
    assert decided.listed == len(case.admitted) + case.known
    assert next_page(case.page, pages=case.pages, more=case.more, go_on=decided.go_on) == case.next


@dataclass(frozen=True)
class Row:
    """What the state remembers of a post (crawler.storage.state.ArticleState)."""

    mtime: int | None = 1
    post_format: str | None = "3/clean"
    path: str = "a/b/c/post.md"


KNOWN = {
    "written, unchanged, still there": (Entry("a"), Row(), False, True, True),
    "-a refresh=1": (Entry("a"), Row(), True, True, False),
    "never written": (Entry("a"), None, False, True, False),
    "its mtime changed": (Entry("a", mtime=2), Row(), False, True, False),
    "an mtime appeared": (Entry("a", mtime=2), Row(mtime=None), False, True, False),
    "no mtime, then or now": (Entry("a", mtime=None), Row(mtime=None), False, True, True),
    "written in another post format": (Entry("a"), Row(post_format="2/clean"), False, True, False),
    "written in another body style": (Entry("a"), Row(post_format="3/sample"), False, True, False),
    "written before post formats were recorded": (Entry("a"), Row(post_format=None), False, True, False),
    "its post is gone (or its path unsafe)": (Entry("a"), Row(), False, False, False),
}


@pytest.mark.parametrize(("entry", "row", "refresh", "there", "expected"), KNOWN.values(), ids=KNOWN.keys())
def test_a_known_entry(entry: Entry, row: Row | None, refresh: bool, there: bool, expected: bool) -> None:
    asked: list[str] = []

    def post_there(path: str) -> bool:
        asked.append(path)
        return there

    assert is_known(entry, row, post_format="3/clean", refresh=refresh, post_there=post_there) is expected
    # The disk is read only for a post the state says is unchanged.
    unchanged = row is not None and row.mtime == entry.mtime and row.post_format == "3/clean"
    assert asked == ([row.path] if row is not None and unchanged and not refresh else [])


STOP_AT_KNOWN = {
    "never listed (or killed mid-run)": (PAGES_DONE_WHILE_LISTING, 1, False),
    "the same pages": (2, 2, True),
    "more pages last time": (3, 1, True),
    "fewer pages last time": (1, 3, False),
}


@pytest.mark.parametrize(("pages_done", "pages", "expected"), STOP_AT_KNOWN.values(), ids=STOP_AT_KNOWN.keys())
def test_a_listing_may_stop_at_known_entries(pages_done: int, pages: int, expected: bool) -> None:
    assert may_stop_at_known(pages_done, pages) is expected


def _progress(*events: str) -> SectionProgress:
    progress = SectionProgress()
    for event in events:
        if event == "listing failed":
            progress.listing_gave_nothing()
        elif event == "post not written":
            progress.post_not_written()
        else:
            progress.article_skipped(event)
    return progress


PAGES_DONE = {
    "finished, nothing left": ("finished", (), 3),
    "finished, an article skipped for good": ("finished", ("no_body", "empty_body", "no_title", "no_date"), 3),
    "finished, an article not fetched": ("finished", ("http_404",), None),
    "finished, an article lost with a worker": ("finished", ("lost",), None),
    "finished, a post not written": ("finished", ("post not written",), None),
    "finished, a listing failed": ("finished", ("listing failed",), None),
    "killed or shut down": ("shutdown", (), None),
    "closed as a failed run": ("all_listings_failed", (), None),
}


@pytest.mark.parametrize(("reason", "events", "expected"), PAGES_DONE.values(), ids=PAGES_DONE.keys())
def test_what_a_run_tells_the_next(reason: str, events: tuple[str, ...], expected: int | None) -> None:
    assert _progress(*events).pages_done_after(reason, 3) == expected


def test_a_failed_listing_is_remembered() -> None:
    progress = _progress("listing failed")
    assert progress.listing_failed and progress.left_behind and not progress.post_failed
    assert {"no_body", "empty_body", "no_title", "no_date"} == SKIPPED_FOR_GOOD


@dataclass(frozen=True)
class Post:
    """What retention knows of a post of ours (crawler.storage.state.ArticleState)."""

    publishid: str
    date: int | None


def posts(*dated: tuple[str, int | None]) -> tuple[Post, ...]:
    return tuple(Post(publishid, date) for publishid, date in dated)


THREE = posts(("a", NOW - DAY), ("b", NOW - 10 * DAY), ("c", NOW - 20 * DAY))
# posts, keep_days, keep_posts -> what falls out (oldest first, with why), then the floor kept
FALL_OUT = {
    "retention off: nothing": (THREE, None, None, [], None),
    "keep_days: the older ones, oldest first": (THREE, 7, None, [("c", "keep_days"), ("b", "keep_days")], None),
    "keep_days: a post exactly at the cutoff stays": (posts(("a", NOW - 7 * DAY)), 7, None, [], None),
    "keep_days: every post in the window": (THREE, 30, None, [], None),
    "keep_posts: the newest N stay": (THREE, None, 1, [("c", "keep_posts"), ("b", "keep_posts")], (NOW - DAY, "a")),
    "keep_posts: N or more posts kept, nothing goes": (THREE, None, 3, [], (NOW - 20 * DAY, "c")),
    "keep_posts: fewer than N, no floor": (THREE, None, 4, [], None),
    "keep_posts: ties broken by publishid, the larger is newer": (
        posts(("x", 5), ("y", 5), ("w", 5)),
        None,
        2,
        [("w", "keep_posts")],
        (5, "x"),
    ),
    "both: keep_days first, then the rank": (
        THREE,
        15,
        1,
        [("c", "keep_days"), ("b", "keep_posts")],
        (NOW - DAY, "a"),
    ),
    "an undated post never falls out and takes no rank": (
        posts(("old", None), ("a", NOW - DAY), ("b", NOW - 40 * DAY)),
        30,
        1,
        [("b", "keep_days")],
        (NOW - DAY, "a"),
    ),
    "no posts": ((), 1, 1, [], None),
}


@pytest.mark.parametrize(
    ("posts", "keep_days", "keep_posts", "expected", "floor"), FALL_OUT.values(), ids=FALL_OUT.keys()
)
def test_what_retention_removes(
    posts: tuple[Post, ...],
    keep_days: int | None,
    keep_posts: int | None,
    expected: list[tuple[str, str]],
    floor: tuple[int, str] | None,
) -> None:
    window = Window(keep_days, keep_posts, now=NOW)
    out = fall_out(posts, window)
    assert [(post.publishid, why) for post, why in out] == expected
    gone = {post.publishid for post, _ in out}
    kept = window.kept(post for post in posts if post.publishid not in gone)
    assert kept.floor == floor
    # What is kept is inside the window admission uses; what went is outside it.
    for post in posts:
        if post.date is not None:
            assert kept.outside(post.date, post.publishid) == (post.publishid in gone)


def test_the_tables_cover_every_rule() -> None:
    assert len(PAGES) + len(KNOWN) + len(STOP_AT_KNOWN) + len(PAGES_DONE) + len(FALL_OUT) >= 55


def test_the_rules_are_pure() -> None:
    """Standard library only, and importing it loads no Scrapy."""
    source = Path(admission.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            assert node.module.split(".")[0] in {"__future__", "collections", "dataclasses", "typing"}, node.module
        assert not isinstance(node, ast.Import) or all(alias.name in {"typing"} for alias in node.names)
    code = "import sys, crawler.admission; print(sorted(m for m in sys.modules if m.startswith(('scrapy', 'twisted'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
