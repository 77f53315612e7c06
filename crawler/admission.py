"""What a run fetches, and how far it pages: the incremental rules in one place.

Invariant: plain functions of plain values, no Scrapy and no I/O (the state and the posts
folder are asked through the arguments), so every rule is tested with a table of cases
(tests/test_admission.py).  The rules:

- **known**: an entry written before, in this post format, whose listed mtime is
  unchanged and whose post is still there, is not fetched again (``-a refresh=1``: none is);
- **since**: an entry listed before ``-a since`` is not fetched, and paging stops there;
- **window** (retention, ``-a keep_days`` / ``-a keep_posts``): an entry dated before the
  window (older than keep_days days, or older than the newest keep_posts posts kept) is
  not fetched, and paging stops there, so a run never writes again what retention removed;
  ``fall_out`` names the posts retention removes: dated before ``now - keep_days`` days, or
  beyond the newest keep_posts (by date, then publishid: no tie is left to chance);
- **admit**: the rest is fetched; a page of known entries alone stops paging, but only
  when the section's last run finished what it listed (else the next pages may hold what
  it left behind);
- **pages**: a listing pages on while it is under ``-a pages``, its page was full (or
  says more follow) and the page did not stop it;
- **the previous run**: a section records ``pages_done`` (``-a pages`` of its last run)
  only when that run finished and left nothing behind; it is 0 while a run is on it, so
  a killed run leaves 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# Article pages that no later fetch will turn into a post: skipping them leaves nothing
# behind for the next run.
SKIPPED_FOR_GOOD = frozenset({"no_body", "empty_body", "no_title", "no_date"})
# What a section's pages_done is while a run lists it (a killed run leaves this).
PAGES_DONE_WHILE_LISTING = 0


class Listed(Protocol):
    """What a listing gives of each entry: an article, a gallery, a video, a flash."""

    @property
    def publishid(self) -> str: ...

    @property
    def mtime(self) -> int | None: ...  # changed: written again

    @property
    def ctime(self) -> int | None: ...  # when it was listed (for -a since)

    @property
    def intime(self) -> int | None: ...


class Remembered(Protocol):
    """What the state remembers of a post written before (crawler.storage.state.ArticleState)."""

    @property
    def mtime(self) -> int | None: ...

    @property
    def post_format(self) -> str | None: ...

    @property
    def path(self) -> str: ...


T = TypeVar("T", bound=Listed)

DAY = 86400


class Dated(Protocol):
    """A post retention may remove (crawler.storage.state.ArticleState): its date, Unix seconds."""

    @property
    def publishid(self) -> str: ...

    @property
    def date(self) -> int | None: ...


D = TypeVar("D", bound=Dated)


@dataclass(frozen=True, slots=True)
class Window:
    """The posts a run keeps: dated at or after ``now - keep_days`` days, and among the
    newest ``keep_posts`` (None: no such limit; both None: retention is off)."""

    keep_days: int | None = None
    keep_posts: int | None = None
    now: int = 0  # Unix seconds: the run's start, one clock for removal and admission
    floor: tuple[int, str] | None = None  # (date, publishid) of the oldest post keep_posts keeps

    @property
    def on(self) -> bool:
        return self.keep_days is not None or self.keep_posts is not None

    @property
    def cutoff(self) -> int | None:
        """Posts dated before this are older than keep_days days."""
        return None if self.keep_days is None else self.now - self.keep_days * DAY

    def outside(self, date: int, publishid: str) -> bool:
        """Whether a post of this date and publishid falls out of the window."""
        cutoff = self.cutoff
        return (cutoff is not None and date < cutoff) or (self.floor is not None and (date, publishid) < self.floor)

    def kept(self, posts: Iterable[Dated]) -> Window:
        """This window with the floor of keep_posts set from the posts kept: the
        keep_posts-th newest (fewer posts: no floor; a newer listed entry may still come)."""
        if self.keep_posts is None:
            return self
        ranked = sorted(((post.date, post.publishid) for post in posts if post.date is not None), reverse=True)
        floor = ranked[self.keep_posts - 1] if len(ranked) >= self.keep_posts else None
        return Window(self.keep_days, self.keep_posts, self.now, floor)


def fall_out(posts: Iterable[D], window: Window) -> list[tuple[D, str]]:
    """The posts retention removes, oldest first, each with why: ``keep_days`` (dated
    before the cutoff) or ``keep_posts`` (beyond the newest keep_posts, ranked by date then
    publishid, newest first).  A post without a date never falls out and takes no rank."""
    if not window.on:
        return []
    ranked = sorted(
        (post for post in posts if post.date is not None), key=lambda post: (post.date, post.publishid), reverse=True
    )
    cutoff = window.cutoff
    out: list[tuple[D, str]] = []
    for rank, post in enumerate(ranked):
        assert post.date is not None
        if cutoff is not None and post.date < cutoff:
            out.append((post, "keep_days"))
        elif window.keep_posts is not None and rank >= window.keep_posts:
            out.append((post, "keep_posts"))
    return out[::-1]


def listed_date(entry: Listed) -> int | None:
    """An entry's date as its post will have it: the listing's intime (else when it was
    listed); None: only its page will say."""
    return entry.intime if entry.intime is not None else entry.ctime


def is_known(
    entry: Listed,
    remembered: Remembered | None,
    *,
    post_format: str,
    refresh: bool,
    post_there: Callable[[str], bool],
) -> bool:
    """Written before in this post format, listed mtime unchanged and the post still there
    (``post_there(path)``, asked last: it is the one that reads the disk)."""
    if refresh or remembered is None:
        return False
    if remembered.mtime != entry.mtime or remembered.post_format != post_format:
        return False
    return post_there(remembered.path)


@dataclass(frozen=True, slots=True)
class Admission(Generic[T]):
    """What one page of a listing comes to."""

    admitted: list[T]  # new or changed: fetched
    known: int  # written before and unchanged: not fetched
    older: int  # listed before -a since: not fetched
    go_on: bool  # paging may go on after this page
    outside: int = 0  # dated before the retention window: not fetched

    @property
    def listed(self) -> int:
        """Entries counted as listed (those before -a since are not)."""
        return len(self.admitted) + self.known


def admit(
    entries: Iterable[T],
    *,
    since: int | None,
    stop_at_known: bool,
    known: Callable[[T], bool],
    window: Window | None = None,
) -> Admission[T]:
    """Sort a page's entries.  Paging goes on unless the page reached ``since`` or the
    retention window, or held only known entries and ``stop_at_known`` (the section's last
    run finished what it listed)."""
    admitted: list[T] = []
    known_count = older = outside = 0
    for entry in entries:
        listed_at = entry.ctime or entry.intime
        dated = listed_date(entry)
        if since is not None and listed_at is not None and listed_at < since:
            older += 1
        elif window is not None and dated is not None and window.outside(dated, entry.publishid):
            outside += 1
        elif known(entry):
            known_count += 1
        else:
            admitted.append(entry)
    all_known = known_count > 0 and not admitted and stop_at_known
    return Admission(admitted, known_count, older, go_on=not older and not outside and not all_known, outside=outside)


def next_page(page: int, *, pages: int, more: bool, go_on: bool) -> int | None:
    """The page to ask for after ``page``, or None: the listing of this section is done.
    ``more``: the page was full (or the listing says more pages follow)."""
    return page + 1 if page < pages and more and go_on else None


def may_stop_at_known(pages_done: int, pages: int) -> bool:
    """Whether a listing may stop at a page of known entries: its last run finished
    at least as many pages (``pages_done``) as this one lists."""
    return pages_done >= pages


@dataclass
class SectionProgress:
    """What happened to one section this run, and what it tells the next run."""

    stop_at_known: bool = False  # the last run covered its pages: paging may stop at known entries
    listing_failed: bool = False  # a page of its listing gave nothing
    left_behind: bool = False  # an article or a listing page not done: the next run pages on
    post_failed: bool = False  # a post built but not written

    def listing_gave_nothing(self) -> None:
        self.listing_failed = self.left_behind = True

    def article_skipped(self, reason: str) -> None:
        if reason not in SKIPPED_FOR_GOOD:
            self.left_behind = True

    def post_not_written(self) -> None:
        self.post_failed = True

    def pages_done_after(self, finish_reason: str, pages: int) -> int | None:
        """What the state records for this section once the run ends: ``pages`` when the
        run finished and left nothing behind, else None (it keeps PAGES_DONE_WHILE_LISTING)."""
        if finish_reason != "finished" or self.left_behind or self.post_failed:
            return None
        return pages
