"""A synthetic Sina section of any size, for benchmarks and the cluster tests: the
golden corpus pages cycled, each at its own article URL with its own title, listed by
one roll-API section (``china``: pageid 155, lid 1686), newest first."""

from __future__ import annotations

import copy
import re
import string
from typing import Any

from tests.support.replay_proxy import CorpusCase, ReplayProxy, RollApi

PAGEID, LID, SECTION = "155", "1686", "china"
ARTICLE_URL = "https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
NEWEST = 1790600000  # 2026-09-28 19:33:20 Beijing; one article a minute before that


def publishid(number: int) -> str:
    """7 lowercase letters + 7 digits, distinct per number (letters from the number too)."""
    letters = string.ascii_lowercase
    prefix, rest = "", number
    for _ in range(7):
        rest, digit = divmod(rest, 26)
        prefix = letters[digit] + prefix
    return f"{prefix}{number % 10_000_000:07d}"


def synthetic_articles(cases: list[CorpusCase], count: int) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """Roll-API items (newest first) and (url, page) pairs: corpus cases cycled."""
    items, pages = [], []
    for number in range(count):
        case = cases[number % len(cases)]
        pid = publishid(number)
        url = ARTICLE_URL.format(publishid=pid)
        ctime = str(NEWEST - number * 60)
        item = copy.deepcopy(case.item)
        item.update(url=url, title=f"{case.item['title']} 基准{number:05d}", ctime=ctime, intime=ctime, mtime=ctime)
        item["docid"] = f"comos:{pid}"
        items.append(item)
        pages.append((url, case.page))
    return items, pages


def serve_synthetic(proxy: ReplayProxy, cases: list[CorpusCase], count: int, delay: float = 0.0) -> RollApi:
    """Serve ``count`` synthetic articles (each answered after ``delay`` seconds) and
    their roll-API listing; the listing's pages answer at once."""
    items, pages = synthetic_articles(cases, count)
    for url, page in pages:
        proxy.add(url, page, delay=delay)
    return RollApi({(PAGEID, LID): items}).install(proxy)


_BODY_CONTAINER_ID = re.compile(rb"""\bid=(["']?)(artibody|article)\b""")


def without_body_container(page: bytes) -> bytes:
    """The page as a changed template would serve it: its body container (#artibody,
    #article) renamed, everything else as it was."""
    changed, found = _BODY_CONTAINER_ID.subn(rb"id=\1gone", page)
    assert found, "the page has no body container to take away"
    return changed
