"""Unit tests of issue 17's storage rules: only real rasters are stored, and under their
real extension (crawler.storage.rasters); the image caps are settings checked at start;
a path read back from the state is checked as a new one is, and a bad row never places
a write (crawler.storage.files, crawler.pipelines.post_paths).  End to end:
test_e2e_images_state.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crawler.config import ConfigError, load_output
from crawler.storage.files import UnsafePath, checked_post_path, relative_path_problem
from crawler.storage.rasters import raster_extension, raster_type
from tests.support import rasters
from tests.support.settings import project_settings
from tests.test_pipeline import _item, _Posts

# --- which bytes are a raster -----------------------------------------------------------

SNIFFED = [
    ("jpeg", rasters.JPEG, "jpeg"),
    ("jpeg, no JFIF", b"\xff\xd8\xff\xdb\x00\x43", "jpeg"),
    ("jpeg cut", b"\xff\xd8", None),
    ("png", rasters.png_1x1(), "png"),
    ("png cut", b"\x89PNG\r\n", None),
    ("gif89a", rasters.GIF_1X1, "gif"),
    ("gif87a", rasters.GIF87A, "gif"),
    ("gif88a", b"GIF88a\x01\x00", None),
    ("webp", rasters.WEBP, "webp"),
    ("riff wave", b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
    ("avif", rasters.avif(), "avif"),
    ("avis", rasters.avif(b"avis"), "avif"),
    ("avif compatible", rasters.avif(b"mif1", (b"miaf", b"avif")), "avif"),
    ("heic", rasters.avif(b"heic", (b"mif1", b"heic")), None),
    ("mp4", rasters.avif(b"isom", (b"isom", b"mp41")), None),
    ("ftyp size 0", b"\x00\x00\x00\x00ftypavif\x00\x00\x00\x00", None),
    ("ftyp size 1", b"\x00\x00\x00\x01ftypavif\x00\x00\x00\x00", None),
    ("ftyp too large", b"\x7f\xff\xff\xf0ftypavif\x00\x00\x00\x00", None),
    ("svg with a script", rasters.SVG_WITH_SCRIPT, None),
    ("bare svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', None),
    ("svg after a BOM", b"\xef\xbb\xbf<svg/>", None),
    ("html", rasters.HTML_PAGE, None),
    ("gif+html polyglot", rasters.GIF_HTML_POLYGLOT, "gif"),
    ("html, then a gif", rasters.HTML_THEN_GIF, None),
    ("a space, then a gif", b" " + rasters.GIF_1X1, None),
    ("bmp", b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00", None),
    ("tiff", b"II*\x00\x08\x00\x00\x00", None),
    ("ico", b"\x00\x00\x01\x00\x01\x00", None),
    ("pdf", b"%PDF-1.7\n", None),
    ("json", b'{"error": "not found"}', None),
    ("empty", b"", None),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in SNIFFED], ids=[n for n, _, _ in SNIFFED])
def test_the_type_comes_from_the_signature_only(data: bytes, expected: str | None) -> None:
    assert raster_type(data) == expected


def test_the_extension_follows_the_type() -> None:
    assert raster_extension(rasters.JPEG) == ".jpg"
    assert raster_extension(rasters.png_1x1()) == ".png"
    assert raster_extension(rasters.GIF_HTML_POLYGLOT) == ".gif"
    assert raster_extension(rasters.WEBP) == ".webp"
    assert raster_extension(rasters.avif()) == ".avif"
    assert raster_extension(rasters.SVG_WITH_SCRIPT) is None


# --- the image caps are settings, checked at start --------------------------------------


def test_image_caps_default_and_override(tmp_path: Path) -> None:
    output = load_output(project_settings())
    assert (output.images_max_per_post, output.images_max_bytes_per_run) == (100, 2 * 1024**3)
    output = load_output(project_settings({"HEXO_IMAGES_MAX_PER_POST": "0", "HEXO_IMAGES_MAX_BYTES_PER_RUN": "5000"}))
    assert (output.images_max_per_post, output.images_max_bytes_per_run) == (0, 5000)
    own = tmp_path / "output.yaml"
    own.write_text("images_max_per_post: 7\nimages_max_bytes_per_run: 1000\n", encoding="utf-8")
    output = load_output(project_settings({"SINA_OUTPUT_FILE": str(own)}))
    assert (output.images_max_per_post, output.images_max_bytes_per_run) == (7, 1000)
    output = load_output(project_settings({"SINA_OUTPUT_FILE": str(own), "HEXO_IMAGES_MAX_PER_POST": 0}))
    assert output.images_max_per_post == 0, "a setting of 0 is a value, not 'unset'"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HEXO_IMAGES_MAX_PER_POST", "-1"),
        ("HEXO_IMAGES_MAX_PER_POST", "ten"),
        ("HEXO_IMAGES_MAX_PER_POST", "1.5"),
        ("HEXO_IMAGES_MAX_BYTES_PER_RUN", "-2147483648"),
        ("HEXO_IMAGES_MAX_BYTES_PER_RUN", "2GiB"),
    ],
)
def test_a_wrong_image_cap_stops_the_crawl_with_its_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}='{value}': expected a whole number, 0 or more$"):
        load_output(project_settings({name: value}))


# --- a path read back is checked as a new one is ----------------------------------------

PATHS = [
    ("金融/新浪财经/新浪财经－国內/标题.md", None),
    ("a.md", None),
    ("../../x.md", "a '..' component"),
    ("金融/../../x.md", "a '..' component"),
    ("金融/..", "a '..' component"),
    ("/etc/cron.d/x.md", "absolute"),
    ("//host/share/x.md", "absolute"),
    ("C:/x.md", "absolute"),
    ("", "empty"),
    ("a//b.md", "an empty or '.' component"),
    ("./a.md", "an empty or '.' component"),
    ("a/", "an empty or '.' component"),
    ("a\\..\\..\\x.md", "a NUL or a backslash in it"),
    ("a\x00.md", "a NUL or a backslash in it"),
    ("_config.yml", "not a post's file name (name.md)"),
    ("a/.md", "not a post's file name (name.md)"),
]


@pytest.mark.parametrize(("relative", "problem"), PATHS, ids=[repr(p) for p, _ in PATHS])
def test_relative_path_problem(relative: str, problem: str | None) -> None:
    assert relative_path_problem(relative) == problem


def test_a_path_that_is_not_text_is_refused() -> None:
    assert relative_path_problem(b"a.md") == "not text"  # type: ignore[arg-type]  # SQLite is typeless


def test_no_symbolic_link_folder_on_the_way(tmp_path: Path) -> None:
    root, outside = tmp_path / "posts", tmp_path / "outside"
    outside.mkdir()
    (root / "a").mkdir(parents=True)
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    (root / "top").symlink_to(outside, target_is_directory=True)
    for relative in ("a/link/x.md", "top/x.md", "a/link/deeper/x.md"):
        with pytest.raises(UnsafePath, match="is a symbolic link"):
            checked_post_path(root, relative)
    assert checked_post_path(root, "a/b/c/x.md") == root / "a" / "b" / "c" / "x.md", "missing folders are fine"
    # The posts folder itself may be a link (the user's choice); what is below it is checked.
    linked_root = tmp_path / "linked-posts"
    linked_root.symlink_to(root, target_is_directory=True)
    assert checked_post_path(linked_root, "a/x.md") == linked_root / "a" / "x.md"
    with pytest.raises(UnsafePath):
        checked_post_path(linked_root, "a/link/x.md")


def _set_path(posts: _Posts, publishid: str, path: str) -> None:
    with sqlite3.connect(posts.run.output.state_db) as db:
        db.execute("UPDATE articles SET path = ? WHERE publishid = ?", (path, publishid))
    db.close()


def _rows(posts: _Posts) -> dict[str, str]:
    with sqlite3.connect(posts.run.output.state_db) as db:
        rows = dict(db.execute("SELECT publishid, path FROM articles").fetchall())
    db.close()
    return rows


@pytest.mark.parametrize("bad", ["dotdot", "absolute", "symlinked"])
def test_a_bad_state_row_never_places_a_write(tmp_path: Path, bad: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "x.md"
    victim.write_bytes(b"do not touch")
    posts = _Posts(tmp_path / "site")
    item = posts.process(_item())
    fresh = item.path
    assert fresh is not None
    (posts.root / fresh).unlink()
    if bad == "dotdot":
        row = "../../outside/x.md"
    elif bad == "absolute":
        row = str(victim)
    else:
        (posts.root / "linked").symlink_to(outside, target_is_directory=True)
        row = "linked/x.md"
    _set_path(posts, item.post.publishid, row)
    again = posts.process(_item())
    posts.close()
    assert again.path == fresh
    assert victim.read_bytes() == b"do not touch"
    assert sorted(p.name for p in outside.iterdir()) == ["x.md"]
    assert (posts.root / fresh).is_file()
    assert _rows(posts) == {item.post.publishid: fresh}, "the bad row is replaced"
    assert posts.stats.get_value("sina/state/unsafe_path") == 1
    assert posts.stats.get_value("sina/posts/restored") is None
    assert posts.stats.get_value("sina/posts/updated") == 1
    assert [line["path"] for line in posts.manifest()] == [fresh, fresh]
    assert json.dumps(row)[1:-1] not in posts.run.output.manifest.read_text(encoding="utf-8")
