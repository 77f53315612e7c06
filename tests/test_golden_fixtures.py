"""Validates the golden fixtures, not the crawler: no crawler code runs here.

The golden posts (tests/corpus/<case>/expected.md and expected_sample.md, kept in step
by scripts/sync-corpus) are the crawler's expected output; if one were wrong,
the byte-for-byte end-to-end tests would hold the crawler to a wrong post.  So real Hexo 7
reads each golden file with the fields the spec (docs/hexo-post.md) gives it, from its
item.json; the spec's title quoting is checked the same way on hand-made posts; and both
body styles of every golden are rendered (Hexo 7 + landscape) to count code blocks: none
that the article lacks in the clean style, some in the sample style.

The crawler's own posts are loaded by Hexo in
tests/test_e2e_corpus.py::test_hexo_loads_every_written_post, and compared byte for byte
with these goldens there.

Needs Node.js and ``npm ci --prefix tests/hexo``; without them these tests fail, never skip.
"""

from __future__ import annotations

import html
import json
import shutil
import unicodedata
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CASES as CORPUS_CASES
from tests.conftest import CORPUS
from tests.support.blog import RenderedPost, count_code_blocks, render_site, site_installed, site_not_installed_message
from tests.support.hexo import hexo_installed, load_with_hexo, not_installed_message

pytestmark = [pytest.mark.e2e, pytest.mark.hexo]

CASES = [case.name for case in CORPUS_CASES]
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")


def spec_title(raw: str) -> str:
    """The title as the spec writes it into the front matter (before YAML quoting)."""
    text = html.unescape(raw)
    # control characters that are not whitespace are deleted
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    text = " ".join(text.split())  # str.split(): runs of str.isspace() characters
    return text.replace("{", "&#123;").replace("}", "&#125;")


def spec_quote(value: str) -> str:
    """Spec §2 quoting: `"…"` when it has `'` and no `"` or `\\`; else `'…'`, `'` doubled."""
    if "'" in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def expected_date(intime: str) -> str:
    """`intime` (unix seconds) as JavaScript's Date#toISOString() writes it."""
    when = datetime.fromtimestamp(int(intime), tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _require_hexo() -> None:
    if not hexo_installed():
        pytest.fail(not_installed_message(), pytrace=False)


def _read_case(case: str) -> tuple[str, dict[str, Any]]:
    folder = CORPUS / case
    rel = (folder / "expected_path.txt").read_text(encoding="utf-8").rstrip("\r\n")
    item = json.loads((folder / "item.json").read_text(encoding="utf-8"))
    return rel, item


@pytest.fixture(scope="module")
def golden_posts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """All golden expected.md files (fixtures), loaded by Hexo in one node run, keyed by source."""
    _require_hexo()
    posts_dir = tmp_path_factory.mktemp("golden_posts")
    for case in CASES:
        rel, _ = _read_case(case)
        dest = posts_dir / rel
        assert not dest.exists(), f"two golden cases write {rel}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / case / "expected.md", dest)
    posts = load_with_hexo(posts_dir)
    by_source = {post["source"]: post for post in posts}
    assert len(by_source) == len(posts) == len(CASES)
    return by_source


def test_corpus_present() -> None:
    assert CASES, f"no golden cases (<case>/expected.md) found under {CORPUS}"


@pytest.mark.parametrize("case", CASES)
def test_golden_fixture_loads_in_hexo_as_the_spec_says(case: str, request: pytest.FixtureRequest) -> None:
    _require_hexo()  # a FAILED test with the install hint, not a setup error
    golden_posts: dict[str, dict[str, Any]] = request.getfixturevalue("golden_posts")
    rel, item = _read_case(case)
    assert rel in golden_posts, f"Hexo has no post {rel!r}; it has {sorted(golden_posts)}"
    post = golden_posts[rel]

    assert post["title"] == spec_title(item["title"])
    assert post["date"] == expected_date(item["intime"])
    parts = rel.split("/")
    assert len(parts) == 4, rel
    assert post["categories"] == parts[:3]
    assert post["raw_has_content"] is True


HAND_MADE_TITLES = {
    "single-and-double.md": """He said "it's {fine}" – 'OK'""",
    "single-only.md": "It's Sina's 5.26亿",
    "single-and-backslash.md": "C:\\path 'quoted'",
    "double-only.md": '60万"12306账号"外泄?',
    "yaml-specials.md": "#1: [a], {b} & c | > - % @ `d` *e ! ? ~ null",
}


def _hand_made_post(title: str, intime: int) -> str:
    return (
        "\n---\n"
        f"title: {spec_quote(spec_title(title))}\n"
        "categories: \n" + "".join(f" - {c}\n" for c in CATEGORIES) + "author: 新浪财经\n"
        "comments: false\n"
        f"date: {formatdate(intime, usegmt=True)}\n"
        "---\n\n<div>   \n<p>正文 &#123;&#123; x &#125;&#125;</p>  \n</div>\n            "
    )


def test_hand_made_quoted_titles_read_back_exactly(tmp_path: Path) -> None:
    _require_hexo()
    folder = tmp_path / "posts" / "/".join(CATEGORIES)
    folder.mkdir(parents=True)
    intime = 1643022127
    for name, title in HAND_MADE_TITLES.items():
        (folder / name).write_text(_hand_made_post(title, intime), encoding="utf-8")
    # the quoting rule picks both styles
    single_only = (folder / "single-only.md").read_text(encoding="utf-8")
    both = (folder / "single-and-double.md").read_text(encoding="utf-8")
    assert "\ntitle: \"It's Sina's 5.26亿\"\n" in single_only
    assert "\ntitle: 'He said \"it''s &#123;fine&#125;\" – ''OK'''\n" in both

    posts = {p["source"]: p for p in load_with_hexo(tmp_path / "posts")}

    assert len(posts) == len(HAND_MADE_TITLES)
    for name, title in HAND_MADE_TITLES.items():
        post = posts["/".join((*CATEGORIES, name))]
        assert post["title"] == spec_title(title), name
        assert post["date"] == "2022-01-24T11:02:07.000Z", name
        assert post["categories"] == list(CATEGORIES), name
        assert post["raw_has_content"] is True, name


# --- readable in a blog: Hexo's Markdown shows no stray code block ---------------------


@pytest.fixture(scope="module")
def rendered_goldens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, RenderedPost]]:
    """Every golden post of each body style through Hexo 7 + landscape, by style and case."""
    if not site_installed():
        pytest.fail(site_not_installed_message(), pytrace=False)
    by_style = {}
    for style, golden in (("clean", "expected.md"), ("sample", "expected_sample.md")):
        work = tmp_path_factory.mktemp(f"rendered-{style}")
        cases = {}
        for case in CASES:
            rel, _ = _read_case(case)
            (work / "posts" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CORPUS / case / golden, work / "posts" / rel)
            cases[rel] = case
        by_style[style] = {cases[post.source]: post for post in render_site(work / "posts", work / "public")}
    return by_style


def _article_code_blocks(case: str, golden: str) -> int:
    """Code blocks the article itself has (a <pre><code> in its BODY)."""
    text = (CORPUS / case / golden).read_text(encoding="utf-8")
    return count_code_blocks(text[text.index("<div>   \n") :])


@pytest.mark.parametrize("case", CASES)
def test_clean_golden_fixture_shows_no_code_block_the_article_lacks(
    case: str, rendered_goldens: dict[str, dict[str, RenderedPost]]
) -> None:
    content = rendered_goldens["clean"][case].content
    assert count_code_blocks(content) == _article_code_blocks(case, "expected.md"), content


def test_sample_golden_fixtures_show_code_blocks(rendered_goldens: dict[str, dict[str, RenderedPost]]) -> None:
    """Why `clean` is the default: the sample style's blank lines end the HTML block."""
    counts = {case: count_code_blocks(post.content) for case, post in rendered_goldens["sample"].items()}
    shown = {case: count for case, count in counts.items() if count}
    print(f"\nsample style: {sum(shown.values())} code blocks in {len(shown)} of {len(counts)} goldens: {shown}")
    assert shown, "the sample style is expected to show code blocks on real pages"
