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


def whole_number(name: str, value: object) -> int:
    """A count or size: a whole number, 0 or more."""
    try:
        if isinstance(value, bool | float) or value is None:
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name}={value!r}: expected a whole number, 0 or more")
    return number


def at_least_one(name: str, value: object) -> int | None:
    """An optional limit (retention): None or empty is none; else a whole number, 1 or more."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool | float):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
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
