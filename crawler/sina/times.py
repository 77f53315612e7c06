"""Sina's clock: the site's wall times are Beijing time (UTC+8, no daylight saving), and a
page's ``article:published_time`` is ISO 8601 with an offset or a bare Beijing wall time
(site notes).  Everything here returns aware datetimes or Unix seconds, never naive ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def parse_published_time(value: str | None) -> datetime | None:
    """``article:published_time``: ISO 8601 with offset, or Beijing wall time; in UTC.
    None when absent, unreadable, or out of datetime's range once in UTC."""
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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-08:00 is in the year 10000 in UTC
        return None
