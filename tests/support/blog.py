"""Render posts as a reader sees them and audit the pages in a real browser.

``render_site`` runs tests/hexo/render_site.js: real Hexo 7 with the landscape theme
turns a folder of posts into a static site. ``serve`` serves that site on 127.0.0.1 and
``audit_pages`` opens its pages in headless Chromium (Python Playwright, Debian's
/usr/bin/chromium, the crawler's CHROMIUM_ARGS), hovers and focuses everything in the
post's body and records what a post could make the browser do: dialogs, navigations,
frames, requests to other hosts, and markup that can run script (see ``PageAudit``).

Install: ``npm ci --prefix tests/hexo`` (see tests/hexo/README.md) and Debian's chromium.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
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
from playwright.async_api import async_playwright

from crawler.browser import CHROMIUM_ARGS
from tests.support.hexo import HEXO_DIR, hexo_installed, not_installed_message, run_hexo_script

RENDER_SITE_JS = HEXO_DIR / "render_site.js"
CHROMIUM = "/usr/bin/chromium"
# What render_site.js needs in tests/hexo/node_modules.
SITE_PACKAGES = (
    "hexo",
    "hexo-renderer-marked",
    "hexo-renderer-ejs",
    "hexo-renderer-stylus",
    "hexo-theme-landscape",
)
# landscape's post body: <div class="e-content article-entry" itemprop="articleBody">.
LANDSCAPE_CONTENT = ".article-entry"
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


def site_installed() -> bool:
    return hexo_installed(SITE_PACKAGES)


def site_not_installed_message() -> str:
    return not_installed_message(SITE_PACKAGES)


def render_site(
    posts_dir: Path, out_dir: Path, *, sanitize_url: bool = False, timeout: float = 180.0
) -> list[RenderedPost]:
    """Render every ``*.md`` under ``posts_dir`` into a landscape site in ``out_dir``.

    ``out_dir`` must be missing or empty. Returns one RenderedPost per post, sorted by
    source. ``sanitize_url`` sets hexo-renderer-marked's ``sanitizeUrl``. Raises
    RuntimeError (with Hexo's stderr) when Hexo fails or is not installed.
    """
    if not site_installed():
        raise RuntimeError(site_not_installed_message())
    args = [str(Path(posts_dir).resolve()), str(Path(out_dir).resolve())]
    if sanitize_url:
        args.append("--marked-sanitize-url")
    posts = run_hexo_script(RENDER_SITE_JS, args, f"render {posts_dir}", timeout)
    return [RenderedPost(p["source"], p["title"], p["path"], p["content"]) for p in posts]


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


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port, threaded, no logging) while the block
    runs; yields the base URL, ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(Path(root).resolve()))
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
  const root = document.querySelector(selector);
  if (!root) return null;
  const HTML = 'http://www.w3.org/1999/xhtml';
  const SVG = 'http://www.w3.org/2000/svg';
  const MATHML = 'http://www.w3.org/1998/Math/MathML';
  const XLINK = 'http://www.w3.org/1999/xlink';
  const BAD = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'meta', 'link']);
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
  walk(root, { specials: [], parent: null });
  return findings;
}
"""

# Runs in the page: focus every element in the container and send it the events a mouse
# passing over it sends (untrusted events still run on* attributes). Returns the
# page-coordinate centres of the visible elements that carry an on* attribute, for the
# real mouse to pass over too (about 20 ms a move: too slow for every element).
_INTERACT_JS = r"""
(selector) => {
  const root = document.querySelector(selector);
  if (!root) return [];
  const elements = [];
  const collect = node => {
    for (const el of Array.from(node.children)) {
      elements.push(el);
      collect(el);
      if (el.shadowRoot) collect(el.shadowRoot);
    }
  };
  collect(root);
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
"""

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
    blocked and recorded as a navigation. After the load event every element in
    ``content_selector`` is focused and hovered (synthetic mouse/pointer events; the real
    mouse also passes over the visible ones that carry an on* attribute), then the page
    gets ``settle_ms`` for SVG animations, ``autofocus`` and ``<details open>`` toggles
    before the DOM audit. Nothing is clicked. ``screenshots`` maps a path to a PNG file to
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
        if state is not None and offsite:
            state.audit.offsite_requests.append(request.url)
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
                    state.audit.navigations.append(f"{where} document request {request.url}")
                await route.abort("aborted")  # net::ERR_ABORTED: the page stays, no error page
                return
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
        else:
            audit.dom_findings.extend(findings)
        tree = await self.cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
        _closed_shadow_roots(tree["root"], audit.dom_findings)
        state.frames.update(f for f in page.frames if f != page.main_frame)
        audit.frames = len(state.frames)
        if png is not None:
            await page.screenshot(path=str(png), full_page=True)

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
