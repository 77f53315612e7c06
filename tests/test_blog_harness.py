"""Self-test of the reader's-view harness (tests/support/blog.py): every detector fires.

Hand-made posts in the crawler's exact post format (written here as files, not by the
crawler) go through real Hexo 7 + the landscape theme (tests/hexo/render_site.js), are
served on 127.0.0.1 and opened in headless Chromium. Each bad post must be caught by
the right detector and the clean one by none.

Needs Node.js, ``npm ci --prefix tests/hexo`` and Debian's chromium; without them these
tests fail, never skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.blog import (
    PageAudit,
    RenderedPost,
    audit_pages,
    count_code_blocks,
    render_site,
    require_blog_tools,
    serve,
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
    screenshot: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    require_blog_tools()
    work = tmp_path_factory.mktemp("blog")
    write_posts(work / "posts", BODIES)
    rendered = render_site(work / "posts", work / "public")
    posts = {Path(post.source).stem: post for post in rendered}
    assert sorted(posts) == sorted(BODIES)
    assert all(post.source == f"{FOLDER.as_posix()}/{name}.md" for name, post in posts.items())
    png = work / SCREENSHOT
    with serve(work / "public") as base_url:
        audits = audit_pages(
            base_url, [post.path for post in posts.values()], ".article-entry", screenshots={posts[CLEAN].path: png}
        )
    return Site(posts, {name: audits[post.path] for name, post in posts.items()}, png)


def test_rendered_posts(site: Site) -> None:
    post = site.posts[CLEAN]
    assert post.title == CLEAN
    assert post.path == f"2022/01/24/{FOLDER.as_posix()}/{CLEAN}/index.html"
    assert "{清洁}" not in post.content and "&#123;清洁&#125;" in post.content
    assert "新浪财经讯" in post.content


def test_clean_post_is_inert(site: Site) -> None:
    audit = site.audits[CLEAN]
    assert audit.problems() == []
    assert (audit.dialogs, audit.navigations, audit.frames, audit.dom_findings) == ([], [], 0, [])
    # The theme's Fork Awesome stylesheet is the only request off the server (blocked).
    assert audit.unexpected_offsite_requests == []
    assert audit.offsite_requests == ["https://cdn.jsdelivr.net/npm/fork-awesome@1.2.0/css/fork-awesome.min.css"]


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


def test_javascript_link_found_in_dom(site: Site) -> None:
    audit = site.audits["javascript-link"]
    assert audit.dom_findings == ["a[href=javascript:...]"]
    # Nothing clicks it: no dialog, no navigation.
    assert (audit.dialogs, audit.navigations, audit.frames) == ([], [], 0)


def test_meta_refresh_navigates(site: Site) -> None:
    audit = site.audits["meta-refresh"]
    assert len(audit.navigations) == 1
    assert re.fullmatch(r"main frame document request http://127\.0\.0\.1:\d+/x", audit.navigations[0])
    assert audit.dom_findings == ["meta"]


def test_navigation_after_load(site: Site) -> None:
    audit = site.audits["hash-change"]
    assert audit.navigations == [f"main frame navigated to {audit.url}#moved"]
    assert audit.dom_findings == ["details[ontoggle]"]


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


def test_render_site_reports_hexo_errors(tmp_path: Path) -> None:
    require_blog_tools()
    write_posts(tmp_path / "posts", {"good": "<p>ok</p>"})
    (tmp_path / "posts" / FOLDER / "bad.md").write_text("---\ntitle: 'unterminated\n---\nbody\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"(?s)Hexo failed to render.*bad\.md"):
        render_site(tmp_path / "posts", tmp_path / "public")
