"""The pure layers import no Scrapy (nor Twisted, nor anything that does), and nothing
above them: site knowledge (crawler/sina), the post format (crawler/hexo), page parsing
(crawler/parsing), storage (crawler/storage) and network rules (crawler/net) are plain
Python, testable without a crawl.  Checked on the source (every import statement,
functions included), and on a fresh interpreter's loaded modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CRAWLER = Path(__file__).resolve().parents[1] / "crawler"
PURE = ("sina", "hexo", "parsing", "storage", "net")
FORBIDDEN = ("scrapy", "scrapy_playwright", "twisted", "itemloaders", "itemadapter", "playwright")
# Within the project, a pure layer imports only pure layers.
ALLOWED_INTERNAL = tuple(f"crawler.{layer}" for layer in PURE)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


PURE_FILES = sorted(path for layer in PURE for path in (CRAWLER / layer).rglob("*.py"))


def test_there_are_pure_layers() -> None:
    assert len(PURE_FILES) >= 20


@pytest.mark.parametrize("path", PURE_FILES, ids=[str(p.relative_to(CRAWLER)) for p in PURE_FILES])
def test_pure_layer_imports(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path.relative_to(CRAWLER)} imports {name}"
        if top == "crawler":
            assert name.startswith(ALLOWED_INTERNAL), f"{path.relative_to(CRAWLER)} imports {name} (a layer above)"


def test_importing_the_pure_layers_loads_no_scrapy() -> None:
    modules = [
        "crawler." + ".".join(path.relative_to(CRAWLER).with_suffix("").parts)
        for path in PURE_FILES
        if path.name != "__init__.py"
    ]
    code = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded
