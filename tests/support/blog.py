"""Build a blog from posts the way a Hexo site is built and audit its pages in a real browser.

``build_site`` runs tests/hexo/render_site.js: real Hexo 7 ``generate`` with a new site's
filters (external links rewritten over every page, fenced code highlighted), the
landscape theme and the index generator, turns a folder of posts into a static site: the
post pages and the index pages, which show the posts as excerpts. ``serve`` serves that
site on 127.0.0.1 and ``audit_pages`` opens its pages in headless Chromium (Python
Playwright, Debian's /usr/bin/chromium, the crawler's CHROMIUM_ARGS), which focuses,
hovers and clicks everything in each post body on the page and records what a post could
make the browser do: dialogs, navigations, frames, requests to other hosts, and markup that
can run script or load a document (see ``PageAudit``).

``post_body`` and ``body_tree`` give what a property test compares: BODY as the post
holds it and the tree an HTML5 parser in no-quirks mode makes of it, against the tree of
what Hexo rendered (``RenderedPost.content``) and what the page shows (``page_bodies``).

Install: ``npm ci --prefix tests/hexo`` (see tests/hexo/README.md) and Debian's chromium.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import difflib
import functools
import http.server
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import ViewportSize, async_playwright
from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.browser import CHROMIUM_ARGS
from tests.support.hexo import HEXO_DIR, hexo_installed, not_installed_message, run_hexo_script

RENDER_SITE_JS = HEXO_DIR / "render_site.js"
CHROMIUM = "/usr/bin/chromium"
# What render_site.js needs in tests/hexo/node_modules.
SITE_PACKAGES = (
    "hexo",
    "hexo-generator-index",
    "hexo-renderer-marked",
    "hexo-renderer-ejs",
    "hexo-renderer-stylus",
    "hexo-theme-landscape",
)
# landscape's post body: <div class="e-content article-entry" itemprop="articleBody">,
# once on a post page and once per post (its excerpt) on an index page.
LANDSCAPE_CONTENT = ".article-entry"
# Hexo 7's posts per index page (`per_page`).
HEXO_PER_PAGE = 10
# Stylesheets every landscape 1.1.0 page links from cdn.jsdelivr.net (Fork Awesome; Source
# Code Pro only with `highlight.enable`). The audit blocks them like any other request
# off the local server; PageAudit.unexpected_offsite_requests leaves them out.
THEME_OFFSITE_REQUESTS = frozenset(
    {
        "https://cdn.jsdelivr.net/npm/fork-awesome@1.2.0/css/fork-awesome.min.css",
        "https://cdn.jsdelivr.net/npm/typeface-source-code-pro@0.0.71/index.min.css",
    }
)


# --------------------------------------------------------------------------- Hexo


@dataclass(frozen=True)
class RenderedPost:
    source: str  # path under source/_posts, forward slashes
    title: str
    path: str  # the page under the site root (and under out_dir), e.g. 2022/01/24/x/index.html
    content: str  # post.content: the body as HTML, after Nunjucks and marked

    @property
    def url_path(self) -> str:
        """``path`` percent-encoded, to join to the server's base URL."""
        return quote(self.path)


@dataclass(frozen=True)
class IndexPage:
    path: str  # index.html or page/N/index.html, under the site root
    sources: tuple[str, ...]  # the posts it shows (as excerpts), newest first


@dataclass(frozen=True)
class Site:
    """What ``hexo generate`` made of a folder of posts."""

    posts: tuple[RenderedPost, ...]  # every post Hexo loaded, sorted by source
    indexes: tuple[IndexPage, ...]  # the index pages, in page order
    unpublished: tuple[tuple[str, str], ...]  # (source, why) of each written post with no page

    def index_of(self, source: str) -> IndexPage:
        """The index page that shows this post."""
        for page in self.indexes:
            if source in page.sources:
                return page
        raise KeyError(f"no index page shows {source}")


def site_installed() -> bool:
    return hexo_installed(SITE_PACKAGES)


def site_not_installed_message() -> str:
    return not_installed_message(SITE_PACKAGES)


def build_site(
    posts_dir: Path,
    out_dir: Path,
    *,
    sanitize_url: bool = False,
    per_page: int = HEXO_PER_PAGE,
    root: str = "/",
    post_asset_folder: bool = False,
    tz: str = "UTC",
    timeout: float = 180.0,
) -> Site:
    """``hexo generate`` over every ``*.md`` under ``posts_dir``: a landscape site in
    ``out_dir`` (missing or empty) with its post pages and index pages.

    ``per_page``: posts per index page (0: all on index.html). ``root``: the sub-path the
    site is served under (``/x/``; the pages are still written at the top of ``out_dir``).
    ``sanitize_url`` sets hexo-renderer-marked's ``sanitizeUrl``. ``post_asset_folder``
    turns Hexo's post asset folders on (every file under ``posts_dir`` is copied, and a
    post's folder is published beside its page: HEXO_IMAGES=local). ``tz``: the time zone
    Hexo runs in (TZ), which gives the dates of the permalinks. A post Hexo did not
    publish is listed in ``Site.unpublished``. Raises RuntimeError (with Hexo's stderr)
    when Hexo fails, runs with other filters than a new site's, or is not installed.
    """
    if not site_installed():
        raise RuntimeError(site_not_installed_message())
    args = [str(Path(posts_dir).resolve()), str(Path(out_dir).resolve()), "--per-page", str(per_page)]
    args += ["--root", root]
    if sanitize_url:
        args.append("--marked-sanitize-url")
    if post_asset_folder:
        args.append("--post-asset-folder")
    records = run_hexo_script(RENDER_SITE_JS, args, f"render {posts_dir}", timeout, tz=tz)
    posts = tuple(
        RenderedPost(r["source"], r["title"], r["path"], r["content"]) for r in records if r["kind"] == "post"
    )
    indexes = tuple(IndexPage(r["path"], tuple(r["sources"])) for r in records if r["kind"] == "index")
    unpublished = tuple((r["source"], r["reason"]) for r in records if r["kind"] == "unpublished")
    return Site(posts, indexes, unpublished)


def render_site(
    posts_dir: Path, out_dir: Path, *, sanitize_url: bool = False, timeout: float = 180.0
) -> list[RenderedPost]:
    """``build_site`` for callers that want the post pages: one RenderedPost per post,
    sorted by source. RuntimeError, naming them, when a post was not published."""
    site = build_site(posts_dir, out_dir, sanitize_url=sanitize_url, timeout=timeout)
    if site.unpublished:
        lines = "\n".join(f"{source}: {why}" for source, why in site.unpublished)
        raise RuntimeError(f"Hexo failed to render {posts_dir}: written but not published:\n{lines}")
    return list(site.posts)


# A post's page under the site root: permalink :year/:month/:day/:title/.
_POST_PAGE = re.compile(r"\d{4}/\d{2}/\d{2}/.+/index\.html")


def published_post_pages(out_dir: Path) -> list[str]:
    """The post pages a generated site holds, found by walking its files (not asked of
    Hexo): ``YYYY/MM/DD/…/index.html`` under ``out_dir``, sorted."""
    root = Path(out_dir)
    pages = (path.relative_to(root).as_posix() for path in root.rglob("index.html"))
    return sorted(page for page in pages if _POST_PAGE.fullmatch(page))


def posts_written(posts_dir: Path) -> list[str]:
    """The posts under a folder as Hexo's source/_posts gets them: every ``*.md``."""
    root = Path(posts_dir)
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*.md") if path.is_file())


# `<pre><code>` / `<pre><code class="language-x">`: what marked makes of an indented (or,
# with highlighting off, a fenced) code block. `<figure class="highlight …">`: what Hexo's
# highlight.js/prism filter makes of a fenced block (``` or ~~~) before marked runs.
_CODE_BLOCK = re.compile(
    r"<pre\b[^>]*>\s*<code\b[^>]*>|<figure\s+class=\"highlight(?:\s[^\"]*)?\"",
    re.IGNORECASE,
)


def count_code_blocks(html: str) -> int:
    """How many code blocks a rendered body has: ``<pre><code…>`` (marked) plus
    ``<figure class="highlight …">`` (Hexo's code highlighting of fenced blocks)."""
    return len(_CODE_BLOCK.findall(html))


# --------------------------------------------------------------------------- trees
#
# The property "Hexo publishes BODY as the tree BODY is": both sides parsed by one HTML5
# parser in no-quirks mode, as the reader's browser parses the page, and compared as a
# normalised tree. A node is ("#text", text), ("#comment", data) or
# (name, ((attribute, value), ...), children); a <template>'s content is its children.
# Whitespace: a text node that is only ASCII whitespace (space, TAB, LF, FF, CR) renders
# nothing outside `pre`, `textarea`, `listing` and raw text, so it is left out of the
# tree there; every other text node is compared exactly, but that the post's own wrapper
# whitespace (`<div>   \n` before BODY, `  \n</div>` after it) is trimmed from the first
# and last text of the body.
# Braces: BODY's `{` and `}` are written `&#123;` and `&#125;` in the post (§1). A parser
# reads those back as braces in text and attribute values, but not in raw text (`<style>`)
# or comments, where the reader gets the references themselves (the CSS is dead on
# purpose). So the side to compare with Hexo's is the tree of the post's bytes as written
# (``post_body(post, braces=False)``): BODY's tree with braces turned back wherever a
# parser turns them back.

POST_BODY_START = "<div>   \n"
POST_BODY_END = "  \n</div>"
_WHITESPACE_KEPT = frozenset({"pre", "textarea", "listing", "plaintext", "style", "script", "xmp", "iframe"})
_WHITESPACE_KEPT |= {"noembed", "noframes", "noscript"}
_ASCII_WHITESPACE = " \t\n\f\r"

Tree = tuple[Any, ...]


def post_body(post: str, *, braces: bool = True) -> str:
    """BODY: the text between the post's ``<div>   \\n`` and ``  \\n</div>``, with the
    post format's ``&#123;``/``&#125;`` turned back into braces (``braces=False``: as the
    post holds it)."""
    start = post.index(POST_BODY_START) + len(POST_BODY_START)
    end = post.rindex(POST_BODY_END)
    body = post[start:end]
    return body.replace("&#123;", "{").replace("&#125;", "}") if braces else body


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def markdown_free_block(body: str) -> str:
    """The part of BODY that Hexo's Markdown renderer passes through as one raw-HTML block:
    all of it, or what comes before its first blank line.  After a blank line (the
    ``sample`` style keeps the 2022 chain's; §3 rule 8 deletes them in ``clean``) marked
    reads Markdown: an indented line is a code block, text becomes a paragraph."""
    blank = _BLANK_LINE.search(body)
    return body if blank is None else body[: blank.start()]


def _same_document(url: str, page_url: str) -> bool:
    """``url`` is ``page_url`` but for its fragment."""
    return url.split("#", 1)[0] == page_url.split("#", 1)[0] and "#" in url


def _template_content(template: LexborNode) -> LexborNode | None:
    for fragment in template.template_fragments():
        if fragment.parent is not None and fragment.parent.mem_id == template.mem_id:
            return fragment
    return None


def _comment_data(comment: LexborNode) -> str:
    """A comment's data as parsed (``comment_content`` strips its whitespace)."""
    written = comment.html or ""
    assert written.startswith("<!--") and written.endswith("-->"), written
    return written[4:-3]


def _tree_children(node: LexborNode, keep_whitespace: bool) -> list[Tree]:
    out: list[Tree] = []
    child = node.first_child
    while child is not None:
        if child.is_text_node:
            text = child.text_content or ""
            if keep_whitespace or text.strip(_ASCII_WHITESPACE):
                out.append(("#text", text))
        elif child.is_comment_node:
            out.append(("#comment", _comment_data(child)))
        elif child.is_element_node:
            name = child.tag or ""
            attributes = tuple((key, value or "") for key, value in child.attributes.items())
            inner = _template_content(child) if name == "template" else child
            kept = keep_whitespace or name in _WHITESPACE_KEPT
            out.append((name, attributes, tuple(_tree_children(inner, kept)) if inner is not None else ()))
        child = child.next
    return out


def _trim_edges(children: list[Tree]) -> tuple[Tree, ...]:
    """The body's first and last text less the post wrapper's whitespace."""
    trimmed = list(children)
    if trimmed and trimmed[0][0] == "#text":
        trimmed[0] = ("#text", trimmed[0][1].lstrip(_ASCII_WHITESPACE))
    if trimmed and trimmed[-1][0] == "#text":
        trimmed[-1] = ("#text", trimmed[-1][1].rstrip(_ASCII_WHITESPACE))
    return tuple(node for node in trimmed if node != ("#text", ""))


def body_tree(html: str) -> tuple[Tree, ...]:
    """The normalised tree of the children of ``<div>`` + html + ``</div>``, parsed as
    ``<!DOCTYPE html><body><div>`` + html + ``</div>`` (no-quirks, as in the blog)."""
    parser = LexborHTMLParser(f"<!DOCTYPE html><body><div>{html}</div>")
    body = parser.body
    assert body is not None
    container = body.child
    assert container is not None and container.tag == "div"
    return _trim_edges(_tree_children(container, keep_whitespace=False))


def rendered_body_tree(content: str) -> tuple[Tree, ...]:
    """The normalised tree of the post's ``<div>`` in what Hexo rendered for it
    (``post.content``), parsed as ``body_tree`` parses BODY (see ``_wrapper_tree``)."""
    parser = LexborHTMLParser(f"<!DOCTYPE html><body><div>{content}</div>")
    body = parser.body
    assert body is not None
    container = body.child
    assert container is not None
    return _wrapper_tree(container)


def _wrapper_tree(container: LexborNode) -> tuple[Tree, ...]:
    """The tree of the post's ``<div>`` wrapper, which must be the one element in
    ``container`` (with whitespace only beside it); else the whole of ``container``,
    marked, so that it differs from any body."""
    top = _tree_children(container, keep_whitespace=False)
    if len(top) == 1 and top[0][0] == "div" and top[0][1] == ():
        wrapper = container.first_child
        while wrapper is not None and not wrapper.is_element_node:
            wrapper = wrapper.next
        assert wrapper is not None
        return _trim_edges(_tree_children(wrapper, keep_whitespace=False))
    return (("#not-one-wrapper-div", (), tuple(top)),)


def page_body_trees(page_html: str) -> list[tuple[Tree, ...]]:
    """The tree of the post's ``<div>`` in every post body (``.article-entry``) of a
    generated page, from the page's own parse (never serialised and parsed again)."""
    parser = LexborHTMLParser(page_html)
    return [_wrapper_tree(node) for node in parser.css(LANDSCAPE_CONTENT)]


def page_bodies(page_html: str) -> list[str]:
    """The inner HTML of every post body (``.article-entry``) on a generated page, for
    looking at (not for trees: serialising a parsed tree and parsing it again need not
    give that tree)."""
    parser = LexborHTMLParser(page_html)
    return [node.inner_html or "" for node in parser.css(LANDSCAPE_CONTENT)]


def tree_differences(
    expected: tuple[Tree, ...], actual: tuple[Tree, ...], *, link_attributes_ok: bool = False
) -> list[str]:
    """Where two normalised trees differ, one line each (empty: the same tree). With
    ``link_attributes_ok``, ``target`` and ``rel`` attributes that ``actual`` has more on
    an ``<a>`` whose ``href`` is external (http:, https: or //) are no difference: Hexo's
    external-link filter adds them."""
    found: list[str] = []
    _diff(expected, actual, link_attributes_ok, "", found)
    return found if len(found) <= 20 else [*found[:20], f"… {len(found) - 20} more"]


def _diff(expected: tuple[Tree, ...], actual: tuple[Tree, ...], links_ok: bool, where: str, found: list[str]) -> None:
    # Align the children by kind and name, then compare the pairs in depth.
    matcher = difflib.SequenceMatcher(a=[n[0] for n in expected], b=[n[0] for n in actual], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(a0, a1), range(b0, b1), strict=True):
                _diff_node(expected[i], actual[j], links_ok, f"{where}/{i}", found)
            continue
        lost = ", ".join(_show(node) for node in expected[a0:a1][:4]) or "nothing"
        made = ", ".join(_show(node) for node in actual[b0:b1][:4]) or "nothing"
        found.append(f"{where or '/'} at {a0}: {lost} expected, {made} found")


def _diff_node(want: Tree, got: Tree, links_ok: bool, here: str, found: list[str]) -> None:
    if want[0] in ("#text", "#comment"):
        if want[1] != got[1]:
            found.append(f"{here} {want[0]}: {want[1]!r} expected, {got[1]!r} found")
        return
    attributes = list(got[1])
    href = dict(want[1]).get("href", "")
    if links_ok and want[0] == "a" and re.match(r"(?i)(https?:|//)", href.strip()):
        attributes = [pair for pair in attributes if pair[0] not in ("target", "rel") or pair in want[1]]
    if tuple(attributes) != want[1]:
        found.append(f"{here} <{want[0]}>: attributes {want[1]!r} expected, {tuple(attributes)!r} found")
    _diff(want[2], got[2], links_ok, f"{here}<{want[0]}>", found)


def _show(node: Tree) -> str:
    if node[0] in ("#text", "#comment"):
        return f"{node[0]} {node[1][:80]!r}"
    return f"<{node[0]}{''.join(f' {k}={v[:40]!r}' for k, v in node[1])}>"


# --------------------------------------------------------------------------- server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser closing a connection mid-response (a page closed while a 404 or an
        # image was on its way) is not worth a traceback.
        pass


class _RecordingHandler(_QuietHandler):
    """Records each request it answers as (path, status) in ``served``."""

    served: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.served.append((self.path, int(code) if str(code).isdigit() else 0))


@contextlib.contextmanager
def serve(root: Path, served: list[tuple[str, int]] | None = None) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port, threaded, no logging) while the block
    runs; yields the base URL, ending in '/'.  ``served``: a list the server appends
    (request path, status) to for every request it answers (its access log)."""
    handler_class: type[_QuietHandler] = _QuietHandler
    if served is not None:
        handler_class = type("_Recording", (_RecordingHandler,), {"served": served})
    handler = functools.partial(handler_class, directory=str(Path(root).resolve()))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="blog-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- browser


def chromium_problem() -> str | None:
    """Why audit_pages cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)"
    return None


def require_blog_tools() -> None:
    """Fail the test (never skip it) when Hexo's site packages or Chromium are missing."""
    if not site_installed():
        pytest.fail(site_not_installed_message(), pytrace=False)
    problem = chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@dataclass
class PageAudit:
    """What one page did in the browser. A post is inert when ``problems()`` is empty."""

    path: str
    url: str
    dialogs: list[str] = field(default_factory=list)  # "alert: 1" (every dialog was dismissed)
    console: list[str] = field(default_factory=list)  # "error: ..." (kept, never a problem)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions (kept, never a problem)
    navigations: list[str] = field(default_factory=list)  # another document loaded (or tried to)
    fragments: list[str] = field(default_factory=list)  # the page's own URL with another #fragment
    # What a click asked for that a reader may ask for (blocked, never a problem): the
    # clicked link's own http(s) URL, the page itself (a form without action), a fragment.
    followed: list[str] = field(default_factory=list)
    frames: int = 0  # frames other than the main one that were ever attached
    offsite_requests: list[str] = field(default_factory=list)  # every request off the local server (blocked)
    dom_findings: list[str] = field(default_factory=list)  # markup that can run script or load a document
    errors: list[str] = field(default_factory=list)  # the audit itself failed or timed out (a problem)

    @property
    def unexpected_offsite_requests(self) -> list[str]:
        """``offsite_requests`` without the theme's own stylesheets."""
        return [url for url in self.offsite_requests if url not in THEME_OFFSITE_REQUESTS]

    def problems(self, *, offsite_ok: Callable[[str], bool] | None = None) -> list[str]:
        """Everything that makes the post not inert, one line each. An offsite request is
        one unless it is the theme's (THEME_OFFSITE_REQUESTS) or ``offsite_ok(url)`` (e.g.
        to allow the post's images on n.sinaimg.cn)."""
        found = [f"dialog {d}" for d in self.dialogs]
        found += [f"navigation {n}" for n in self.navigations]
        if self.frames:
            found.append(f"{self.frames} frame(s)")
        found += [
            f"offsite request {url}"
            for url in self.unexpected_offsite_requests
            if offsite_ok is None or not offsite_ok(url)
        ]
        found += [f"DOM {f}" for f in self.dom_findings]
        found += [f"audit error {e}" for e in self.errors]
        return found


# Runs in the page: every element in the post's container, including <template> contents
# and open shadow roots, searched for markup that runs script or loads a document.
_DOM_AUDIT_JS = r"""
(selector) => {
  const roots = Array.from(document.querySelectorAll(selector));
  if (!roots.length) return null;
  const HTML = 'http://www.w3.org/1999/xhtml';
  const SVG = 'http://www.w3.org/2000/svg';
  const MATHML = 'http://www.w3.org/1998/Math/MathML';
  const XLINK = 'http://www.w3.org/1999/xlink';
  const BAD = new Set([
    'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'meta', 'link', 'plaintext',
  ]);
  const SUBMIT_TO = new Set(['action', 'formaction']);  // a post submits nothing anywhere
  const BAD_SVG = new Set(['animate', 'animateMotion', 'animateTransform', 'set']);
  const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'poster', 'background', 'cite', 'data']);
  const SCHEME = /^(javascript|vbscript|data):/i;
  const clean = v => v.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const findings = [];

  const checkUrl = (el, name, attrName, value, prefix, seen) => {
    const v = clean(value);
    const m = SCHEME.exec(v);
    if (!m) return;
    if (attrName === 'src' && el.namespaceURI === HTML && name === 'img' && /^data:image\//i.test(v)) return;
    const finding = `${prefix}${name}[${attrName}=${m[1].toLowerCase()}:...]`;
    if (!seen.has(finding)) findings.push(finding);
    seen.add(finding);
  };

  const check = (el, prefix) => {
    const name = el.localName;
    if (BAD.has(name.toLowerCase())) findings.push(prefix + name);
    else if (el.namespaceURI === SVG && BAD_SVG.has(name)) findings.push(prefix + name);
    const seen = new Set();
    for (const attr of Array.from(el.attributes)) {
      const qname = attr.name;
      const local = attr.localName.toLowerCase();
      if (qname.toLowerCase().startsWith('on') || local.startsWith('on')) findings.push(`${prefix}${name}[${qname}]`);
      if (local === 'srcdoc') findings.push(`${prefix}${name}[${qname}]`);
      if (SUBMIT_TO.has(local) && el.namespaceURI === HTML && !SCHEME.test(clean(attr.value))) {
        findings.push(`${prefix}${name}[${qname}]`);
      }
      if (URL_ATTRS.has(local)) checkUrl(el, name, qname, attr.value, prefix, seen);
    }
    const xlinkHref = el.getAttributeNS(XLINK, 'href');
    if (xlinkHref !== null) checkUrl(el, name, 'xlink:href', xlinkHref, prefix, seen);
  };

  // ctx.specials: the <template>, <svg>, <math> and shadow roots the node is inside;
  // ctx.parent: its parent's name when that is not the last of them. A finding inside
  // one of those reads "math style > img[onerror]"; elsewhere just "img[onerror]".
  const prefixOf = ctx => (ctx.specials.length ? [...ctx.specials, ctx.parent].filter(Boolean).join(' ') + ' > ' : '');
  const isSpecial = el =>
    (el.namespaceURI === HTML && el.localName === 'template') ||
    (el.namespaceURI === SVG && el.localName === 'svg') ||
    (el.namespaceURI === MATHML && el.localName === 'math');
  const walk = (node, ctx) => {
    for (const el of Array.from(node.children)) {
      check(el, prefixOf(ctx));
      const inner = isSpecial(el)
        ? { specials: [...ctx.specials, el.localName], parent: null }
        : { specials: ctx.specials, parent: el.localName };
      walk(el, inner);
      if (el.namespaceURI === HTML && el.localName === 'template' && el.content) walk(el.content, inner);
      if (el.shadowRoot) {  // an open shadow root is no finding in itself: its content is audited
        walk(el.shadowRoot, { specials: [...ctx.specials, `${el.localName} #shadow-root`], parent: null });
      }
    }
  };
  // On an index page (several post bodies) a finding names its post: "post-<slug>: img[onerror]".
  roots.forEach((root, i) => {
    const before = findings.length;
    walk(root, { specials: [], parent: null });
    if (roots.length > 1) {
      const article = root.closest('article');
      const label = (article && article.id) || `#${i}`;
      for (let j = before; j < findings.length; j++) findings[j] = `${label}: ${findings[j]}`;
    }
  });
  return findings;
}
"""

# Put in place of %ELEMENTS% in the page scripts below: every element inside the
# containers that ``selector`` matches, shadow roots included, in document order.
_ELEMENTS_JS = """\
  const roots = Array.from(document.querySelectorAll(selector));
  const elements = [];
  const collect = node => {
    for (const el of Array.from(node.children)) {
      elements.push(el);
      collect(el);
      if (el.shadowRoot) collect(el.shadowRoot);
    }
  };
  roots.forEach(collect);
"""

# Runs in the page: focus every element in the container and send it the events a mouse
# passing over it sends (untrusted events still run on* attributes). Returns the
# page-coordinate centres of the visible elements that carry an on* attribute, for the
# real mouse to pass over too (about 20 ms a move: too slow for every element).
_INTERACT_JS = r"""
(selector) => {
%ELEMENTS%
  const centres = [];
  for (const el of elements) {
    try { el.focus({ preventScroll: true }); } catch (e) { /* not focusable */ }
    const r = el.getBoundingClientRect();
    const init = { bubbles: true, cancelable: true, composed: true, view: window,
                   clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
    for (const type of ['pointerover', 'pointerenter', 'mouseover', 'mouseenter', 'pointermove', 'mousemove',
                        'pointerout', 'pointerleave', 'mouseout', 'mouseleave']) {
      const Ctor = type.startsWith('pointer') ? PointerEvent : MouseEvent;
      const bubbles = !type.endsWith('enter') && !type.endsWith('leave');
      try { el.dispatchEvent(new Ctor(type, { ...init, bubbles })); } catch (e) { /* ignore */ }
    }
    const hasHandler = Array.from(el.attributes).some(a => a.name.toLowerCase().startsWith('on'));
    if (hasHandler && r.width > 0 && r.height > 0) {
      centres.push([r.left + window.scrollX + r.width / 2, r.top + window.scrollY + r.height / 2]);
    }
  }
  if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
  return centres;
}
""".replace("%ELEMENTS%\n", _ELEMENTS_JS)

# Runs in the page: click every element in the container, in document order (as
# element.click(): the click event, then the element's activation behaviour: a link is
# followed, a javascript: URL runs, a form is submitted, a <details> toggles). Waits a
# little after each click that can navigate so that the blocked request is seen. Returns
# the URLs (without fragment) of the http(s) links the clicks followed.
_CLICK_JS = r"""
async (selector) => {
%ELEMENTS%
  const followed = new Set();
  const pause = () => new Promise(resolve => setTimeout(resolve, 40));
  for (const el of elements) {
    if (!el.isConnected) continue;
    const link = el.closest('a[href], area[href]');
    if (link) {
      try {
        const url = new URL(link.getAttribute('href'), document.baseURI);
        if (url.protocol === 'http:' || url.protocol === 'https:') { url.hash = ''; followed.add(url.href); }
      } catch (e) { /* not a URL: nothing to follow */ }
    }
    try {
      if (typeof el.click === 'function') el.click();
      else el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, composed: true, view: window }));
    } catch (e) { /* ignore */ }
    if (link || el.closest('form') || el.form) await pause();
  }
  return Array.from(followed);
}
""".replace("%ELEMENTS%\n", _ELEMENTS_JS)

_VIEWPORT = {"width": 1280, "height": 800}
_MAX_DIALOGS = 50  # a post that alerts in a loop


def _closed_shadow_roots(node: Mapping[str, Any], found: list[str]) -> None:
    """Closed shadow roots anywhere in a CDP DOM tree (DOM.getDocument, pierce=True):
    page script cannot see into them (open ones are audited in the page). landscape
    makes none, so one can only come from a post's `<template shadowrootmode=closed>`."""
    for shadow in node.get("shadowRoots") or []:
        if shadow.get("shadowRootType") == "closed":
            host = str(node.get("localName") or node.get("nodeName")).lower()
            found.append(f"{host} > #shadow-root(closed) (anywhere in the page)")
        _closed_shadow_roots(shadow, found)
    for key in ("children", "pseudoElements"):
        for child in node.get(key) or []:
            _closed_shadow_roots(child, found)
    for key in ("contentDocument", "templateContent"):
        if node.get(key):
            _closed_shadow_roots(node[key], found)


def audit_pages(
    base_url: str,
    paths: Sequence[str],
    content_selector: str = LANDSCAPE_CONTENT,
    *,
    screenshots: Mapping[str, Path] | None = None,
    settle_ms: int = 300,
    timeout_ms: int = 15_000,
    concurrency: int = 3,
    isolate: bool = False,
) -> dict[str, PageAudit]:
    """Open each page (``paths``: relative to ``base_url``, as RenderedPost.path) in one
    headless Chromium and audit it (see PageAudit). Returns one PageAudit per distinct path.

    Requests off ``base_url``'s origin are blocked and recorded; a document request other
    than the page itself (a frame, a meta refresh, a script navigation, a new window) is
    blocked and recorded as a navigation. After the load event every element in every
    ``content_selector`` on the page (one on a post page, one per post on an index page)
    is focused and hovered (synthetic mouse/pointer events; the real mouse also passes
    over the visible ones that carry an on* attribute), then the page gets ``settle_ms``
    for SVG animations, ``autofocus`` and ``<details open>`` toggles before the DOM
    audit. Then every one of those elements is clicked (``_CLICK_JS``): a document the
    click asks for is blocked too, and recorded in ``followed`` when it is the clicked
    link's own http(s) URL, the page itself (a form without action) or a fragment of it,
    else as a navigation (and, off the server, an offsite request); after another
    ``settle_ms`` the DOM is audited again. ``screenshots`` maps a path to a PNG file to
    write (full page, after the audit).

    ``concurrency`` tabs work at a time, each in its own browser context, going from page
    to page: between two pages the tab goes to about:blank, other windows are closed and
    the site's storage is cleared. A tab whose page failed or hung is thrown away with its
    context. ``isolate=True`` gives every page a fresh context instead: cleaner, but a new
    renderer process per page costs about 2.5 times the CPU.
    """
    problem = chromium_problem()
    if problem:
        raise RuntimeError(problem)
    job = _audit_pages_async(
        base_url,
        list(dict.fromkeys(paths)),
        content_selector,
        dict(screenshots or {}),
        settle_ms=settle_ms,
        timeout_ms=timeout_ms,
        concurrency=max(1, concurrency),
        isolate=isolate,
    )
    if not _loop_running():
        return asyncio.run(job)
    # Called from a running event loop: run ours in a thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, job).result()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def screenshot(base_url: str, path: str, png: Path, content_selector: str = LANDSCAPE_CONTENT) -> PageAudit:
    """Audit one page and save a full-page PNG of it."""
    return audit_pages(base_url, [path], content_selector, screenshots={path: png})[path]


async def _audit_pages_async(
    base_url: str,
    paths: list[str],
    selector: str,
    screenshots: dict[str, Path],
    *,
    settle_ms: int,
    timeout_ms: int,
    concurrency: int,
    isolate: bool,
) -> dict[str, PageAudit]:
    origin = urlsplit(base_url)
    results = {path: PageAudit(path=path, url=urljoin(base_url, quote(path))) for path in paths}
    queue = list(results.values())
    queue.reverse()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)

        async def worker() -> None:
            tab: _Tab | None = None
            try:
                while queue:
                    audit = queue.pop()
                    if tab is None:
                        tab = await _Tab.open(browser, origin, timeout_ms)
                    ok = await tab.audit(audit, selector, settle_ms, timeout_ms, screenshots.get(audit.path))
                    if not ok or isolate:
                        await tab.close()
                        tab = None
            finally:
                if tab is not None:
                    await tab.close()

        try:
            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(queue)))))
        finally:
            await browser.close()
    return results


class _Tab:
    """One browser context with one page that goes from post to post. Its event handlers
    report to the PageAudit of the post it shows (``self.current``)."""

    def __init__(self, context: Any, page: Any, cdp: Any, origin: SplitResult) -> None:
        self.context = context
        self.page = page
        self.cdp = cdp
        self.origin = origin
        self.current: _PageState | None = None

    @classmethod
    async def open(cls, browser: Any, origin: SplitResult, timeout_ms: int) -> _Tab:
        context = await browser.new_context(viewport=_VIEWPORT, service_workers="block")
        context.set_default_timeout(timeout_ms)
        page = await context.new_page()
        tab = cls(context, page, await context.new_cdp_session(page), origin)
        await context.route("**/*", tab.on_route)
        context.on("dialog", tab.on_dialog)
        context.on("page", tab.on_page)
        page.on("console", tab.on_console)
        page.on("pageerror", tab.on_page_error)
        page.on("framenavigated", tab.on_frame_navigated)
        page.on("frameattached", tab.on_frame_attached)
        return tab

    async def close(self) -> None:
        with contextlib.suppress(PlaywrightError):
            await self.context.close()

    # -- events, for the post on show

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == (self.origin.scheme, self.origin.netloc)

    async def on_route(self, route: Any) -> None:
        request = route.request
        state = self.current
        offsite = not self.is_local(request.url)
        if request.resource_type == "document":
            try:
                frame = request.frame
            except PlaywrightError:  # a new window's first request: its frame does not exist yet
                frame = None
            main = frame is not None and frame == self.page.main_frame
            if state is not None and main and not state.initial_document and not state.loaded:
                state.initial_document = True
            else:
                if state is not None:
                    where = "main frame" if main else "child frame" if frame is not None else "new window"
                    if state.clicking:  # judged once the clicks are done (_judge_clicks)
                        state.clicked.append((f"{where} document request", request.url))
                    else:
                        state.audit.navigations.append(f"{where} document request {request.url}")
                        if offsite:
                            state.audit.offsite_requests.append(request.url)
                await route.abort("aborted")  # net::ERR_ABORTED: the page stays, no error page
                return
        if state is not None and offsite:
            state.audit.offsite_requests.append(request.url)
        if offsite or state is None:
            await route.abort("blockedbyclient")
        else:
            await route.continue_()

    async def on_dialog(self, dialog: Any) -> None:
        if self.current is not None:
            dialogs = self.current.audit.dialogs
            if len(dialogs) < _MAX_DIALOGS:
                dialogs.append(f"{dialog.type}: {dialog.message}")
            elif len(dialogs) == _MAX_DIALOGS:
                dialogs.append("... (more dialogs not recorded)")
        await dialog.dismiss()

    def on_page(self, other: Any) -> None:
        if other is not self.page and self.current is not None:
            if self.current.clicking:
                self.current.clicked.append(("new window", other.url))
            else:
                self.current.audit.navigations.append(f"new window {other.url}")

    def on_console(self, message: Any) -> None:
        if self.current is not None:
            self.current.audit.console.append(f"{message.type}: {message.text}")

    def on_page_error(self, error: Any) -> None:
        if self.current is not None:
            self.current.audit.page_errors.append(str(error))

    def on_frame_navigated(self, frame: Any) -> None:
        # Every main-frame commit but the page's own first one: a script setting location
        # (to about:blank: no request; to #x: same document), before or after the load event.
        state = self.current
        if state is None or state.leaving or frame != self.page.main_frame:
            return
        if not state.initial_commit and not state.loaded and frame.url == state.audit.url:
            state.initial_commit = True
        elif state.clicking:
            state.clicked.append(("main frame navigated to", frame.url))
        elif _same_document(frame.url, state.audit.url):
            # Only the fragment changed (landscape's fancybox sets #gallery-N a moment after
            # an image is clicked): the same document, nothing loaded, kept but no problem.
            state.audit.fragments.append(frame.url)
        else:
            state.audit.navigations.append(f"main frame navigated to {frame.url}")

    def on_frame_attached(self, frame: Any) -> None:
        if self.current is not None:
            self.current.frames.add(frame)

    # -- one post

    async def audit(self, audit: PageAudit, selector: str, settle_ms: int, timeout_ms: int, png: Path | None) -> bool:
        """Audit one page; False when the tab is no longer fit for another page."""
        self.current = _PageState(audit)
        try:
            # page.evaluate has no timeout of its own: a page stuck in a loop would hang it.
            await asyncio.wait_for(self._audit(selector, settle_ms, png), 3 * timeout_ms / 1000)
            await asyncio.wait_for(self._leave(), timeout_ms / 1000)
        except PlaywrightError as exc:
            audit.errors.append(f"audit failed: {exc.message.splitlines()[0]}")
            return False
        except TimeoutError:
            audit.errors.append(f"audit timed out after {3 * timeout_ms / 1000:g} s")
            return False
        finally:
            self.current = None
        return True

    async def _audit(self, selector: str, settle_ms: int, png: Path | None) -> None:
        state = self.current
        assert state is not None
        audit, page = state.audit, self.page
        await page.goto(audit.url, wait_until="load")
        state.loaded = True

        centres = await page.evaluate(_INTERACT_JS, selector)
        await _real_mouse_pass(page, centres)
        await page.wait_for_timeout(settle_ms)
        findings = await page.evaluate(_DOM_AUDIT_JS, selector)
        if findings is None:
            audit.errors.append(f"no element matches {selector} (at {page.url})")
            return
        audit.dom_findings.extend(findings)

        state.clicking = True
        try:
            followed = await page.evaluate(_CLICK_JS, selector)
            await page.wait_for_timeout(settle_ms)
        finally:
            state.clicking = False
        self._judge_clicks(state, set(followed))
        for finding in await page.evaluate(_DOM_AUDIT_JS, selector) or []:
            if finding not in audit.dom_findings:
                audit.dom_findings.append(f"{finding} (after the clicks)")
        tree = await self.cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
        _closed_shadow_roots(tree["root"], audit.dom_findings)
        state.frames.update(f for f in page.frames if f != page.main_frame)
        audit.frames = len(state.frames)
        if png is not None:
            await page.screenshot(path=str(png), full_page=True)

    def _judge_clicks(self, state: _PageState, followed: set[str]) -> None:
        """Sort what the clicks asked for: a reader's own request (the clicked link's URL,
        the page itself, a fragment of it, the blank new window a target=_blank link
        opens first) goes to ``followed``; anything else is a navigation."""
        page = urlsplit(state.audit.url)._replace(query="", fragment="").geturl()
        for what, url in state.clicked:
            bare = urlsplit(url)._replace(fragment="").geturl()
            asked = bare in followed or urlsplit(url)._replace(query="", fragment="").geturl() == page
            if what == "new window" and url in ("", "about:blank"):
                asked = True
            if asked:
                state.audit.followed.append(f"click: {what} {url}")
            else:
                state.audit.navigations.append(f"click: {what} {url}")
                if what.endswith("document request") and not self.is_local(url):
                    state.audit.offsite_requests.append(url)
        state.clicked.clear()

    async def _leave(self) -> None:
        """Unload the post (what it does while unloading still counts for it), close any
        other window and clear the site's storage for the next post."""
        state = self.current
        assert state is not None
        state.leaving = True
        await self.page.goto("about:blank")
        for other in self.context.pages:
            if other is not self.page:
                await other.close()
        origin = f"{self.origin.scheme}://{self.origin.netloc}"
        await self.cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        await self.context.clear_cookies()


@dataclass
class _PageState:
    audit: PageAudit
    initial_document: bool = False  # the page's own document request was seen
    initial_commit: bool = False  # the page's own first commit was seen
    loaded: bool = False  # its load event has fired
    leaving: bool = False  # we are taking the tab to about:blank
    clicking: bool = False  # the clicks are under way: what they ask for is judged after
    clicked: list[tuple[str, str]] = field(default_factory=list)  # (what, URL) while clicking
    frames: set[Any] = field(default_factory=set)


async def _real_mouse_pass(page: Any, centres: list[list[float]]) -> None:
    """Move the real mouse over each page-coordinate point, scrolling a viewport at a time."""
    height = _VIEWPORT["height"]
    scroll_y: float | None = None
    for x, y in sorted(centres, key=lambda c: (c[1], c[0])):
        top = int(y // height) * height
        if scroll_y is None or top > scroll_y + height - 1 or top < scroll_y:
            scroll_y = await page.evaluate("(top) => { window.scrollTo(0, top); return window.scrollY; }", top)
        await page.mouse.move(x, y - scroll_y)
    await page.mouse.move(0, 0)
    await page.evaluate("window.scrollTo(0, 0)")


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class PageImages:
    """What a page's images came to in the browser, after its load event."""

    path: str
    images: tuple[tuple[str, int], ...]  # (currentSrc, naturalWidth) of every <img>, in order
    failed: tuple[str, ...]  # responses of status 400 or more, "<status> <url>"
    offsite: tuple[str, ...]  # requests off the local server (blocked)

    def broken(self) -> list[str]:
        """The images that did not load: naturalWidth 0."""
        return [src for src, width in self.images if width <= 0]


_IMAGES_JS = "() => [...document.images].map(img => [img.currentSrc || img.src, img.naturalWidth])"


def page_images(base_url: str, paths: Sequence[str], *, timeout_ms: int = 15_000) -> dict[str, PageImages]:
    """Open each page (``paths``: relative to ``base_url``, as RenderedPost.path) in
    headless Chromium, requests off ``base_url``'s origin blocked, and report its images
    once it has loaded (every image has then loaded or failed)."""
    problem = chromium_problem()
    if problem:
        raise RuntimeError(problem)
    job = _page_images_async(base_url, list(dict.fromkeys(paths)), timeout_ms)
    if not _loop_running():
        return asyncio.run(job)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, job).result()


def _image_page_handlers(
    origin: SplitResult, failed: list[str], offsite: list[str]
) -> tuple[Callable[[Any], Any], Callable[[Any], None]]:
    """A route handler letting only the local server through (the rest recorded in
    ``offsite``) and a response handler recording every status of 400 or more."""

    async def route(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc):
            await route.continue_()
        else:
            offsite.append(route.request.url)
            await route.abort("blockedbyclient")

    def response(response: Any) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    return route, response


async def _page_images_async(base_url: str, paths: list[str], timeout_ms: int) -> dict[str, PageImages]:
    origin = urlsplit(base_url)
    results: dict[str, PageImages] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)
        try:
            for path in paths:
                viewport: ViewportSize = {"width": _VIEWPORT["width"], "height": _VIEWPORT["height"]}
                context = await browser.new_context(viewport=viewport, service_workers="block")
                context.set_default_timeout(timeout_ms)
                failed: list[str] = []
                offsite: list[str] = []
                route, response = _image_page_handlers(origin, failed, offsite)
                await context.route("**/*", route)
                page = await context.new_page()
                page.on("response", response)
                await page.goto(urljoin(base_url, quote(path)), wait_until="load")
                images = await page.evaluate(_IMAGES_JS)
                results[path] = PageImages(
                    path, tuple((str(src), int(width)) for src, width in images), tuple(failed), tuple(offsite)
                )
                await context.close()
        finally:
            await browser.close()
    return results
