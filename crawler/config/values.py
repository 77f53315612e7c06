"""Reading one Scrapy setting as a typed value.  No default is written here: a project
setting that is not set at all (its default lives in crawler/settings.py) is a mistake,
named with the setting."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from crawler.config.errors import ConfigError


def setting(settings: BaseSettings, name: str) -> object:
    """The setting's value; ConfigError when it is not set at all (crawler/settings.py
    was not loaded: e.g. a settings module of your own that does not import it)."""
    if name not in settings:
        raise ConfigError(f"{name} is not set: load crawler.settings (the project's settings module) or set it")
    return settings.get(name)


def count_of(value: object, minimum: int) -> int | None:
    """value as a whole number of at least ``minimum``; None when it is not one (a bool or
    a float is not: ``True`` and ``1.5`` are mistakes, not counts)."""
    if isinstance(value, bool | float) or value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= minimum else None


def whole_number(name: str, value: object) -> int:
    """A count or size: a whole number, 0 or more."""
    number = count_of(value, 0)
    if number is None:
        raise ConfigError(f"{name}={value!r}: expected a whole number, 0 or more")
    return number


def at_least_one(name: str, value: object) -> int | None:
    """An optional limit (retention): None or empty is none; else a whole number, 1 or more."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = count_of(value, 1)
    if number is None:
        raise ConfigError(f"{name}={value!r}: expected a whole number, 1 or more (or nothing: off)")
    return number


def more_than_zero(settings: BaseSettings, name: str, unit: str) -> float:
    value = setting(settings, name)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:  # NaN too
        raise ConfigError(f"{name}={value!r}: expected {unit}, more than 0")
    return number
