"""settings/*.yaml: read once, typed, and every mistake named by file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import (
    ColumnSection,
    ConfigError,
    FeedSection,
    PageSection,
    RollSection,
    Section,
    ZhiboSection,
    load_output,
    load_sections,
    parse_sections,
    select_sections,
)
from crawler.spiders.arguments import SpiderArguments
from tests.support.settings import project_settings

GOOD = """\
sections:
  - id: china
    name: 国内滚动
    kind: roll
    pageid: 155
    lid: "1686"
    categories: [金融, 新浪财经, 新浪财经－国內]
    author: 新浪财经
  - id: macro
    name: 宏观经济
    kind: roll
    pageid: "155"
    lid: "1687"
    categories: [金融, 新浪财经, 新浪财经－宏观经济]
    author: 新浪财经
    enabled: false
"""


def test_packaged_sections() -> None:
    sections = load_sections(project_settings())
    china = sections[0]
    assert isinstance(china, RollSection)
    assert (china.id, china.pageid, china.lid) == ("china", "155", "1686")
    assert china.categories == ("金融", "新浪财经", "新浪财经－国內")
    assert [ord(ch) for ch in china.categories[2][-3:]] == [0xFF0D, 0x56FD, 0x5167]
    assert china.author == "新浪财经"
    lids = {(section.pageid, section.lid) for section in sections if isinstance(section, RollSection)}
    kinds = {type(section) for section in sections}
    assert kinds == {RollSection, ColumnSection, PageSection, ZhiboSection, FeedSection}
    assert all(section.url.startswith("https://") for section in sections if isinstance(section, PageSection))
    for lid in ("1687", "1688", "1689", "1690", "3231"):
        assert ("155", lid) in lids
    for lid in ("2519", "2671", "2672", "2673", "2674", "2675", "2676", "2487"):
        assert ("384", lid) in lids


# One channel, one spelling: the third category names the channel.  Two spellings of one
# channel are the same name once Sina's prefix is gone, the traditional characters Sina's
# own pages mix in are read as simplified (the sample's 內), and the words that name a kind
# of list rather than a channel (频道: a channel's page, 栏目: a column, 滚动: a roll list)
# are left out: 国內, 国内频道 and 国内滚动 are one channel; 港股 and 港股公司新闻 are two.
_CATEGORY_PREFIX = "新浪财经－"
_TRADITIONAL = str.maketrans({"內": "内", "國": "国", "滾": "滚", "動": "动", "財": "财", "經": "经", "際": "际"})
_LIST_WORDS = ("频道", "栏目", "滚动")


def channel_of(category: str) -> str:
    name = category.removeprefix(_CATEGORY_PREFIX).translate(_TRADITIONAL)
    for word in _LIST_WORDS:
        name = name.replace(word, "")
    return name.strip().casefold()


def spellings(sections: tuple[Section, ...]) -> dict[str, set[tuple[str, str, str]]]:
    """Channel -> the categories its sections give, where there is more than one."""
    found: dict[str, set[tuple[str, str, str]]] = {}
    for section in sections:
        found.setdefault(channel_of(section.categories[2]), set()).add(section.categories)
    return {name: spelt for name, spelt in found.items() if len(spelt) > 1}


def test_the_shipped_sections_spell_each_channel_one_way() -> None:
    """Articles, galleries, videos and flashes of one channel share one category,
    whichever kind of section lists them."""
    sections = load_sections(project_settings())
    assert spellings(sections) == {}
    channels = {channel_of(section.categories[2]) for section in sections}
    assert {"国内", "港股", "美股", "外汇", "7x24"} <= channels


def test_two_spellings_of_one_channel_are_found() -> None:
    """The check reads the spellings the shipped file had side by side as one channel."""
    assert (
        channel_of("新浪财经－国內") == channel_of("新浪财经－国内频道") == channel_of("新浪财经－国内滚动") == "国内"
    )
    assert channel_of("新浪财经－外汇栏目") == channel_of("新浪财经－外汇") == "外汇"
    assert channel_of("新浪财经－港股公司新闻") != channel_of("新浪财经－港股")
    roll = "{id: a, name: a, kind: roll, pageid: '155', lid: '1686', categories: [金, 新, 新浪财经－国內], author: x}"
    page = "{id: b, name: b, kind: page, url: 'https://x.cn/', categories: [金, 新, 新浪财经－国内频道], author: x}"
    old = parse_sections(f"sections:\n  - {roll}\n  - {page}\n", "old.yaml")
    assert list(spellings(old)) == ["国内"]


def test_sections_parse_and_select() -> None:
    sections = parse_sections(GOOD, "s.yaml")
    china = sections[0]
    assert isinstance(china, RollSection) and china.pageid == "155"  # numbers are read as text
    assert [s.id for s in select_sections(sections, None)] == ["china"]  # macro disabled
    assert [s.id for s in select_sections(sections, "macro,china")] == ["china", "macro"]  # yaml order
    with pytest.raises(ConfigError, match="unknown section"):
        select_sections(sections, "china,nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("    author: 新浪财经\n  - id: macro", "    autor: x\n  - id: macro"),
            "s.yaml:8: unknown key 'autor'",
        ),
        (GOOD + "  - id: china\n", "s.yaml:17: section misses key"),
        (
            GOOD.replace("kind: roll\n    pageid: 155", "kind: rss\n    pageid: 155"),
            "s.yaml:4: key 'kind': 'rss'",
        ),
        (GOOD.replace("[金融, 新浪财经, 新浪财经－国內]", "[金融, 新浪财经]"), "s.yaml:7: key 'categories'"),
        (
            GOOD.replace("[金融, 新浪财经, 新浪财经－国內]", "[金融, 新浪财经, a/b]"),
            "s.yaml:7: key 'categories'",
        ),
        (
            GOOD.replace("[金融, 新浪财经, 新浪财经－国內]", "[金融, 新浪财经, '{x}']"),
            "s.yaml:7: key 'categories'",
        ),
        (GOOD.replace("enabled: false", "enabled: maybe"), "s.yaml:16: key 'enabled'"),
        (GOOD.replace("id: macro", "id: china"), "s.yaml:9: key 'id': section 'china' is defined twice"),
        (GOOD.replace("id: macro", "id: Macro!"), "s.yaml:9: key 'id'"),
        ("sections:\n  - id: [x\n", "s.yaml:3: invalid YAML"),
        ("sektions: []\n", "s.yaml:1: unknown key 'sektions'"),
        ("", "s.yaml: empty file"),
    ],
)
def test_sections_errors_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_sections(text, "s.yaml")
    assert message in str(error.value)


def test_output_defaults_and_override(tmp_path: Path) -> None:
    assert load_output(project_settings()).posts_dir.parts[-3:] == ("output", "source", "_posts")
    assert load_output(project_settings({"HEXO_POSTS_DIR": str(tmp_path / "p")})).posts_dir == tmp_path / "p"
    own = tmp_path / "output.yaml"
    own.write_text("posts_dir: /srv/blog/source/_posts\n", encoding="utf-8")
    assert str(load_output(project_settings({"SINA_OUTPUT_FILE": str(own)})).posts_dir) == "/srv/blog/source/_posts"
    own.write_text("post_dir: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"output.yaml:1: unknown key 'post_dir'"):
        load_output(project_settings({"SINA_OUTPUT_FILE": str(own)}))


def test_body_style(tmp_path: Path) -> None:
    assert load_output(project_settings()).body_style == "clean"
    assert load_output(project_settings()).post_format == "3/clean"
    assert load_output(project_settings({"HEXO_BODY": "sample"})).body_style == "sample"
    own = tmp_path / "output.yaml"
    own.write_text("body: sample\n", encoding="utf-8")
    assert load_output(project_settings({"SINA_OUTPUT_FILE": str(own)})).body_style == "sample"
    assert load_output(project_settings({"SINA_OUTPUT_FILE": str(own), "HEXO_BODY": "clean"})).body_style == "clean"
    with pytest.raises(ConfigError, match=r"HEXO_BODY='Clean': expected one of clean, sample"):
        load_output(project_settings({"HEXO_BODY": "Clean"}))


def test_missing_sections_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_sections(project_settings({"SINA_SECTIONS_FILE": str(tmp_path / "nope.yaml")}))


def test_spider_arguments() -> None:
    args = SpiderArguments.from_kwargs({"sections": "china", "pages": "3", "since": "2026-09-21", "refresh": "yes"})
    assert (args.sections, args.pages, str(args.since), args.refresh) == ("china", 3, "2026-09-21", True)
    assert args.since_timestamp == 1790006400 - 86400  # 2026-09-21 00:00 Beijing
    assert SpiderArguments.from_kwargs({}) == SpiderArguments(sections=None, pages=1, since=None, refresh=False)
    assert SpiderArguments.from_kwargs({}).since_timestamp is None
    assert SpiderArguments.names() == ("sections", "pages", "since", "refresh", "keep_days", "keep_posts")
    for pages in ("0", "x", "-1"):
        with pytest.raises(ConfigError, match="-a pages"):
            SpiderArguments.from_kwargs({"pages": pages})
    with pytest.raises(ConfigError, match="-a since"):
        SpiderArguments.from_kwargs({"since": "21/09/2026"})
    with pytest.raises(ConfigError, match="-a refresh"):
        SpiderArguments.from_kwargs({"refresh": "maybe"})
    with pytest.raises(ConfigError, match=r"-a section=china: unknown spider argument \(did you mean sections\?\)"):
        SpiderArguments.from_kwargs({"section": "china"})
    assert SpiderArguments.from_kwargs({"_job": "a1b2"}).pages == 1  # scrapyd's own


def test_retention_arguments_and_settings(tmp_path: Path) -> None:
    """-a keep_days / keep_posts and HEXO_KEEP_DAYS / HEXO_KEEP_POSTS: off by default, a
    whole number ≥ 1 each, both allowed together; anything else is named (exit 2)."""
    args = SpiderArguments.from_kwargs({"keep_days": "30", "keep_posts": " 500 "})
    assert (args.keep_days, args.keep_posts) == (30, 500)
    assert (SpiderArguments().keep_days, SpiderArguments().keep_posts) == (None, None)
    for name in ("keep_days", "keep_posts"):
        for bad in ("0", "-3", "x", "1.5", ""):
            with pytest.raises(ConfigError, match=rf"-a {name}={bad!r}: expected a whole number of \w+, 1 or more"):
                SpiderArguments.from_kwargs({name: bad})
    output = load_output(project_settings())
    assert (output.keep_days, output.keep_posts) == (None, None)
    output = load_output(project_settings({"HEXO_KEEP_DAYS": "7", "HEXO_KEEP_POSTS": "100"}))
    assert (output.keep_days, output.keep_posts) == (7, 100)
    assert load_output(project_settings({"HEXO_KEEP_DAYS": ""})).keep_days is None
    own = tmp_path / "output.yaml"
    own.write_text("keep_days: 14\nkeep_posts: 20\n", encoding="utf-8")
    output = load_output(project_settings({"SINA_OUTPUT_FILE": str(own)}))
    assert (output.keep_days, output.keep_posts) == (14, 20)
    for bad in ("0", "seven", "2.5", "True"):
        with pytest.raises(ConfigError, match=rf"HEXO_KEEP_POSTS={bad!r}: expected a whole number, 1 or more"):
            load_output(project_settings({"HEXO_KEEP_POSTS": bad}))


# --- one home per setting ----------------------------------------------------------------

CRAWLER = Path(__file__).resolve().parents[1] / "crawler"
# settings.get("HEXO_BODY", "clean"), getfloat("SINA_…", 2.0), settings.get("SINA_…") or "x": a second default.
_SECOND_DEFAULT = re.compile(
    r"""get[a-z]*\(\s*["'](?:SINA_|HEXO_|RETRY_BACKOFF_|STATE_DB|MANIFEST)\w*["']\s*,"""
    r"""|get[a-z]*\(\s*["'](?:SINA_|HEXO_|RETRY_BACKOFF_|STATE_DB|MANIFEST)\w*["']\s*\)\s*or\b"""
)


def test_no_default_outside_crawler_settings() -> None:
    found = [
        f"{path.relative_to(CRAWLER)}:{number}: {line.strip()}"
        for path in sorted(CRAWLER.rglob("*.py"))
        if path.name != "settings.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SECOND_DEFAULT.search(line)
    ]
    assert found == []


def test_without_the_project_settings_a_setting_is_named_not_guessed() -> None:
    with pytest.raises(ConfigError, match=r"^HEXO_POSTS_DIR is not set: load crawler.settings"):
        load_output(Settings())


def test_the_output_file_sits_between_the_project_and_the_command_line(tmp_path: Path) -> None:
    own = tmp_path / "output.yaml"
    own.write_text("body: sample\nimages: local\n", encoding="utf-8")
    # Over crawler/settings.py and a project's settings module (Scrapy's "project" priority)…
    project = project_settings({"SINA_OUTPUT_FILE": str(own), "HEXO_BODY": "clean"}, priority="project")
    assert (load_output(project).body_style, load_output(project).images) == ("sample", "local")
    # …under -s (and scrapyd's -d setting=), whatever the file says.
    cmdline = project_settings({"SINA_OUTPUT_FILE": str(own), "HEXO_BODY": "clean"})
    assert (load_output(cmdline).body_style, load_output(cmdline).images) == ("clean", "local")


def test_the_output_template_names_real_settings() -> None:
    """settings/output.yaml is a commented template: uncommented, it parses, and each key
    sets a setting whose default is in crawler/settings.py."""
    from crawler import settings as settings_module
    from crawler.config import OUTPUT_KEYS, parse_output

    template = (CRAWLER.parent / "settings" / "output.yaml").read_text(encoding="utf-8")
    assert parse_output(template, "output.yaml") == {}, "the packaged template sets nothing"
    keys = re.findall(r"^# (\w+): .*# (\w+):", template, re.MULTILINE)
    assert sorted(key for key, _ in keys) == sorted(OUTPUT_KEYS)
    for key, name in keys:
        assert OUTPUT_KEYS[key] == name and hasattr(settings_module, name), key
    uncommented = "\n".join(line[2:] for line in template.splitlines() if re.match(r"^# \w+: ", line))
    assert set(parse_output(uncommented, "output.yaml")) == set(OUTPUT_KEYS)


@pytest.mark.parametrize(
    ("cls", "own", "required"),
    [
        (RollSection, {"pageid", "lid"}, {"pageid", "lid"}),
        (ColumnSection, {"cid"}, {"cid"}),
        (PageSection, {"url", "wait_for"}, {"url"}),
        (ZhiboSection, {"zhibo_id"}, {"zhibo_id"}),
        (FeedSection, {"cids"}, {"cids"}),
    ],
)
def test_a_kind_s_keys_are_its_fields(cls: type[Section], own: set[str], required: set[str]) -> None:
    assert cls.own_keys() == own and cls.required_keys() == required


@pytest.mark.parametrize(
    ("kind_lines", "message"),
    [
        ("kind: zhibo\n    zhibo_id: 15x", "key 'zhibo_id': expected digits (e.g. 152)"),
        ("kind: feed\n    cids: 57045,", "key 'cids': expected digits, comma-separated"),
        ("kind: column\n    cid: abc", "key 'cid': expected digits"),
        ("kind: page\n    url: ftp://x", "key 'url': expected an http(s) URL"),
        ("kind: page\n    wait_for: a", "section of kind page misses key(s): url"),
        ("kind: column\n    cid: '1'\n    lid: '2'", "key 'lid' does not belong to a section of kind column"),
    ],
)
def test_a_kind_checks_its_own_values(kind_lines: str, message: str) -> None:
    text = GOOD.replace('kind: roll\n    pageid: 155\n    lid: "1686"', kind_lines, 1)
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_sections(text, "s.yaml")
