"""The browser, for sections of kind ``page`` only (scrapy-playwright + Debian's
Chromium).  Its download handler is installed by the spider only when such a
section is crawled, so a run of API and column sections never starts a browser.

The browser is confined twice (issue 17):

- every request a page makes goes through crawler.browser_guard (the fetch policy of
  Scrapy's list requests, the public-address check, only the page's document, scripts and
  XHR/fetch; no WebSocket, popup, download or service worker), and is counted when aborted;
- Chromium itself can connect to nothing but Sina's hosts (and the proxy): its host
  resolver answers no other name and no literal address (``--host-resolver-rules``), and
  behind a proxy a PAC script sends Sina's hosts to the proxy and everything else
  "direct", where that resolver fails it.  This catches what Playwright's routes never see:
  the hops of a redirect and a worker's WebSocket.

The proxy is the environment's (``https_proxy``, else ``http_proxy``), or
``PLAYWRIGHT_LAUNCH_OPTIONS["proxy"]`` when given (``None``: none).  ``no_proxy`` does not
apply to the browser, and a proxy's user name and password are not passed to it.  Host
rules of your own in ``PLAYWRIGHT_LAUNCH_OPTIONS["args"]`` come first; the names they do
not map resolve to nothing.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings

from crawler.browser_guard import BrowserGuard
from crawler.config import ConfigError
from crawler.config.values import setting
from crawler.net.browser_policy import BROWSER_HOSTS

HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# Chromium in a container, as root, on a network that only reaches Sina (or a replay):
# no sandbox (root), no GPU, none of Chromium's own background connections.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Chromium registers on-demand components and asks update.googleapis.com for them
    # even with --disable-component-update: send that check to a closed local port.
    "--component-updater=url-source=http://127.0.0.1:9/",
)
# The name the PAC script gives the proxy; only the host rules know where it is, so that
# the proxy's own address (often a loopback one) is not opened to the page too.
PROXY_ALIAS = "sina-browser-proxy.invalid"
_HOST_RULES = "--host-resolver-rules="
# Switches the confinement sets itself: any given in the arguments are dropped.
_PROXY_SWITCHES = ("--proxy-server", "--proxy-pac-url", "--no-proxy-server", "--proxy-bypass-list", _HOST_RULES)
# A proxy URL's scheme -> (PAC keyword, default port).
_PAC_PROXIES = {
    "http": ("PROXY", 80),
    "https": ("HTTPS", 443),
    "socks": ("SOCKS", 1080),
    "socks4": ("SOCKS", 1080),
    "socks5": ("SOCKS5", 1080),
    "socks5h": ("SOCKS5", 1080),
}


@dataclass(frozen=True, slots=True)
class BrowserProxy:
    keyword: str  # PROXY, HTTPS, SOCKS or SOCKS5 (a PAC result)
    host: str  # as the host rules take it: an IPv6 address in brackets
    port: int

    @classmethod
    def parse(cls, server: str) -> BrowserProxy:
        parts = urlsplit(server if "://" in server else f"http://{server}")
        scheme = parts.scheme.lower()
        if scheme not in _PAC_PROXIES or not parts.hostname:
            raise ConfigError(f"the browser cannot use the proxy {server!r} (http, https or socks5 only)")
        keyword, default_port = _PAC_PROXIES[scheme]
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(keyword, host, parts.port or default_port)


def environment_proxy(environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the environment gives https (else http) requests, as Scrapy reads it."""
    environ = os.environ if environ is None else environ
    proxies = {key.lower(): value for key, value in environ.items() if key.lower().endswith("_proxy")}
    return proxies.get("https_proxy") or proxies.get("http_proxy") or None


def pac_script(proxy: BrowserProxy, hosts: Iterable[str] = BROWSER_HOSTS) -> str:
    """Sina's hosts through the proxy, anything else "direct" (where the host rules stop it)."""
    tests = []
    for pattern in hosts:
        domain = pattern.removeprefix("*.")
        tests.append(f'host == "{domain}"')
        if pattern.startswith("*."):
            tests.append(f'dnsDomainIs(host, ".{domain}")')
    return (
        "function FindProxyForURL(url, host) {\n"
        "  host = host.toLowerCase();\n"
        f'  if ({" || ".join(tests)}) return "{proxy.keyword} {PROXY_ALIAS}:{proxy.port}";\n'
        '  return "DIRECT";\n'
        "}\n"
    )


def host_resolver_rules(
    proxy: BrowserProxy | None, own_rules: Iterable[str] = (), hosts: Iterable[str] = BROWSER_HOSTS
) -> str:
    """Chromium's ``--host-resolver-rules``: every name and literal address fails to
    resolve (``~NOTFOUND``) but the proxy's, your own rules' and, without a proxy and
    without rules of your own, Sina's hosts."""
    own = [rule.strip() for rule in own_rules if rule.strip()]
    rules = [f"MAP {PROXY_ALIAS} {proxy.host}"] if proxy is not None else []
    rules += [*own, "MAP * ~NOTFOUND"]
    if proxy is None and not own:
        # An EXCLUDE wins over every MAP, so it is only for Chromium's own lookups of Sina.
        rules += [f"EXCLUDE {pattern.removeprefix(prefix)}" for pattern in hosts for prefix in ("", "*.")]
    return ", ".join(dict.fromkeys(rules))


def confinement_args(args: Iterable[str], proxy: BrowserProxy | None) -> list[str]:
    """Chromium's arguments with the proxy and host rules of the confinement."""
    args = list(args)
    own_rules = [arg.removeprefix(_HOST_RULES) for arg in args if arg.startswith(_HOST_RULES)]
    kept = [arg for arg in args if not arg.startswith(_PROXY_SWITCHES)]
    if proxy is None:
        kept.append("--no-proxy-server")  # nor the environment's, which Chromium reads itself
    else:
        pac = base64.b64encode(pac_script(proxy).encode()).decode()
        kept.append(f"--proxy-pac-url=data:application/x-ns-proxy-autoconfig;base64,{pac}")
    kept.append(_HOST_RULES + host_resolver_rules(proxy, [rule for own in own_rules for rule in own.split(",")]))
    return kept


def browser_settings(
    settings: BaseSettings, count: Callable[[str], object], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], BrowserGuard]:
    """Settings that turn the browser on, from the project's SINA_BROWSER_* settings, and
    the guard its pages get (crawler.browser_guard; ``count`` adds one to a stats key)."""
    launch = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    launch.setdefault("executable_path", setting(settings, "SINA_BROWSER_EXECUTABLE"))
    launch.setdefault("headless", True)
    if "proxy" in launch:
        given = launch.pop("proxy")
        server = given.get("server") if isinstance(given, Mapping) else given
    else:
        server = environment_proxy(environ)
    proxy = BrowserProxy.parse(server) if server else None
    launch["args"] = confinement_args(launch.get("args", CHROMIUM_ARGS), proxy)
    guard = BrowserGuard(count, direct=proxy is None)
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
    handlers.update({"http": HANDLER, "https": HANDLER})
    return {
        "DOWNLOAD_HANDLERS": handlers,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_ABORT_REQUEST": guard.abort_request,
    }, guard


def page_request_meta(guard: BrowserGuard, ignore_https_errors: bool) -> dict[str, Any]:
    """The meta of a request scrapy-playwright renders: a context with no service worker
    and no download, the page confined before it asks for anything."""
    return {
        "playwright": True,
        "playwright_context_kwargs": {
            "ignore_https_errors": ignore_https_errors,
            "service_workers": "block",
            "accept_downloads": False,
        },
        "playwright_page_init_callback": guard.confine_page,
    }


def executable_problem(settings: BaseSettings) -> str | None:
    path = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS").get("executable_path")
    if path and not os.access(path, os.X_OK):
        return (
            f"no browser at {path}: install Debian's chromium (apt-get install -y chromium)"
            " or set SINA_BROWSER_EXECUTABLE"
        )
    from playwright.async_api import Page

    if not hasattr(Page, "route_web_socket"):
        return "the browser's WebSockets cannot be refused: Playwright 1.48 or later is needed"
    return None
