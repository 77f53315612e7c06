"""Every golden post, as a blog publishes it: ``hexo generate`` (Hexo 7 with a new site's
filters, the landscape theme and the index generator: tests/support/blog.py) over every
golden of each body style (tests/corpus/*/expected.md and expected_sample.md, and the
post kinds' tests/corpus-kinds/*/expected.md), plus a post the real spider writes for a
title that starts with a quote.

- Every post written is published: as many post pages in public/ as posts in
  source/_posts, and an unpublished post is named (Hexo never publishes a file whose
  name starts with `_`; post format §4 strips leading underscores from file names).
- Hexo publishes BODY as the tree BODY is: what Hexo rendered for the post
  (``post.content``) and what the post's page shows parse into the tree the post's body
  parses into, in no-quirks mode as the reader's browser parses them, but for the
  target/rel that Hexo's external-link filter adds to an external link on the page
  (tree and whitespace rules: tests/support/blog.py).

Needs Node.js and ``npm ci --prefix tests/hexo``; fails, never skips.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CASES, TESTS, corpus_case
from tests.support.blog import (
    POST_BODY_START,
    RenderedPost,
    Site,
    body_tree,
    build_site,
    markdown_free_block,
    page_body_trees,
    post_body,
    posts_written,
    published_post_pages,
    rendered_body_tree,
    site_installed,
    site_not_installed_message,
    tree_differences,
)
from tests.support.crawl import files_under, run_crawl
from tests.support.replay_proxy import ReplayProxy, RollApi

pytestmark = [pytest.mark.e2e, pytest.mark.hexo]

KINDS = TESTS / "corpus-kinds"
KIND_CASES = sorted(folder.name for folder in KINDS.iterdir() if (folder / "expected.md").is_file())
SEED = corpus_case("seed-haiguan")
# A title that starts with a quote: the 2022 rule makes `“` a `_`, and a file name starting
# with `_` is one Hexo never publishes.
QUOTED_TITLE = "“一带一路”经贸合作再结硕果：前8个月进出口同比增长5.2%"
QUOTED = "quoted-title"


@dataclass
class Golden:
    name: str  # the corpus case, "kinds/<case>", or QUOTED
    path: str  # under source/_posts
    text: str  # the post's bytes, decoded


@dataclass
class Published:
    goldens: dict[str, Golden]  # by name
    site: Site
    posts_dir: Path
    public: Path
    rendered: dict[str, RenderedPost]  # by name


def _crawl_quoted_title(work: Path) -> tuple[str, bytes]:
    """The seed article listed under QUOTED_TITLE, crawled end to end (clean style)."""
    item = copy.deepcopy(SEED.item)
    item["title"] = QUOTED_TITLE
    with ReplayProxy() as proxy:
        proxy.add(SEED.https_url, SEED.page)
        RollApi({("155", "1686"): [item]}).install(proxy)
        result = run_crawl(proxy.url, work, "sections=china")
    assert result.returncode == 0, result.log[-3000:]
    files = files_under(work / "posts")
    assert len(files) == 1, (sorted(files), result.log[-3000:])
    return next(iter(files.items()))


def _goldens(style: str, work: Path) -> dict[str, Golden]:
    goldens = {}
    for case in CASES:
        data = case.expected if style == "clean" else case.expected_sample
        assert data, f"{case.name} has no golden for the {style} style"
        goldens[case.name] = Golden(case.name, case.expected_path, data.decode("utf-8"))
    if style == "clean":
        for name in KIND_CASES:
            path = (KINDS / name / "expected_path.txt").read_text(encoding="utf-8").rstrip("\n")
            text = (KINDS / name / "expected.md").read_text(encoding="utf-8")
            goldens[f"kinds/{name}"] = Golden(f"kinds/{name}", path, text)
        path, data = _crawl_quoted_title(work / "crawl")
        goldens[QUOTED] = Golden(QUOTED, path, data.decode("utf-8"))
    return goldens


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Published]:
    if not site_installed():
        pytest.fail(site_not_installed_message(), pytrace=False)
    out = {}
    for style in ("clean", "sample"):
        work = tmp_path_factory.mktemp(f"published-{style}")
        goldens = _goldens(style, work)
        posts_dir = work / "posts"
        for golden in goldens.values():
            target = posts_dir / golden.path
            assert not target.exists(), f"two goldens at {golden.path}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(golden.text.encode("utf-8"))
        site = build_site(posts_dir, work / "public")
        by_path = {golden.path: name for name, golden in goldens.items()}
        rendered = {by_path[post.source]: post for post in site.posts}
        out[style] = Published(goldens, site, posts_dir, work / "public", rendered)
    return out


@pytest.mark.parametrize("style", ["clean", "sample"])
def test_every_post_written_is_published(published: dict[str, Published], style: str) -> None:
    site = published[style]
    written = posts_written(site.posts_dir)
    pages = published_post_pages(site.public)
    unpublished = [f"{source}: {why}" for source, why in site.site.unpublished]
    assert unpublished == [], f"{len(written)} written, {len(pages)} published; not published: {unpublished}"
    assert len(pages) == len(written) == len(site.goldens)
    print(f"\n{style}: {len(written)} posts written, {len(pages)} post pages published")


def test_a_title_starting_with_a_quote_is_published(published: dict[str, Published]) -> None:
    golden = published["clean"].goldens[QUOTED]
    name = golden.path.rsplit("/", 1)[1]
    assert name == "一带一路_经贸合作再结硕果：前8个月进出口同比增长52%.md"
    assert QUOTED in published["clean"].rendered
    assert published["clean"].rendered[QUOTED].title == QUOTED_TITLE


def _names(style: str) -> list[str]:
    names = [case.name for case in CASES]
    if style == "clean":
        names += [f"kinds/{name}" for name in KIND_CASES] + [QUOTED]
    return names


@pytest.mark.parametrize(("style", "name"), [(style, name) for style in ("clean", "sample") for name in _names(style)])
def test_hexo_publishes_body_as_written(published: dict[str, Published], style: str, name: str) -> None:
    site = published[style]
    golden = site.goldens[name]
    body = post_body(golden.text, braces=False)  # braces: see tests/support/blog.py
    post = site.rendered[name]
    if style == "sample" and markdown_free_block(body) != body:
        # The sample keeps the 2022 chain's blank lines byte for byte (rule 8 is clean's),
        # and after the first one Hexo reads Markdown (code blocks, paragraphs): a rewrite
        # of the post's own bytes, inert (test_e2e_payloads audits that). What comes before
        # it is one raw-HTML block, which Hexo must pass through untouched.
        assert post.content.startswith(POST_BODY_START + markdown_free_block(body))
        return
    expected = body_tree(body)
    found = tree_differences(expected, rendered_body_tree(post.content))
    assert found == [], "\n".join(["post.content differs from BODY:", *found])
    (shown,) = page_body_trees((site.public / post.path).read_text(encoding="utf-8"))
    found = tree_differences(expected, shown, link_attributes_ok=True)
    assert found == [], "\n".join(["the post's page differs from BODY:", *found])
