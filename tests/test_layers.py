"""The import contract of crawler/: every module sits in one layer of LAYERS, and imports
only from its own unit (its package, or itself) or from a unit of a layer below.  An
arrow up, or sideways to another unit of the same layer, fails with the file, the line
and the two layers.  Checked on the source, every import statement (functions and
``if TYPE_CHECKING:`` blocks included).

The layers, top to bottom, tell the story of a crawl:

- the project's commands (``scrapy crawl``, ``scrapy sina-check``) use everything: ``sina-check``
  runs its spider by class, a spider that ``scrapy list`` does not list;
- what Scrapy loads by name (settings, the spiders) uses everything else;
- Scrapy components (pipelines, extensions, downloader middlewares, a cluster's parts,
  the browser) use the configuration, the items and the pure layers;
- ``loaders`` turns parsed pages into items; ``config`` and ``items`` are what every
  component is given;
- the adapters at Scrapy's edge (its internals, the resolver, the cluster extra) import
  no other layer but ``net``;
- the pure layers import no Scrapy (nor Twisted, nor anything that does): page parsing
  (``parsing``) joins Sina's facts (``sina``) and the post format (``hexo``), which know
  nothing of each other, nor of ``storage``; all of them may use the network rules and
  URL resolution (``net``), which use nothing.

Also checked on a fresh interpreter: importing every pure module loads no Scrapy."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

CRAWLER = Path(__file__).resolve().parents[1] / "crawler"
ROOT = "crawler"

#: Top to bottom: (what the layer is, its units).  A unit is a package or a module of
#: crawler/; units of one layer do not import each other.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the project's commands (a command may run a spider by its class)", ("commands",)),
    ("loaded by Scrapy by name", ("settings", "spiders")),
    ("item pipelines", ("pipelines",)),
    ("extensions", ("extensions",)),
    ("download failures, named", ("failures",)),
    ("downloader middlewares", ("downloadermiddlewares",)),
    ("a cluster's parts", ("cluster",)),
    ("the browser", ("browser",)),
    ("the browser's guard", ("browser_guard",)),
    ("items from parsed pages", ("loaders",)),
    ("the typed configuration; the item", ("config", "items")),
    (
        "at Scrapy's edge: its internals, the resolver, the cluster extra",
        ("scrapy_internals", "resolver", "cluster_extra"),
    ),
    ("page parsing; paging and admission (pure)", ("parsing", "admission")),
    ("Sina's facts, the post format, storage (pure)", ("sina", "hexo", "storage")),
    ("network rules and URL resolution (pure)", ("net",)),
    ("the package (its version)", ("",)),
)
#: Units that import no Scrapy, nor Twisted, nor anything that does.
PURE = ("parsing", "admission", "sina", "hexo", "storage", "net")
FORBIDDEN_IN_PURE = ("scrapy", "scrapy_playwright", "twisted", "itemloaders", "itemadapter", "playwright")


def _dotted(unit: str) -> str:
    return f"{ROOT}.{unit}" if unit else ROOT


UNIT_LAYER: dict[str, int] = {_dotted(unit): index for index, (_, units) in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(CRAWLER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """The unit a module of crawler/ belongs to (the longest that contains it)."""
    found = [unit for unit in UNIT_LAYER if module == unit or (unit != ROOT and module.startswith(unit + "."))]
    return max(found, key=len) if found else None


@cache
def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (CRAWLER.parent / relative).with_suffix(".py").is_file() or (CRAWLER.parent / relative).is_dir()


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # the module imported: `from a.b import c` is a.b.c when c is a module, else a.b
    names: tuple[str, ...]  # what `from ... import` takes; () for `import a.b`


def imports_of(source: str, module: str, is_package: bool) -> list[Import]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if base.split(".")[0] == ROOT and _is_module(submodule) else base
                found.append(Import(node.lineno, target, (alias.name,)))
    return found


@cache
def _imports_of_file(path: Path) -> tuple[Import, ...]:
    return tuple(imports_of(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"))


def violations(source: str, path: Path) -> list[str]:
    """Every import of the source (the module at path) the contract does not allow."""
    module = module_name(path)
    where = path.relative_to(CRAWLER.parent)
    unit = unit_of(module)
    if unit is None:
        return [f"{where} is in no layer: add it (or its package) to LAYERS in tests/test_layers.py"]
    layer = UNIT_LAYER[unit]
    found = []
    for imported in imports_of(source, module, path.name == "__init__.py"):
        top = imported.target.split(".")[0]
        if unit.removeprefix(ROOT + ".") in PURE and top in FORBIDDEN_IN_PURE:
            found.append(f"{where}:{imported.line} imports {imported.target}: {unit} is pure (no Scrapy)")
        if top != ROOT:
            continue
        target_unit = unit_of(imported.target)
        if target_unit is None:
            found.append(f"{where}:{imported.line} imports {imported.target}, which is in no layer")
            continue
        target_layer = UNIT_LAYER[target_unit]
        if target_unit == unit or target_layer > layer:
            continue
        direction = "a layer above" if target_layer < layer else "another unit of its own layer"
        found.append(
            f"{where}:{imported.line} imports {imported.target}: {unit} ({LAYERS[layer][0]}) may not import "
            f"{target_unit}, {direction} ({LAYERS[target_layer][0]})"
        )
    return found


FILES = sorted(CRAWLER.rglob("*.py"))
PURE_FILES = [path for path in FILES if (unit_of(module_name(path)) or "").removeprefix(ROOT + ".") in PURE]


def test_every_unit_of_the_contract_exists_once() -> None:
    units = [unit for _, layer_units in LAYERS for unit in layer_units]
    assert len(units) == len(set(units))
    missing = [unit for unit in units if not _is_module(_dotted(unit))]
    assert not missing, f"units of LAYERS that are not in crawler/: {missing}"
    assert len(PURE_FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(CRAWLER)) for path in FILES])
def test_the_import_contract(path: Path) -> None:
    problems = violations(path.read_text(encoding="utf-8"), path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("where", "source", "message"),
    [
        (
            "sina/list_pages.py",
            "from crawler.hexo.body import process_body\n",
            "crawler/sina/list_pages.py:1 imports crawler.hexo.body: crawler.sina (Sina's facts, the post format, "
            "storage (pure)) may not import crawler.hexo, another unit of its own layer",
        ),
        (
            "config.py",
            "def f():\n    from crawler.cluster import worker\n",
            "crawler/config.py:2 imports crawler.cluster.worker: crawler.config (the typed configuration; the item) "
            "may not import crawler.cluster, a layer above (a cluster's parts)",
        ),
        (
            "net/urls.py",
            "from crawler import config\n",
            "crawler/net/urls.py:1 imports crawler.config: crawler.net (network rules and URL resolution (pure)) "
            "may not import crawler.config, a layer above",
        ),
        (
            "hexo/post.py",
            "from .. import sina\n",
            "crawler/hexo/post.py:1 imports crawler.sina: crawler.hexo",
        ),
        (
            "storage/files.py",
            "import scrapy.http\n",
            "crawler/storage/files.py:1 imports scrapy.http: crawler.storage is pure",
        ),
        ("newcomer.py", "", "crawler/newcomer.py is in no layer: add it"),
        ("spiders/x.py", "from crawler.nowhere import y\n", "imports crawler.nowhere, which is in no layer"),
    ],
)
def test_an_arrow_back_up_fails_with_a_clear_message(where: str, source: str, message: str) -> None:
    problems = violations(source, CRAWLER / where)
    assert len(problems) == 1 and message in problems[0], problems


def test_arrows_down_and_within_a_unit_pass() -> None:
    assert (
        violations("from crawler.net.urls import resolve_url\nimport crawler.net.addresses\n", CRAWLER / "hexo/body.py")
        == []
    )
    assert (
        violations("from crawler.spiders import arguments\nfrom crawler import config\n", CRAWLER / "spiders/x.py")
        == []
    )


def test_importing_the_pure_layers_loads_no_scrapy() -> None:
    modules = [module_name(path) for path in PURE_FILES]
    code = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_PURE!r}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded
