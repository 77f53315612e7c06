"""HEXO_FRONT_MATTER_EXTRAS read back by real Hexo 7: every golden post (articles and
flashes) with each extra alone, each pair and all three is loaded by Hexo
(tests/hexo/load_posts.js), which must give back exactly the excerpt, the tags and the
updated date we wrote, and the same title, date and categories as without them.  A post
whose excerpt and tags hold everything that could be markup to Hexo, a theme or a browser
(quotes, ``<script>``, ``---``, ``{% %}``, ``<!-- more -->``, backticks) is read back as
written, and its post page and the index page that shows its excerpt run nothing in
Chromium; a control post whose excerpt is raw markup shows that the audit would see it.

Needs Node.js, ``npm ci --prefix tests/hexo`` and Debian's chromium; fails, never skips.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.hexo.fields import html_text, rfc1123, yaml_quote
from crawler.hexo.post import PostContent, escape_braces, render_post_bytes
from tests.conftest import CASES
from tests.support.blog import audit_pages, build_site, require_blog_tools, serve
from tests.support.crawl import files_under, run_crawl
from tests.support.extras import EXTRA_SETS, golden_posts, split_front_matter, without_extras
from tests.support.hexo import hexo_installed, load_with_hexo, not_installed_message
from tests.support.replay_proxy import ReplayProxy, serve_corpus

pytestmark = pytest.mark.e2e

GOLDENS = golden_posts()
HOSTILE = "It's \"quoted\" <script>alert('x')</script> --- {% raw %} <!-- more --> ```js``` ~~~ <b>&amp;</b>"
HOSTILE_TAGS = (HOSTILE, "---", "<img src=x onerror=alert(2)>", "{{ config }}", "a\x01\x7f\x85b")
DATE = "Mon, 24 Jan 2022 11:02:07 GMT"
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")


def _as_written(text: str) -> str:
    """A plain text as the extras write it, which Hexo must give back unchanged."""
    return escape_braces(html_text(text))


def _iso(rfc: str) -> str:
    return parsedate_to_datetime(rfc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _hostile_post(title: str) -> PostContent:
    return PostContent(
        title=title,
        categories=CATEGORIES,
        author="新浪财经",
        date=DATE,
        headimg=None,
        body="<p>正文</p>",
        excerpt=HOSTILE,
        tags=HOSTILE_TAGS,
        updated="Tue, 25 Jan 2022 01:00:00 GMT",
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every golden under ``<extras>/`` for each set of extras and ``default/``, and the
    hostile post, loaded by Hexo in one run; keyed by source."""
    if not hexo_installed():
        pytest.fail(not_installed_message(), pytrace=False)
    root = tmp_path_factory.mktemp("extras")
    for extras in [(), *EXTRA_SETS]:
        for golden in GOLDENS:
            path = root / ("+".join(extras) or "default") / golden.expected_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(golden.render(extras))
    (root / "hostile.md").write_bytes(render_post_bytes(_hostile_post("hostile")))
    return {post["source"]: post for post in load_with_hexo(root)}


@pytest.mark.hexo
@pytest.mark.parametrize("extras", EXTRA_SETS, ids=["+".join(extras) for extras in EXTRA_SETS])
def test_hexo_reads_back_what_each_set_of_extras_wrote(
    loaded: dict[str, dict[str, Any]], extras: tuple[str, ...]
) -> None:
    seen = {"excerpt": 0, "tags": 0, "updated": 0}
    for golden in GOLDENS:
        post, default = loaded[f"{'+'.join(extras)}/{golden.expected_path}"], loaded[f"default/{golden.expected_path}"]
        for field in ("title", "date", "categories"):
            assert post[field] == default[field], (golden.name, field)
        written = golden.post
        if "excerpt" in extras and written.excerpt:
            assert post["excerpt"] == _as_written(written.excerpt), golden.name
            seen["excerpt"] += 1
        else:
            assert post["excerpt"] == "", golden.name  # no excerpt line, no <!-- more -->
        if "tags" in extras and written.keywords:
            assert sorted(post["tags"]) == sorted(_as_written(tag) for tag in written.keywords), golden.name
            seen["tags"] += 1
        else:
            assert post["tags"] == [], golden.name
        if "updated" in extras and written.updated is not None:
            assert post["updated"] == _iso(rfc1123(written.updated)), golden.name
            seen["updated"] += 1
    for extra in extras:  # the goldens give each extra to several posts
        assert seen[extra] >= 3, extra
    if "updated" in extras:  # and leave the unedited ones without
        assert seen["updated"] < len(GOLDENS)


@pytest.mark.hexo
def test_hexo_reads_the_hostile_extras_back_exactly(loaded: dict[str, dict[str, Any]]) -> None:
    post = loaded["hostile.md"]
    assert post["excerpt"] == _as_written(HOSTILE)
    assert "<" not in post["excerpt"] and "{%" not in post["excerpt"]
    assert sorted(post["tags"]) == sorted(_as_written(tag) for tag in HOSTILE_TAGS)
    assert "a b" in post["tags"], "the control characters YAML refuses are left out"
    assert post["updated"] == "2022-01-25T01:00:00.000Z"
    assert post["title"] == "hostile" and post["date"] == "2022-01-24T11:02:07.000Z"


@pytest.mark.hexo
@pytest.mark.browser
def test_hostile_extras_run_nothing_on_the_blog(tmp_path: Path) -> None:
    """The hostile post's page (its tags) and the index page that shows its excerpt run
    nothing; the control, the same excerpt written raw, runs on its index page."""
    require_blog_tools()
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "hostile.md").write_bytes(render_post_bytes(_hostile_post("hostile")))
    control = render_post_bytes(_hostile_post("control")).decode("utf-8")
    raw = "<img src=x onerror=alert(3)>"
    control = control.replace(f"excerpt: {yaml_quote(_as_written(HOSTILE))}", f"excerpt: {yaml_quote(raw)}")
    assert raw in control
    (posts / "control.md").write_text(control, encoding="utf-8")
    site = build_site(posts, tmp_path / "public", per_page=1)
    assert not site.unpublished
    pages = {post.source: (post.path, site.index_of(post.source).path) for post in site.posts}
    with serve(tmp_path / "public") as base_url:
        audits = audit_pages(base_url, [page for both in pages.values() for page in both], settle_ms=250)
    post_page, index_page = pages["hostile.md"]
    assert audits[post_page].problems() == []
    assert audits[index_page].problems() == []
    index_html = (tmp_path / "public" / index_page).read_text(encoding="utf-8")
    assert _as_written(HOSTILE) in index_html, "the excerpt is on the index page, as written"
    post_html = (tmp_path / "public" / post_page).read_text(encoding="utf-8")
    assert post_html.count('class="article-tag-list-link"') == len(HOSTILE_TAGS), "the tags are on the post page"
    assert "<img src=x" not in post_html and "<script>alert" not in post_html
    assert audits[pages["control.md"][1]].dialogs, "the control's raw excerpt runs"


# --- the real spider ---------------------------------------------------------------------


def test_a_crawl_writes_the_extras_and_a_crawl_without_them_takes_them_out(tmp_path: Path) -> None:
    """The setting through the real crawl: the corpus with every extra (the sample's lines
    byte for byte), then without (the goldens again: the state recorded the extras with the
    post format, so every post is fetched and written again)."""
    every = "excerpt,tags,updated"
    by_path = {golden.expected_path: golden for golden in GOLDENS}
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES, pageid="155", lid="1686")
        with_extras = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_FRONT_MATTER_EXTRAS": every})
        files = files_under(tmp_path / "posts")
        without = run_crawl(proxy.url, tmp_path, "sections=china")
        files_without = files_under(tmp_path / "posts")
    assert with_extras.returncode == 0, with_extras.log[-3000:]
    assert sorted(files) == sorted(case.expected_path for case in CASES)
    for path, data in files.items():
        assert without_extras(data.decode("utf-8")) == by_path[path].expected.decode("utf-8"), path
        assert data == by_path[path].render(("excerpt", "tags", "updated")), path
    assert sum(bool(split_front_matter(data.decode("utf-8"))[1]) for data in files.values()) == len(CASES)
    assert without.returncode == 0, without.log[-3000:]
    assert without.stat("sina/posts/updated") == len(CASES)
    assert files_without == {case.expected_path: case.expected for case in CASES}


def test_an_unknown_extra_stops_the_crawl_at_start(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        result = run_crawl(
            proxy.url, tmp_path, "sections=china", settings={"HEXO_FRONT_MATTER_EXTRAS": "excerpt,summary"}
        )
        requested = proxy.urls()
    assert result.returncode == 2
    assert "Not crawling: HEXO_FRONT_MATTER_EXTRAS: 'summary': expected some of excerpt, tags, updated" in result.log
    assert requested == []


# --- the Hexo site's time zone (docs/usage.md#the-hexo-site) ----------------------------


@pytest.mark.hexo
@pytest.mark.parametrize(
    ("tz", "timezone", "date", "path"),
    [
        ("UTC", None, "2022-01-24T23:02:07.000Z", "2022/01/24/"),  # the right moment, UTC's day
        ("UTC", "Asia/Shanghai", "2022-01-24T15:02:07.000Z", "2022/01/24/"),  # 8 h early, UTC's day
        ("Asia/Shanghai", None, "2022-01-24T23:02:07.000Z", "2022/01/25/"),  # Beijing's day
        ("Asia/Shanghai", "Asia/Shanghai", "2022-01-24T23:02:07.000Z", "2022/01/25/"),
    ],
    ids=["utc-server", "utc-server-timezone-set", "beijing-process", "beijing-process-timezone-set"],
)
def test_a_posts_day_is_the_zone_hexo_runs_in(
    tmp_path: Path, tz: str, timezone: str | None, date: str, path: str
) -> None:
    """An article published at 07:02 Beijing time: what docs/usage.md says of
    ``timezone: Asia/Shanghai`` and ``TZ=Asia/Shanghai``, measured with the Hexo we test."""
    if not hexo_installed():
        pytest.fail(not_installed_message(), pytrace=False)
    post = PostContent(
        title="morning",
        categories=CATEGORIES,
        author="新浪财经",
        date="Mon, 24 Jan 2022 23:02:07 GMT",
        headimg=None,
        body="<p>正文</p>",
    )
    (tmp_path / "morning.md").write_bytes(render_post_bytes(post))
    (loaded,) = load_with_hexo(tmp_path, timezone=timezone, tz=tz)
    assert (loaded["date"], loaded["path"]) == (date, f"{path}morning/")
