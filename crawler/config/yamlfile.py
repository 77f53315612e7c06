"""Reading the YAML files of settings/ (and the operator's own) so that every problem is
named by file, line and key.  Only YAML's safe subset is read; nothing here knows what
a section or an output key is."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crawler.config.errors import ConfigError


def packaged(name: str) -> tuple[str, str]:
    """The text of a file of the packaged settings/ folder, and how to name it."""
    resource = resources.files("settings").joinpath(name)
    return resource.read_text(encoding="utf-8"), f"settings/{name}"


def read(path: str) -> tuple[str, str]:
    """The text of an operator's file, and how to name it."""
    try:
        return Path(path).read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})") from exc


def compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{at}: invalid YAML: {problem}") from exc


def where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def scalar(node: yaml.Node, source: str, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{where(source, node)}: key '{key}': expected a single value")
    return yaml.SafeLoader("").construct_object(node)


def mapping(node: yaml.Node, source: str, allowed: set[str] | frozenset[str], what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{where(source, node)}: {what} must be a mapping of keys")
    fields: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{where(source, key_node)}: unknown key '{key}' in {what} (known: {known})")
        if key in fields:
            raise ConfigError(f"{where(source, key_node)}: key '{key}' given twice in {what}")
        fields[key] = value_node
    return fields


def text(fields: dict[str, yaml.Node], key: str, source: str) -> str:
    value = scalar(fields[key], source, key)
    if value is None or isinstance(value, bool | list | dict) or not str(value).strip():
        raise ConfigError(f"{where(source, fields[key])}: key '{key}': expected a non-empty text")
    return str(value).strip()
