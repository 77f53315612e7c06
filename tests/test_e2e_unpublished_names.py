"""A blog upgraded from post format version 2: a post whose title began with a quote was
written as ``_一带一路_….md``, which Hexo never publishes.  The next run moves it to its
§4 name (``一带一路_….md``) and removes the old file, only when it is still the post we
wrote there; a file someone edited stays, and nothing else is touched."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import corpus_case
from tests.support.crawl import files_under, run_crawl
from tests.support.replay_proxy import ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
FOLDER = "金融/新浪财经/新浪财经－国內"


def _article(publishid: str, title: str) -> dict[str, Any]:
    item = copy.deepcopy(SEED.item)
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    item.update(url=url, title=title, docid=f"comos:{publishid}")
    return item


def _as_version_2(work: Path, names: dict[str, str]) -> None:
    """What a version 2 crawler left: each post under its old name, its row saying so."""
    with sqlite3.connect(work / "state.sqlite") as db:
        for publishid, old in names.items():
            (path,) = db.execute("SELECT path FROM articles WHERE publishid = ?", (publishid,)).fetchone()
            (work / "posts" / path).rename(work / "posts" / old)
            db.execute("UPDATE articles SET path = ?, post_format = '2/clean' WHERE publishid = ?", (old, publishid))
    db.close()


def test_a_post_named_with_a_leading_underscore_moves_to_its_published_name(tmp_path: Path) -> None:
    articles = [_article("quotedt0000001", "“一带一路”经贸合作"), _article("quotedt0000002", "“双碳”目标")]
    old = {"quotedt0000001": f"{FOLDER}/_一带一路_经贸合作.md", "quotedt0000002": f"{FOLDER}/_双碳_目标.md"}
    work = tmp_path / "work"
    with ReplayProxy() as proxy:
        for item in articles:
            proxy.add(item["url"], SEED.page)
        RollApi({("155", "1686"): articles}).install(proxy)
        first = run_crawl(proxy.url, work, "sections=china")
        fresh = files_under(work / "posts")
        _as_version_2(work, old)
        edited = work / "posts" / old["quotedt0000002"]
        edited.write_bytes(edited.read_bytes() + b"<!-- my note -->")  # the owner edited this one
        user_file = work / "posts" / FOLDER / "_drafts-of-mine.md"
        user_file.write_bytes(b"not ours")
        second = run_crawl(proxy.url, work, "sections=china")
    assert first.returncode == 0 and first.stat("sina/posts/new") == 2, first.log[-3000:]
    assert sorted(fresh) == [f"{FOLDER}/一带一路_经贸合作.md", f"{FOLDER}/双碳_目标.md"]
    assert second.returncode == 0, second.log[-3000:]
    after = files_under(work / "posts")
    # Both posts are back at their published names, byte for byte as a fresh crawl writes them.
    assert {path: after[path] for path in fresh} == fresh
    assert old["quotedt0000001"] not in after, "our old, unpublished post is gone"
    assert after[old["quotedt0000002"]].endswith(b"<!-- my note -->"), "an edited file stays"
    assert after[f"{FOLDER}/_drafts-of-mine.md"] == b"not ours"
    assert second.stat("sina/posts/moved/unpublished_name") == 2
    assert second.stat("sina/posts/moved/removed_old") == 1
    assert second.stat("sina/posts/updated") == 2
    (kept,) = [line for line in second.log.splitlines() if "Left " in line]
    assert "WARNING" in kept and old["quotedt0000002"] in kept
    with sqlite3.connect(work / "state.sqlite") as db:
        rows = sorted(db.execute("SELECT path FROM articles").fetchall())
    db.close()
    assert rows == [(path,) for path in sorted(fresh)]
