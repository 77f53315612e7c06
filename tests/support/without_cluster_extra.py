"""Python as a core install (``pip install .``, no ``[cluster]`` extra) has it: ``redis``
and ``scrapy_redis`` cannot be imported, installed or not.  A finder placed first on
``sys.meta_path`` refuses them, and everything below them, before any other code runs.

    python -m tests.support.without_cluster_extra scrapy list
    python -m tests.support.without_cluster_extra scrapy crawl sina_finance_worker
    python -m tests.support.without_cluster_extra -c 'import crawler.cluster.worker'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = ("redis", "scrapy_redis")  # the top-level packages of the `cluster` extra


class ClusterExtraBlocker(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None  # the other finders look for it as usual


def block_cluster_extra() -> None:
    loaded = [name for name in sys.modules if name.split(".")[0] in BLOCKED]
    if loaded:
        raise RuntimeError(f"already imported, cannot be blocked: {', '.join(loaded)}")
    sys.meta_path.insert(0, ClusterExtraBlocker())


def main(argv: list[str]) -> None:
    block_cluster_extra()
    if argv[:1] == ["-c"] and len(argv) == 2:
        exec(compile(argv[1], "<-c>", "exec"), {"__name__": "__main__"})
    elif argv[:1] == ["scrapy"]:
        from scrapy.cmdline import execute

        execute(argv)  # exits with the command's code
    else:
        raise SystemExit(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
