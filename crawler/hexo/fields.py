"""Front-matter field rules of the post format (spec §2)."""

from __future__ import annotations

import functools
import html
import re
from datetime import UTC, datetime
from email.utils import format_datetime

import yaml

# The characters of Unicode category Cc (U+0000-U+001F, U+007F-U+009F) that are not
# whitespace (str.isspace: tab to carriage return, U+001C-U+001F, U+0085): one regex
# pass instead of a category look-up per character (tests/test_post_format.py checks
# the class against unicodedata over every code point).
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def clean_title(raw: str | None) -> str | None:
    """Entities decoded, non-whitespace controls deleted, whitespace collapsed."""
    if raw is None:
        return None
    text = _CONTROLS.sub("", html.unescape(raw))
    text = " ".join(text.split())  # str.split() splits on every str.isspace() run
    return text or None


# Plain scalars that YAML 1.2's core schema (js-yaml, which Hexo uses) reads as a number,
# a boolean or null even where PyYAML (YAML 1.1) reads a string.
_YAML12_NOT_TEXT = re.compile(
    r"^(?:[-+]?(?:0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|\.(?:inf|Inf|INF))|\.(?:nan|NaN|NAN)|null|Null|NULL|~|true|True|TRUE|false|False|FALSE)$"
)


@functools.lru_cache(maxsize=4096)  # a pure function of a few values (sections, media names)
def yaml_text(value: str) -> str:
    """A category or author as the front matter writes it: plain, as the sample does, unless
    YAML would read it as something other than that text (``~``, ``true``, ``2022-01-24``,
    ``1e3``), then single-quoted."""
    try:
        plain = yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    if plain and not _YAML12_NOT_TEXT.match(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def yaml_quote(value: str) -> str:
    """Quote a scalar the way the 2022 generator did (and YAML reads back)."""
    if "'" in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


# Markup characters of a text written as HTML text (the entities hexo-util's escapeHTML
# writes, so Hexo's helpers leave them as they are); braces are the post's own rule (§1).
_HTML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;"})


def html_text(value: str) -> str:
    """Plain text as HTML text that holds no markup: what an excerpt or a tag is written as.

    Hexo hands a front-matter ``excerpt`` to themes as HTML (landscape writes it unescaped
    on index pages) and some helpers write tag names unescaped, so the text cannot open an
    element, a comment, an attribute or a code span anywhere a theme puts it; a browser
    shows the same characters.  Control characters that are not whitespace are deleted
    (Hexo's YAML refuses a file holding one) and whitespace runs collapsed, as in a title."""
    return " ".join(_CONTROLS.sub("", value).split()).translate(_HTML_TEXT)


def utc_from_timestamp(seconds: int | str) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def rfc1123(moment: datetime) -> str:
    """``Mon, 24 Jan 2022 11:02:07 GMT``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
