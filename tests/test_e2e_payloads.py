"""Attacks on the reader, the way a blog publishes a post: every payload is put in an
article page, crawled end to end by the real spider, rendered by Hexo 7 with its default
theme (landscape), served on 127.0.0.1 and opened in headless Chromium, which hovers and
focuses everything (tests/support/blog.py).  Nothing may run, navigate, open a frame or
load a document, in either body style (post format §3 rules 5 and 6).

A control shows that each payload is live: the same bodies with no rule but the parse
and the removal of scripts, written by a namespace-blind serialiser (lexbor's; the
crawler's was namespace-blind before rule 6), are each caught by the audit, and most of
them run.

Needs Node.js, ``npm ci --prefix tests/hexo`` and Debian's chromium; fails, never skips.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.hexo.body import BodyStyle, container_inner_html
from crawler.hexo.paths import post_file_name, post_relative_path
from crawler.hexo.post import PostContent, render_post_bytes
from tests.conftest import corpus_case
from tests.support.blog import (
    PageAudit,
    RenderedPost,
    audit_pages,
    render_site,
    require_blog_tools,
    serve,
)
from tests.support.crawl import files_under, run_crawl
from tests.support.replay_proxy import ReplayProxy, RollApi

pytestmark = [pytest.mark.e2e, pytest.mark.hexo, pytest.mark.browser]

SEED = corpus_case("seed-haiguan")
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")

# name -> what a hostile (or compromised) article page holds in its body container.
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
    # Links that run script when followed, plain and obfuscated.
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
}


def _is_sina(url: str) -> bool:
    """The article's own images and links are on Sina; loading those is not an attack."""
    host = urlsplit(url).hostname or ""
    return host.endswith((".sina.com.cn", ".sinaimg.cn"))


# As on a real Sina page, the body starts long after the first 4,096 characters, where
# Scrapy looks for a meta refresh to follow (the crawler's own handling of one is not
# what this module tests).
_HEAD = '<meta charset="utf-8"><title>新浪财经</title><style>' + "p{margin:0}" * 500 + "</style>"


def _page(payload: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head>{_HEAD}</head><body>"
        f'<div id="artibody"><p>正文开始。</p>{payload}<p>正文结束。</p></div></body></html>'
    ).encode()


def _items() -> dict[str, dict]:
    items = {}
    for number, name in enumerate(PAYLOADS):
        publishid = f"xsspayl{number:07d}"
        item = copy.deepcopy(SEED.item)
        url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
        ctime = str(1790000000 - number * 60)
        item.update(url=url, title=f"攻击 {name}", ctime=ctime, intime=ctime, mtime=ctime, docid=f"comos:{publishid}")
        items[name] = item
    return items


@dataclass
class Published:
    posts: dict[str, bytes]  # payload name -> the post's bytes
    rendered: dict[str, RenderedPost]
    audits: dict[str, PageAudit]


def _publish(posts_dir: Path, out: Path, names: dict[str, str]) -> tuple[dict[str, RenderedPost], dict[str, PageAudit]]:
    """Render a folder of posts with Hexo and audit every page; keyed by payload name
    (``names``: post path relative to posts_dir -> payload name)."""
    rendered = {names[post.source]: post for post in render_site(posts_dir, out)}
    assert sorted(rendered) == sorted(PAYLOADS)
    with serve(out) as base_url:
        audits = audit_pages(base_url, [post.path for post in rendered.values()])
    return rendered, {name: audits[post.path] for name, post in rendered.items()}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[BodyStyle, Published]:
    """The payload pages crawled end to end in both body styles, rendered and audited."""
    require_blog_tools()
    items = _items()
    names = {post_relative_path(CATEGORIES, post_file_name(item["title"], "")): name for name, item in items.items()}
    published: dict[BodyStyle, Published] = {}
    with ReplayProxy() as proxy:
        for name, item in items.items():
            proxy.add(item["url"], _page(PAYLOADS[name]))
        RollApi({("155", "1686"): list(items.values())}).install(proxy)
        for style in ("clean", "sample"):
            work = tmp_path_factory.mktemp(f"payloads-{style}")
            result = run_crawl(proxy.url, work, "sections=china", settings={"HEXO_BODY": style})
            assert result.returncode == 0, result.log[-3000:]
            assert result.stat("sina/posts/new") == len(PAYLOADS), result.log[-3000:]
            files = files_under(work / "posts")
            rendered, audits = _publish(work / "posts", work / "public", names)
            published[style] = Published({names[path]: data for path, data in files.items()}, rendered, audits)
    return published


@pytest.mark.parametrize("style", ["clean", "sample"])
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_payload_is_inert_in_the_blog(crawled: dict[BodyStyle, Published], style: BodyStyle, name: str) -> None:
    published = crawled[style]
    audit = published.audits[name]
    assert audit.problems(offsite_ok=_is_sina) == [], published.posts[name].decode("utf-8")
    assert "正文开始。" in published.rendered[name].content and "正文结束。" in published.rendered[name].content


# --- the control: the payloads are live without rules 5 and 6 --------------------------


def _unprotected_body(payload: str) -> str:
    """The body container's HTML with rules 1 and 2 only (parsed, scripts removed), written
    back by lexbor's namespace-blind serialiser: no handler, URL or element removed."""
    page = LexborHTMLParser(_page(payload).decode(), scripting=True)
    container = page.css_first("#artibody")
    assert container is not None
    body = LexborHTMLParser(container_inner_html(container), scripting=True).body
    assert body is not None
    for script in body.css("script"):
        script.decompose()
    return body.inner_html or ""


# A bypass of sanitisers that parse twice (DOMPurify): this pipeline never makes it live,
# so it is only a regression case for the table above.
NOT_LIVE_EVEN_UNPROTECTED = frozenset({"mglyph-table-comment"})


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageAudit]:
    require_blog_tools()
    work = tmp_path_factory.mktemp("payloads-control")
    names = {}
    for name, item in _items().items():
        post = PostContent(
            title=item["title"],
            categories=CATEGORIES,
            author="新浪财经",
            date="Mon, 28 Sep 2026 07:20:25 GMT",
            headimg=None,
            body=_unprotected_body(PAYLOADS[name]),
        )
        path = post_relative_path(CATEGORIES, post_file_name(item["title"], ""))
        (work / "posts" / path).parent.mkdir(parents=True, exist_ok=True)
        (work / "posts" / path).write_bytes(render_post_bytes(post))
        names[path] = name
    return _publish(work / "posts", work / "public", names)[1]


@pytest.mark.parametrize("name", [name for name in PAYLOADS if name not in NOT_LIVE_EVEN_UNPROTECTED])
def test_payload_is_live_without_the_rules(control: dict[str, PageAudit], name: str) -> None:
    assert control[name].problems(offsite_ok=_is_sina), f"{name}: the audit sees nothing wrong even unprotected"


def test_most_payloads_run_without_the_rules(control: dict[str, PageAudit]) -> None:
    ran = sorted(name for name, audit in control.items() if audit.dialogs)
    print(f"\nunprotected: {len(ran)} of {len(PAYLOADS)} payloads ran script: {', '.join(ran)}")
    assert len(ran) >= len(PAYLOADS) // 2, ran
    for family in ("math-style", "math-mtext-mglyph-style", "math-noscript", "math-xmp", "math-noembed"):
        assert family in ran, f"{family} should run when written back namespace-blind"
