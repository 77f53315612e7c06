"""HEXO_IMAGE_URLS=root (issue 20): the path from the site root at which Hexo publishes an
image stored beside a post, computed as Hexo computes its own asset paths (its
post_permalink filter, hexo-util's Permalink, PostAsset.path); the settings read and
checked at start; the URL written into BODY so that it reads back as itself (rule 9)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import ConfigError, load_output
from crawler.hexo import permalink
from crawler.hexo.body import process_body
from crawler.hexo.html_serializer import TreeSerializer
from crawler.hexo.permalink import SitePermalink, asset_url, check_root, check_rule, post_permalink
from crawler.hexo.post import with_local_images
from tests.support.settings import project_settings

POST = "金融/新浪财经/新浪财经－国內/海关总署.md"
FOLDER = (  # POST without .md, percent-encoded
    "%E9%87%91%E8%9E%8D/%E6%96%B0%E6%B5%AA%E8%B4%A2%E7%BB%8F/"
    "%E6%96%B0%E6%B5%AA%E8%B4%A2%E7%BB%8F%EF%BC%8D%E5%9B%BD%E5%85%A7/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2"
)
# 2022-01-24 23:30 UTC is 2022-01-25 07:30 in Beijing: the day differs.
MORNING = datetime(2022, 1, 24, 23, 30, 5, tzinfo=UTC)


def site(rule: str = ":year/:month/:day/:title/", root: str = "/", tz: str = "Asia/Shanghai") -> SitePermalink:
    return SitePermalink(rule=rule, root=root, zone=permalink.zone(tz))


@pytest.mark.parametrize(
    ("rule", "root", "tz", "expected"),
    [
        (":year/:month/:day/:title/", "/", "Asia/Shanghai", f"/2022/01/25/{FOLDER}/a.jpg"),
        (":year/:month/:day/:title/", "/", "UTC", f"/2022/01/24/{FOLDER}/a.jpg"),
        (":year/:month/:day/:title/", "/blog/", "Asia/Shanghai", f"/blog/2022/01/25/{FOLDER}/a.jpg"),
        (":year/:i_month/:i_day/:name/", "/", "UTC", "/2022/1/24/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2/a.jpg"),
        # No final slash: Hexo adds one with post_asset_folder; .html is taken off.
        (":year/:title", "/", "UTC", f"/2022/{FOLDER}/a.jpg"),
        (":year/:month/:name.html", "/", "UTC", "/2022/01/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2/a.jpg"),
        ("posts/:year:month:day-:hour:minute:second/", "/", "Asia/Shanghai", "/posts/20220125-073005/a.jpg"),
        # hexo-util reads `:year_` as :year then `_` (a name ends in a letter or digit).
        (":year_:month/:name/", "/", "UTC", "/2022_01/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2/a.jpg"),
        ("/:year/:name/", "/", "UTC", "/2022/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2/a.jpg"),
        (":year/:name/", "/", "America/New_York", "/2022/%E6%B5%B7%E5%85%B3%E6%80%BB%E7%BD%B2/a.jpg"),
    ],
)
def test_asset_url_follows_hexo_permalink_rules(rule: str, root: str, tz: str, expected: str) -> None:
    assert asset_url(site(rule, root, tz), POST, MORNING, "a.jpg") == expected


def test_the_date_parts_are_in_the_zone_hexo_runs_in() -> None:
    assert post_permalink(":year/:month/:day/:hour/", "x", MORNING.astimezone(permalink.zone("UTC"))) == (
        "2022/01/24/23/"
    )
    new_york = MORNING.astimezone(permalink.zone("America/New_York"))
    assert post_permalink(":i_month/:i_day/:hour:minute/", "x", new_york) == "1/24/1830/"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("涨5%", "%E6%B6%A85%25"),  # % itself: the file is named with a %
        ("a b", "a%20b"),
        ("a&b'c~d", "a%26b%27c~d"),
        ("x?y#z", "x%3Fy%23z"),
    ],
)
def test_a_name_reaches_its_file_whatever_it_holds(name: str, encoded: str) -> None:
    assert asset_url(site(":name/"), f"c/{name}.md", MORNING, "f.png") == f"/{encoded}/f.png"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (":year/:month/:day/:title/", None),
        (":year/:id/", "placeholder(s) :id not supported"),
        (":hash/:post_title/:category/", "placeholder(s) :category, :hash, :post_title not supported"),
        (":year/:lang/:title/", "placeholder(s) :lang not supported"),
        ("  ", "empty"),
    ],
)
def test_check_rule(rule: str, problem: str | None) -> None:
    found = check_rule(rule)
    assert found == problem if problem is None else (found or "").startswith(problem)


@pytest.mark.parametrize(("root", "ok"), [("/", True), ("/blog/", True), ("blog/", False), ("/blog", False)])
def test_check_root(root: str, ok: bool) -> None:
    assert (check_root(root) is None) == ok


def test_root_urls_are_written_so_that_body_reads_back_as_itself() -> None:
    """The URL goes into BODY through the serializer's attribute escape: parsed as the
    reader's browser parses the post and written again (rule 9), BODY is the same, and
    the <img> asks for the URL."""
    url = "https://n.sinaimg.cn/finance/a.jpg"
    body = process_body(f'<p><img src="{url}"></p><p>x</p>', "https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml")
    local = {url: asset_url(site(":year/:name/"), "c/x'~`=href=\"<a>.md", MORNING, "0123.jpg")}
    html, headimg = with_local_images(body.html, body.image_spans, (body.first_image or "", url), local)
    assert headimg is not None and headimg.startswith("/2022/")
    container = LexborHTMLParser(f"<!DOCTYPE html><body><div>{html}</div>").css_first("body > div")
    assert container is not None
    assert TreeSerializer(final=True, pre_line_feeds=True).children(container) == html
    img = container.css_first("img")
    assert img is not None and img.attributes["src"] == local[url]
    assert "href=" not in html and "`" not in html


# --- the settings ----------------------------------------------------------------------


def test_the_defaults_keep_todays_bytes() -> None:
    output = load_output(project_settings())
    assert output.image_urls == "relative"
    assert (output.site.rule, output.site.root, str(output.site.zone)) == (
        ":year/:month/:day/:title/",
        "/",
        "Asia/Shanghai",
    )


def test_root_is_read_with_the_site_settings(tmp_path: Path) -> None:
    own = tmp_path / "output.yaml"
    own.write_text("images: local\nimage_urls: root\nsite_root: /blog/\nsite_tz: UTC\n", encoding="utf-8")
    output = load_output(project_settings({"SINA_OUTPUT_FILE": str(own), "HEXO_SITE_PERMALINK": ":year/:name/"}))
    assert (output.image_urls, output.site.rule, output.site.root, str(output.site.zone)) == (
        "root",
        ":year/:name/",
        "/blog/",
        "UTC",
    )


def test_root_urls_and_the_site_are_part_of_the_post_format(tmp_path: Path) -> None:
    """A post written with other image URLs counts as not written (the state compares the
    format), so switching mode or site rewrites it the next time it is listed."""
    relative = load_output(project_settings({"HEXO_IMAGES": "local"})).post_format
    root = load_output(project_settings({"HEXO_IMAGES": "local", "HEXO_IMAGE_URLS": "root"})).post_format
    other_site = load_output(
        project_settings({"HEXO_IMAGES": "local", "HEXO_IMAGE_URLS": "root", "HEXO_SITE_ROOT": "/blog/"})
    ).post_format
    assert relative == load_output(project_settings()).post_format, "relative URLs: today's format"
    assert root == relative + ";images=root:/:year/:month/:day/:title/@Asia/Shanghai"
    assert len({relative, root, other_site}) == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"HEXO_IMAGE_URLS": "absolute"}, "HEXO_IMAGE_URLS='absolute': expected one of relative, root"),
        ({"HEXO_IMAGE_URLS": "root"}, "HEXO_IMAGE_URLS=root needs HEXO_IMAGES=local (HEXO_IMAGES='remote'"),
        ({"HEXO_SITE_PERMALINK": ":year/:id/"}, "HEXO_SITE_PERMALINK=':year/:id/': placeholder(s) :id not supported"),
        ({"HEXO_SITE_ROOT": "blog"}, "HEXO_SITE_ROOT='blog': expected a path that begins and ends with /"),
        ({"HEXO_SITE_TZ": "Beijing"}, "HEXO_SITE_TZ: 'Beijing' is not an IANA time zone"),
        ({"HEXO_SITE_TZ": "../etc/passwd"}, "HEXO_SITE_TZ: '../etc/passwd' is not an IANA time zone"),
    ],
)
def test_a_bad_value_stops_the_crawl_at_start(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_output(project_settings(settings))
    assert str(raised.value).startswith(message)
