"""HEXO_IMAGE_URLS=root against real Hexo 7: for each permalink rule, root and time zone,
the URL crawler.hexo.permalink computes for a file beside a post is the place Hexo
publishes that file (PostAsset.path under the site root, ``post_asset_folder: true``),
for posts whose Beijing and UTC days differ and whose names hold ``%``, spaces and
Chinese."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from crawler.hexo import permalink
from crawler.hexo.fields import yaml_quote
from tests.support.hexo import HEXO_DIR, hexo_installed, not_installed_message, run_hexo_script

pytestmark = [pytest.mark.e2e, pytest.mark.hexo]

POSTS = {  # path under source/_posts -> date
    "金融/新浪财经/新浪财经－国內/海关总署：1.03亿户.md": datetime(
        2022, 1, 24, 23, 30, 5, tzinfo=UTC
    ),  # Beijing: the 25th
    "金融/新浪财经/新浪财经－股市/涨5% 收盘.md": datetime(2022, 1, 24, 3, 2, 7, tzinfo=UTC),
    "top.md": datetime(2021, 12, 31, 16, 0, 0, tzinfo=UTC),  # Beijing: 2022-01-01 00:00
}


@pytest.fixture(scope="module")
def posts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not hexo_installed():
        pytest.fail(not_installed_message(), pytrace=False)
    root = tmp_path_factory.mktemp("asset-posts")
    for relative, date in POSTS.items():
        post = root / relative
        post.parent.mkdir(parents=True, exist_ok=True)
        title = yaml_quote(post.stem)
        post.write_text(f"\n---\ntitle: {title}\ndate: {format_datetime(date, usegmt=True)}\n---\n\nx\n", "utf-8")
        folder = post.with_suffix("")
        folder.mkdir()
        (folder / "0123456789abcdef0123.jpg").write_bytes(b"\xff\xd8\xff")
    return root


@pytest.mark.parametrize(
    ("rule", "root", "tz"),
    [
        (":year/:month/:day/:title/", "/", "Asia/Shanghai"),
        (":year/:month/:day/:title/", "/", "UTC"),
        (":year/:month/:day/:title/", "/blog/", "America/New_York"),
        (":year/:i_month/:i_day/:name.html", "/", "Asia/Shanghai"),
        (":year:month:day-:hour:minute:second/:name", "/x/y/", "Asia/Shanghai"),
    ],
)
def test_asset_url_is_where_hexo_publishes_the_file(posts_dir: Path, rule: str, root: str, tz: str) -> None:
    found = run_hexo_script(HEXO_DIR / "asset_paths.js", [str(posts_dir), rule, root], "list assets", 120, tz=tz)
    assert sorted(record["source"] for record in found) == sorted(POSTS)
    site = permalink.SitePermalink(rule=rule, root=root, zone=permalink.zone(tz))
    for record in found:
        (published,) = record["assets"]
        name = published.rsplit("/", 1)[1]
        expected = root + quote(published, safe="/")
        assert permalink.asset_url(site, record["source"], POSTS[record["source"]], name) == expected, record
