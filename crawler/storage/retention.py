"""Removing a post of ours from the posts folder (retention: ``-a keep_days`` /
``-a keep_posts``), and nothing that is not ours.

Invariant: a file is removed only when it is ours now.  The post: at the path its state
row records, reached through no symbolic link (checked_post_path), a regular file whose
bytes are still the ones the row's sha256 says we wrote (the rule the move off a ``_``
name follows).  Its images: in its asset folder (a real folder), regular files named as
the crawler names them (``<20 hex digits>.<raster extension>``) whose bytes are a raster
of that extension (the rule a later run uses to take an image as its own), removed only
while the post is there and ours.  The asset folder itself goes only once it is empty.
Nothing here follows a symbolic link or deletes a folder that holds anything.

Order, so that a crash (``kill -9``) at any point leaves nothing half-removed for good:
the images, then the post (then, by the caller, the manifest line and the state row).  A
post found still there is finished by the next run; a post found gone with its row still
there only has its row and line to finish (check_post says ``gone``)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from crawler.storage.files import UnsafePath, checked_post_path, fsync_paths
from crawler.storage.rasters import RASTER_EXTENSIONS, raster_extension

_ASSET_NAME = re.compile(r"^[0-9a-f]{20}(\.[a-z]+)$")  # crawler.pipelines.local_images.asset_stem + extension
_OUR_EXTENSIONS = frozenset(RASTER_EXTENSIONS.values())

OURS, GONE, EDITED, UNSAFE, UNREADABLE = "ours", "gone", "edited", "unsafe", "unreadable"


@dataclass(frozen=True, slots=True)
class PostCheck:
    """What is at a state row's path: ``ours`` (``data`` holds its bytes), ``gone``,
    ``edited`` (something else is there now), ``unsafe`` (the path may not be used) or
    ``unreadable`` (an error reading it: nothing can be said now); ``detail`` says why."""

    status: str
    path: Path | None = None
    data: bytes = b""
    detail: str = ""


def check_post(root: Path, relative: str, sha256: str) -> PostCheck:
    """Whether the post the state recorded at ``relative`` is still there, as we wrote it."""
    try:
        path = checked_post_path(root, relative)
    except UnsafePath as exc:
        return PostCheck(UNSAFE, detail=str(exc))
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            return PostCheck(EDITED, path, detail="not a regular file")
        data = _read_no_follow(path)
    except FileNotFoundError:
        return PostCheck(GONE, path)
    except OSError as exc:
        return PostCheck(UNREADABLE, path, detail=exc.strerror or str(exc))
    if hashlib.sha256(data).hexdigest() != sha256:
        return PostCheck(EDITED, path, detail="its bytes are not the ones we wrote")
    return PostCheck(OURS, path, data)


def remove_post(root: Path, relative: str) -> list[Path]:
    """Remove the post at ``relative`` (checked ours by check_post), its images first;
    returns the folders whose entries changed (to be made durable: fsync_folders)."""
    post = checked_post_path(root, relative)
    folders = {post.parent}
    assets = post.with_suffix("")  # a/b/c/title.md -> a/b/c/title: Hexo's post_asset_folder
    if _real_folder(assets):
        removed = False
        with os.scandir(assets) as entries:
            for entry in sorted(entries, key=lambda entry: entry.name):
                if _our_image(entry):
                    _unlink(Path(entry.path))
                    removed = True
        if removed:
            folders.add(assets)
        try:
            os.rmdir(assets)  # only when empty: a file of the user's keeps it
            folders.add(assets.parent)
        except OSError:
            pass
    _unlink(post)
    return sorted(folders)


def fsync_folders(folders: list[Path]) -> None:
    """Make the removals in these folders durable (a power cut does not bring a post back
    after its row is gone); a folder gone since is skipped."""
    fsync_paths([folder for folder in dict.fromkeys(folders) if folder.is_dir()])


def front_matter_date(data: bytes) -> int | None:
    """A post's date, Unix seconds, from its front matter's ``date:`` line (RFC 1123, as the
    post format writes it); None when the post has no such line.  For rows written before
    the state kept dates, read from a post whose bytes are ours."""
    inside = False
    for line in data.split(b"\n"):
        if line == b"---":
            if inside:
                return None
            inside = True
        elif not inside and line.strip():
            return None
        elif inside and line.startswith(b"date: "):
            try:
                return int(parsedate_to_datetime(line[len(b"date: ") :].decode("ascii").strip()).timestamp())
            except (ValueError, TypeError, UnicodeDecodeError):
                return None
    return None


def _real_folder(folder: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(folder).st_mode)  # a symbolic link is not followed
    except OSError:
        return False


def _our_image(entry: os.DirEntry[str]) -> bool:
    """Named and made as the crawler stores an image: a regular file, a hash name, and the
    bytes of a raster of its extension."""
    match = _ASSET_NAME.match(entry.name)
    if match is None or match.group(1) not in _OUR_EXTENSIONS or not entry.is_file(follow_symlinks=False):
        return False
    try:
        return raster_extension(_read_no_follow(Path(entry.path))) == match.group(1)
    except OSError:
        return False


def _unlink(path: Path) -> None:
    """One removal (tests count them to stop the process between two)."""
    path.unlink(missing_ok=True)


def _read_no_follow(path: Path) -> bytes:
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(handle, "rb") as existing:
        return existing.read()
