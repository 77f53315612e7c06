"""The one error every configuration problem is reported as."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or setting is wrong; the message says where and why."""
