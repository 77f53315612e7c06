"""Self-test of the reader's-view harness (tests/support/blog.py): the site is built the
way a Hexo blog is built, and every detector fires.

Hand-made posts in the crawler's exact post format (written here as files, not by the
crawler) go through real Hexo 7 ``generate`` with a new site's filters (external links
rewritten at site level, fences highlighted by highlight.js), the landscape theme and the
index generator (tests/hexo/render_site.js), are served on 127.0.0.1 and opened in
headless Chromium, which focuses, hovers and clicks everything in each post body, on the
post pages and on the index pages. Each bad post must be caught by the right detector
and the clean one by none.

Needs Node.js, ``npm ci --prefix tests/hexo`` and Debian's chromium; without them these
tests fail, never skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.blog import (
    IndexPage,
    PageAudit,
    RenderedPost,
    audit_pages,
    body_tree,
    build_site,
    count_code_blocks,
    page_bodies,
    page_body_trees,
    post_body,
    published_post_pages,
    render_site,
    rendered_body_tree,
    require_blog_tools,
    serve,
    tree_differences,
)

pytestmark = [pytest.mark.e2e, pytest.mark.hexo, pytest.mark.browser]

FOLDER = Path("金融", "新浪财经", "新浪财经－国內")
CLEAN = "clean"
SCREENSHOT = "shot.png"

# name -> BODY (as the crawler would write it, before the `{`/`}` escaping post_text does).
BODIES = {
    CLEAN: '<p>新浪财经讯 1月24日，{清洁} 的正文。</p>\n<p><a href="https://finance.sina.com.cn/">新浪财经</a></p>',
    "onerror": "<p>图片</p>\n<p><img src=x onerror=alert(1)></p>",
    "iframe-srcdoc": '<p>框架</p>\n<iframe srcdoc="<p>x</p>"></iframe>',
    "javascript-link": '<p><a href="java&#x09;script:alert(1)">x</a></p>',
    "meta-refresh": '<p>跳转</p>\n<meta http-equiv="refresh" content="0;url=/x">',
    # A blank line ends marked's HTML block: the 4-space indented line is Markdown code.
    "code-block": "<p>一</p>\n\n    缩进四格的一行\n<p>二</p>",
    # Handlers that need the reader (hover, focus) or time (SVG, <details>).
    "hover": "<p onmouseover=\"alert('hover')\">悬停</p>",
    "focus": "<p><span tabindex=0 onfocus=\"alert('focus')\">焦点</span></p>",
    "svg-animate": "<svg><animate onbegin=\"alert('svg')\" attributeName=x dur=1s></animate></svg>",
    "details": "<details open ontoggle=\"alert('toggle')\"><summary>s</summary>d</details>",
    # Inert in the HTML, live in the browser: landscape's script.js writes each image's
    # alt text after it as HTML (`.after('<span class="caption">' + alt + '</span>')`).
    "theme-caption": '<p><img src="/css/images/banner.jpg" alt="&lt;img src=x onerror=alert(&quot;alt&quot;)&gt;"></p>',
    # Inert markup the DOM audit must still see: inside <template> content and MathML.
    "template": (
        '<template><img src=x onerror=alert(1)></template><math><mi xlink:href="javascript:alert(1)">m</mi></math>'
    ),
    # Declarative shadow DOM: the parser moves the template's content into a shadow root.
    "shadow": (
        "<div><template shadowrootmode=open><img src=x onerror=\"alert('open')\"></template></div>"
        "<p><template shadowrootmode=closed><b>closed</b></template></p>"
    ),
    # A same-document navigation after the load event (no request): framenavigated.
    "hash-change": "<details open ontoggle=\"location.hash='moved'\"><summary>s</summary>d</details>",
    "offsite-frame": '<iframe src="https://example.com/frame"></iframe>',
    # After a blank line marked parses Markdown: a javascript: link becomes <a href>.
    "markdown-link": "<p>链接</p>\n\n[x](javascript:alert(1)) [y](JAVASCRIPT:alert(1))",
    # Only a click runs these.
    "click": "<p onclick=\"alert('click')\">点击</p>",
    "form-offsite": (
        '<form action="https://example.com/login" method="post"><input type="password" name="pw">'
        "<button>登录</button></form>"
    ),
    "form-to-itself": '<form><input name="q" value="x"><button>搜索</button></form>',
    "plaintext": "<p>a</p><plaintext>the rest of the page is text",
    # Hexo's own rewriting: a fenced block (highlight.js), the excerpt marker (the index
    # page shows what is before it), and an external link (target/rel added on the page).
    "fence": "<p>前</p>\n```\n<b>code</b>\n```\n<p>后</p>",
    "excerpt": '<p>摘要 <a href="https://finance.sina.com.cn/">新浪</a></p>\n<!-- more -->\n<p>全文之后</p>',
    "external-link-split": (
        "<p><img title=\"<a href='https://example.com/'> <img src=x onerror=alert('split')>\" src=\"/x.png\"></p>"
    ),
}


def post_text(title: str, body: str) -> str:
    """The crawler's post format, byte for byte (UTF-8, `\\n`, 12 trailing spaces)."""
    body = body.replace("{", "&#123;").replace("}", "&#125;")
    return (
        f"\n---\ntitle: '{title}'\ncategories: \n - 金融\n - 新浪财经\n - 新浪财经－国內\n"
        "author: 新浪财经\ncomments: false\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n---\n\n"
        f"<div>   \n{body}  \n</div>\n            "
    )


def write_posts(posts_dir: Path, bodies: dict[str, str]) -> None:
    folder = posts_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (folder / f"{name}.md").write_bytes(post_text(name, body).encode("utf-8"))


@dataclass
class Site:
    posts: dict[str, RenderedPost]  # by post name
    audits: dict[str, PageAudit]  # by post name
    indexes: dict[str, IndexPage]  # by post name: the index page that shows it
    index_audits: dict[str, PageAudit]  # by index page path
    public: Path
    screenshot: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    require_blog_tools()
    work = tmp_path_factory.mktemp("blog")
    write_posts(work / "posts", BODIES)
    # One post per index page: each index page's audit is about one post.
    built = build_site(work / "posts", work / "public", per_page=1)
    assert built.unpublished == ()
    posts = {Path(post.source).stem: post for post in built.posts}
    assert sorted(posts) == sorted(BODIES)
    assert all(post.source == f"{FOLDER.as_posix()}/{name}.md" for name, post in posts.items())
    indexes = {name: built.index_of(post.source) for name, post in posts.items()}
    png = work / SCREENSHOT
    with serve(work / "public") as base_url:
        pages = [post.path for post in posts.values()] + [page.path for page in built.indexes]
        audits = audit_pages(base_url, pages, ".article-entry", screenshots={posts[CLEAN].path: png})
    return Site(
        posts,
        {name: audits[post.path] for name, post in posts.items()},
        indexes,
        {page.path: audits[page.path] for page in built.indexes},
        work / "public",
        png,
    )


def test_rendered_posts(site: Site) -> None:
    post = site.posts[CLEAN]
    assert post.title == CLEAN
    assert post.path == f"2022/01/24/{FOLDER.as_posix()}/{CLEAN}/index.html"
    assert "{清洁}" not in post.content and "&#123;清洁&#125;" in post.content
    assert "新浪财经讯" in post.content


def test_clean_post_is_inert(site: Site) -> None:
    for audit in (site.audits[CLEAN], site.index_audits[site.indexes[CLEAN].path]):
        assert audit.problems() == []
        assert (audit.dialogs, audit.navigations, audit.frames, audit.dom_findings) == ([], [], 0, [])
        # The theme's Fork Awesome stylesheet is the only request off the server (blocked).
        assert audit.unexpected_offsite_requests == []
        assert audit.offsite_requests == ["https://cdn.jsdelivr.net/npm/fork-awesome@1.2.0/css/fork-awesome.min.css"]
        # The article's link was clicked: it asked for its own URL, in a new window
        # (Hexo's external-link filter added target="_blank"), which was blocked.
        assert any(line.endswith("document request https://finance.sina.com.cn/") for line in audit.followed), (
            audit.followed
        )


def test_screenshot(site: Site) -> None:
    data = site.screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_onerror_runs(site: Site) -> None:
    audit = site.audits["onerror"]
    assert audit.dialogs == ["alert: 1"]
    assert "img[onerror]" in audit.dom_findings


def test_iframe_srcdoc_is_a_frame(site: Site) -> None:
    audit = site.audits["iframe-srcdoc"]
    assert audit.frames == 1
    assert audit.dom_findings == ["iframe", "iframe[srcdoc]"]
    assert audit.dialogs == []


def test_javascript_link_found_in_dom_and_clicked(site: Site) -> None:
    audit = site.audits["javascript-link"]
    assert audit.dom_findings == ["a[href=javascript:...]"]
    # The click runs it; it navigates nowhere.
    assert (audit.dialogs, audit.navigations, audit.frames) == (["alert: 1"], [], 0)


def test_meta_refresh_navigates(site: Site) -> None:
    audit = site.audits["meta-refresh"]
    assert len(audit.navigations) == 1
    assert re.fullmatch(r"main frame document request http://127\.0\.0\.1:\d+/x", audit.navigations[0])
    assert audit.dom_findings == ["meta"]


def test_fragment_change_after_load(site: Site) -> None:
    # A script's hash change loads nothing (the same document; landscape's fancybox sets
    # one after an image is clicked): kept as a fragment, not a navigation. What ran the
    # script is still a problem.
    audit = site.audits["hash-change"]
    assert audit.fragments == [f"{audit.url}#moved"]
    assert audit.navigations == []
    assert audit.dom_findings == ["details[ontoggle]"]
    assert audit.problems()


@pytest.mark.parametrize(
    ("name", "dialog"),
    [("hover", "alert: hover"), ("focus", "alert: focus"), ("svg-animate", "alert: svg"), ("details", "alert: toggle")],
)
def test_handlers_that_need_the_reader_fire(site: Site, name: str, dialog: str) -> None:
    audit = site.audits[name]
    assert dialog in audit.dialogs
    assert any(re.search(r"\[on\w+\]$", finding) for finding in audit.dom_findings), audit.dom_findings


def test_theme_script_makes_alt_text_live(site: Site) -> None:
    audit = site.audits["theme-caption"]
    assert audit.dialogs == ["alert: alt"]
    assert "img[onerror]" in audit.dom_findings  # the caption landscape inserted


def test_template_and_mathml_contents_audited(site: Site) -> None:
    audit = site.audits["template"]
    assert audit.dialogs == []  # template content is inert
    assert audit.dom_findings == ["template > img[onerror]", "math > mi[xlink:href=javascript:...]"]


def test_shadow_roots_audited(site: Site) -> None:
    audit = site.audits["shadow"]
    assert audit.dialogs == ["alert: open"]
    assert audit.dom_findings == [
        "div #shadow-root > img[onerror]",
        "p > #shadow-root(closed) (anywhere in the page)",
    ]


def test_offsite_frame_blocked_and_recorded(site: Site) -> None:
    audit = site.audits["offsite-frame"]
    assert audit.frames == 1
    assert audit.navigations == ["child frame document request https://example.com/frame"]
    assert audit.unexpected_offsite_requests == ["https://example.com/frame"]
    assert audit.dom_findings == ["iframe"]


def test_markdown_javascript_links(site: Site) -> None:
    post = site.posts["markdown-link"]
    assert '<a href="javascript:alert(1)">x</a>' in post.content
    assert site.audits["markdown-link"].dom_findings == ["a[href=javascript:...]", "a[href=javascript:...]"]
    assert site.audits["markdown-link"].dialogs == ["alert: 1", "alert: 1"]


def test_click_runs_onclick(site: Site) -> None:
    for audit in (site.audits["click"], site.index_audits[site.indexes["click"].path]):
        assert audit.dialogs == ["alert: click"]
        assert audit.dom_findings == ["p[onclick]"]


def test_form_posting_offsite_is_caught(site: Site) -> None:
    audit = site.audits["form-offsite"]
    assert audit.dom_findings == ["form[action]"]
    assert audit.navigations == ["click: main frame document request https://example.com/login"]
    assert audit.unexpected_offsite_requests == ["https://example.com/login"]


def test_form_without_action_submits_to_the_page_itself(site: Site) -> None:
    audit = site.audits["form-to-itself"]
    assert audit.problems() == []
    assert audit.followed == [f"click: main frame document request {audit.url}?q=x"]


def test_plaintext_is_a_finding(site: Site) -> None:
    assert site.audits["plaintext"].dom_findings == ["plaintext"]


def test_fences_are_highlighted(site: Site) -> None:
    """Hexo 7's default: a fenced block becomes highlight.js's <figure>, its content escaped."""
    content = site.posts["fence"].content
    assert count_code_blocks(content) == 1
    assert '<figure class="highlight plaintext">' in content and "&lt;b&gt;code&lt;/b&gt;" in content


def test_external_links_get_target_on_the_page_only(site: Site) -> None:
    """external_link at field `site`: post.content keeps the link, every generated page
    (the post's and the index's) has target/rel added."""
    post = site.posts["excerpt"]
    assert '<a href="https://finance.sina.com.cn/">' in post.content
    page = (site.public / post.path).read_text(encoding="utf-8")
    assert '<a target="_blank" rel="noopener" href="https://finance.sina.com.cn/">新浪</a>' in page
    index = (site.public / site.indexes["excerpt"].path).read_text(encoding="utf-8")
    assert '<a target="_blank" rel="noopener" href="https://finance.sina.com.cn/">新浪</a>' in index


def test_index_pages_show_excerpts(site: Site) -> None:
    page = site.indexes["excerpt"]
    assert page.sources == (site.posts["excerpt"].source,)
    (shown,) = page_bodies((site.public / page.path).read_text(encoding="utf-8"))
    assert "摘要" in shown and "全文之后" not in shown and "Read More" in shown
    post_page = (site.public / site.posts["excerpt"].path).read_text(encoding="utf-8")
    assert '<span id="more"></span>' in post_page and "全文之后" in post_page
    # Every post is on exactly one index page (one per page here).
    shown_sources = [source for index in site.index_audits for source in _index(site, index).sources]
    assert sorted(shown_sources) == sorted(post.source for post in site.posts.values())
    assert set(site.index_audits) == {"index.html", *(f"page/{n}/index.html" for n in range(2, len(BODIES) + 1))}


def _index(site: Site, path: str) -> IndexPage:
    return next(page for page in site.indexes.values() if page.path == path)


def test_site_filter_splits_an_attribute_open(site: Site) -> None:
    """The reason the site-level filter is on: it inserts quotes inside a title."""
    assert site.audits["external-link-split"].dialogs == ["alert: split"]
    assert site.index_audits[site.indexes["external-link-split"].path].dialogs == ["alert: split"]


def test_post_pages_found_by_walking_the_site(site: Site) -> None:
    assert published_post_pages(site.public) == sorted(post.path for post in site.posts.values())


def test_trees_compare_what_hexo_rendered_with_body(site: Site) -> None:
    clean = site.posts[CLEAN]
    body = post_body(post_text(CLEAN, BODIES[CLEAN]))
    assert body == BODIES[CLEAN]
    assert tree_differences(body_tree(body), rendered_body_tree(clean.content)) == []
    (shown,) = page_body_trees((site.public / clean.path).read_text(encoding="utf-8"))
    assert tree_differences(body_tree(body), shown)  # target/rel added …
    assert tree_differences(body_tree(body), shown, link_attributes_ok=True) == []  # … only
    # Marked makes the Markdown after a blank line into other elements.
    markdown = post_body(post_text("m", BODIES["markdown-link"]))
    found = tree_differences(body_tree(markdown), rendered_body_tree(site.posts["markdown-link"].content))
    assert found and "<p>" in found[0]


def test_tree_normalisation() -> None:
    # Whitespace-only text is no node (but in pre), the wrapper's edges are trimmed.
    assert body_tree(" <p>a</p>\n <p>b </p> ") == (("p", (), (("#text", "a"),)), ("p", (), (("#text", "b "),)))
    assert body_tree("<pre>\n\n x</pre>") == (("pre", (), (("#text", "\n x"),)),)
    # No-quirks: a <table> closes an open <p>.
    assert [node[0] for node in body_tree("<p><table></table>")] == ["p", "table"]
    assert tree_differences(
        body_tree('<a href="/x">x</a>'), body_tree('<a target="_blank" href="/x">x</a>'), link_attributes_ok=True
    )
    assert (
        tree_differences(
            body_tree('<a href="http://x/">x</a>'),
            body_tree('<a target="_blank" rel="noopener" href="http://x/">x</a>'),
            link_attributes_ok=True,
        )
        == []
    )
    assert tree_differences(body_tree("<template><b>x</b></template>"), body_tree("<template><i>x</i></template>"))


def test_count_code_blocks(site: Site) -> None:
    assert count_code_blocks(site.posts["code-block"].content) == 1
    assert "<pre><code>缩进四格的一行\n</code></pre>" in site.posts["code-block"].content
    assert count_code_blocks(site.posts[CLEAN].content) == 0
    assert count_code_blocks('<pre><code class="language-js">x</code></pre><pre>y</pre>') == 1
    assert count_code_blocks('<figure class="highlight plaintext"><table></table></figure>') == 1


def test_marked_sanitize_url_is_case_sensitive(tmp_path: Path) -> None:
    """hexo-renderer-marked's sanitizeUrl blanks `javascript:` Markdown links, but only
    lower-case ones, and never raw HTML: it is no defence for the crawler's bodies."""
    require_blog_tools()
    write_posts(tmp_path / "posts", {"markdown-link": BODIES["markdown-link"]})
    (post,) = render_site(tmp_path / "posts", tmp_path / "public", sanitize_url=True)
    assert '<a href="">x</a>' in post.content
    assert '<a href="JAVASCRIPT:alert(1)">y</a>' in post.content


def test_unpublished_post_is_named(tmp_path: Path) -> None:
    """Hexo never publishes a file whose name starts with `_`: build_site names it,
    render_site fails naming it."""
    require_blog_tools()
    write_posts(tmp_path / "posts", {"good": "<p>ok</p>", "_hidden": "<p>never</p>"})
    built = build_site(tmp_path / "posts", tmp_path / "public")
    assert [post.source for post in built.posts] == [f"{FOLDER.as_posix()}/good.md"]
    assert built.unpublished == (
        (f"{FOLDER.as_posix()}/_hidden.md", 'its name starts with "_": Hexo never loads such a file as a post'),
    )
    assert len(published_post_pages(tmp_path / "public")) == 1
    with pytest.raises(RuntimeError, match=r"(?s)written but not published.*_hidden\.md"):
        render_site(tmp_path / "posts", tmp_path / "public2")


def test_render_site_reports_hexo_errors(tmp_path: Path) -> None:
    require_blog_tools()
    write_posts(tmp_path / "posts", {"good": "<p>ok</p>"})
    (tmp_path / "posts" / FOLDER / "bad.md").write_text("---\ntitle: 'unterminated\n---\nbody\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"(?s)Hexo failed to render.*bad\.md"):
        render_site(tmp_path / "posts", tmp_path / "public")


def test_only_a_fragment_change_is_the_same_document() -> None:
    from tests.support.blog import _same_document

    assert _same_document("http://127.0.0.1:1/a/index.html#gallery-2", "http://127.0.0.1:1/a/index.html")
    assert not _same_document("http://127.0.0.1:1/b/index.html#gallery-2", "http://127.0.0.1:1/a/index.html")
    assert not _same_document("http://127.0.0.1:1/a/index.html", "http://127.0.0.1:1/a/index.html")
    assert not _same_document("https://evil.example/a/index.html#x", "http://127.0.0.1:1/a/index.html")
