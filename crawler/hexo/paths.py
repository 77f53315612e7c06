"""Where a post goes (spec §4): folders from the categories, name from the title."""

from __future__ import annotations

from collections.abc import Sequence

# The 2022 generator's rule, kept so an existing blog's posts keep their paths.
_REPLACED = str.maketrans({ch: "_" for ch in ":/\\?*“”<>|[]"})
_REMOVED = str.maketrans({"\n": None, "\r": None, "#": None, ".": None})
UNPUBLISHED_PREFIX = "_"  # Hexo never publishes a file whose name begins with it
MAX_NAME_BYTES = 255  # NAME_MAX of ext4, btrfs, xfs, APFS
SUFFIX = ".md"


def sanitise_file_stem(title: str) -> str:
    """The 2022 rule, then the underscores at the start go: Hexo never publishes a file
    whose name begins with ``_`` (``“一带一路”…`` gives ``一带一路_…``)."""
    return title.translate(_REMOVED).translate(_REPLACED).lstrip(UNPUBLISHED_PREFIX)


def _fits(stem: str) -> bool:
    return len((stem + SUFFIX).encode("utf-8")) <= MAX_NAME_BYTES


def shorten_stem(stem: str, publishid: str) -> str:
    """Cut at a character boundary so ``<stem>_<publishid>.md`` fits NAME_MAX."""
    tail = f"_{publishid}"
    while stem and not _fits(stem + tail):
        stem = stem[:-1]
    return stem + tail


def post_file_name(title: str, publishid: str, *, disambiguate: bool = False) -> str:
    """File name of a post; ``disambiguate`` adds ``_<publishid>`` (name taken)."""
    stem = sanitise_file_stem(title)
    if not stem.strip():
        stem = publishid
    if disambiguate or not _fits(stem):
        stem = shorten_stem(stem, publishid)
    return stem + SUFFIX


def post_relative_path(categories: Sequence[str], file_name: str) -> str:
    """``<category 1>/<category 2>/<category 3>/<file name>`` (POSIX separators).

    A plain join: crawler.config admits no empty, ``.``, ``..`` or ``/``-holding category,
    and the file name is sanitised (pathlib would also intern every post's name)."""
    return "/".join((*categories, file_name))
