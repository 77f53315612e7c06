"""Front-matter field rules of the post format (spec §2)."""

from __future__ import annotations

import html
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def clean_title(raw: str | None) -> str | None:
    """Entities decoded, non-whitespace controls deleted, whitespace collapsed."""
    if raw is None:
        return None
    text = html.unescape(raw)
    text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    text = " ".join(text.split())  # str.split() splits on every str.isspace() run
    return text or None


def yaml_quote(value: str) -> str:
    """Quote a scalar the way the 2022 generator did (and YAML reads back)."""
    if "'" in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def utc_from_timestamp(seconds: int | str) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def parse_published_time(value: str | None) -> datetime | None:
    """``article:published_time``: ISO 8601 with offset, or Beijing wall time."""
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.astimezone(UTC)


def rfc1123(moment: datetime) -> str:
    """``Mon, 24 Jan 2022 11:02:07 GMT``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
