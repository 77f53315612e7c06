"""The browser, for sections of kind ``page`` only (scrapy-playwright + Debian's
Chromium).  Its download handler is installed by the spider only when such a
section is crawled, so a run of API and column sections never starts a browser."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from scrapy.settings import BaseSettings

HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# Images, fonts and media are not needed to find links.
BLOCKED_RESOURCES = frozenset({"image", "font", "media", "imageset"})
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


def abort_heavy_resources(request: Any) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: the browser loads no images, fonts or media."""
    return request.resource_type in BLOCKED_RESOURCES


def proxy_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Playwright's proxy option from https_proxy/http_proxy/no_proxy, as Scrapy reads them."""
    environ = os.environ if environ is None else environ
    proxies = {key.lower(): value for key, value in environ.items() if key.lower().endswith("_proxy")}
    server = proxies.get("https_proxy") or proxies.get("http_proxy")
    if not server:
        return None
    proxy = {"server": server}
    if proxies.get("no_proxy"):
        proxy["bypass"] = proxies["no_proxy"]
    return proxy


def browser_settings(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings that turn the browser on, from the project's SINA_BROWSER_* settings."""
    launch = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    launch.setdefault("executable_path", settings.get("SINA_BROWSER_EXECUTABLE") or "/usr/bin/chromium")
    launch.setdefault("headless", True)
    launch.setdefault("args", list(CHROMIUM_ARGS))
    proxy = proxy_from_environment(environ)
    if proxy is not None:
        launch.setdefault("proxy", proxy)
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
    handlers.update({"http": HANDLER, "https": HANDLER})
    return {
        "DOWNLOAD_HANDLERS": handlers,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_ABORT_REQUEST": abort_heavy_resources,
    }


def executable_problem(settings: BaseSettings) -> str | None:
    path = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS").get("executable_path")
    if path and not os.access(path, os.X_OK):
        return (
            f"no browser at {path}: install Debian's chromium (apt-get install -y chromium)"
            " or set SINA_BROWSER_EXECUTABLE"
        )
    return None
