"""Where a Hexo site publishes a post's asset folder: the URL path, from the site root, of
a file stored beside a post (HEXO_IMAGES=local with HEXO_IMAGE_URLS=root).

Invariant: the path is the one Hexo 7 itself gives the asset (PostAsset.path, which its
``asset_img`` / ``asset_path`` tags and hexo-renderer-marked's ``postAsset`` write, from
the site root), computed from what Hexo computes it from: the site's ``permalink`` rule
(hexo-util's Permalink: ``:name`` placeholders, ``[A-Za-z0-9_]*`` ending in a letter or
digit), the post's slug (its path under ``source/_posts`` without ``.md``, for
``new_post_name: :title.md``), and its date as Hexo formats it: in the time zone the
``hexo generate`` process runs in (``TZ``).  With ``post_asset_folder`` on, Hexo ends a
permalink with ``/`` unless it ends in ``.html``, and takes ``.html``/``.htm`` off it for
the asset folder.  Only placeholders that depend on nothing but the path and the date
are supported (``check_rule`` names the others); the result is percent-encoded (UTF-8,
``/`` kept), as a browser would send it, so a name holding ``%``, ``#`` or ``?`` still
reaches the file."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# hexo-util's rParam, /:(\w*[^_\W])/g: JavaScript's \w is ASCII.
_PARAM = re.compile(r":(\w*[^_\W])", re.ASCII)
# Hexo's post_permalink filter, for the placeholders it fills from the date and the slug.
_DATE_FORMATS = {
    "year": "%Y",
    "month": "%m",
    "day": "%d",
    "hour": "%H",
    "minute": "%M",
    "second": "%S",
}
SUPPORTED = (*_DATE_FORMATS, "i_month", "i_day", "title", "name")


@dataclass(frozen=True, slots=True)
class SitePermalink:
    """What the crawler knows of the site: its ``permalink``, its ``root`` and the TZ
    ``hexo generate`` runs in."""

    rule: str
    root: str
    zone: ZoneInfo


def check_rule(rule: str) -> str | None:
    """Why a permalink rule cannot be followed (None: it can)."""
    if not rule.strip():
        return "empty"
    unknown = sorted({name for name in _PARAM.findall(rule) if name not in SUPPORTED})
    if unknown:
        return (
            f"placeholder(s) {', '.join(':' + name for name in unknown)} not supported "
            f"(supported: {', '.join(':' + name for name in SUPPORTED)})"
        )
    return None


def check_root(root: str) -> str | None:
    """Why a site root cannot be used (None: it can): Hexo's ``root`` is a path that
    begins and ends with ``/``."""
    if not (root.startswith("/") and root.endswith("/")) or "//" in root or any(c in root for c in "?#\\ "):
        return "expected a path that begins and ends with / (Hexo's root, e.g. / or /blog/)"
    return None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone; ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)") from None


def post_permalink(rule: str, slug: str, local: datetime) -> str:
    """The post's path under the site root as Hexo writes it with post_asset_folder on
    (``local``: the post's date in the zone ``hexo generate`` runs in)."""
    meta = {name: local.strftime(form) for name, form in _DATE_FORMATS.items()}
    meta |= {"i_month": str(local.month), "i_day": str(local.day), "title": slug, "name": posixpath.basename(slug)}
    link = _PARAM.sub(lambda match: meta[match[1]], rule)
    if not link.endswith(("/", ".html")):
        link += "/"
    return link


def asset_url(site: SitePermalink, post_path: str, date: datetime, file_name: str) -> str:
    """The URL path, from the site root, of ``file_name`` in the asset folder of the post
    at ``post_path`` (relative to ``source/_posts``) dated ``date`` (aware)."""
    slug = post_path[: -len(".md")] if post_path.endswith(".md") else post_path
    link = post_permalink(site.rule, slug, date.astimezone(site.zone))
    folder = re.sub(r"\.html?$", "", link)
    path = posixpath.join(folder, file_name).lstrip("/")
    return site.root + quote(path, safe="/")
