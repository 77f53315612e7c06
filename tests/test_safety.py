"""Unit tests of the safety rules (issue 9): which URLs and addresses may be fetched,
the resolver, whole manifest lines, files that are not ours, a listing that raises,
spider arguments and YAML-safe front-matter values.  End to end: test_e2e_hostile.py."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler
from twisted.internet import defer

from crawler.config import ConfigError
from crawler.hexo.fields import yaml_text
from crawler.net.addresses import ip_literal, is_public
from crawler.net.fetch_policy import ARTICLE, IMAGE, FetchPolicy, HostPatterns, RefusedURL
from crawler.resolver import PrivateAddressError, PublicAddressResolver, proxy_hosts
from crawler.sina.urls import NotArticle, article_url
from crawler.spiders.sina_finance import SinaFinanceSpider
from crawler.storage.files import TEMP_FOLDER, OwnedTree, UnsafePath
from crawler.storage.manifest import Manifest
from tests.support.settings import own_settings

# --- addresses -------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # shared (carrier-grade NAT)
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "202.108.33.60", "2400:89c0::1", "64:ff9b::808:808"])
def test_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_ip_literal() -> None:
    assert ip_literal("[::1]") == ipaddress.ip_address("::1")
    assert ip_literal("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert ip_literal("finance.sina.com.cn") is None


# --- the fetch policy ------------------------------------------------------------------

REFUSED = {
    # The WHATWG parse reads the host as evil.example; urllib would say finance.sina.com.cn.
    "backslash-user-info": ("https://evil.example\\@finance.sina.com.cn/doc-iabcdefg1234567.shtml", "backslash"),
    "user-info": ("https://u:p@finance.sina.com.cn/x", "user_info"),
    "user-only": ("https://evil.example@finance.sina.com.cn/x", "user_info"),
    "odd-port": ("https://finance.sina.com.cn:8443/x", "odd_port"),
    "http-odd-port": ("http://finance.sina.com.cn:443/x", "odd_port"),
    "hex-loopback": ("http://0x7f.1/x", "private_address"),
    "decimal-loopback": ("http://2130706433/x", "private_address"),
    "ipv6-loopback": ("http://[::1]/x", "private_address"),
    "mapped-loopback": ("http://[::ffff:127.0.0.1]/x", "private_address"),
    "metadata": ("http://169.254.169.254/latest/meta-data/", "private_address"),
    "suffix-lookalike": ("https://finance.sina.com.cn.evil.example/x", "offsite"),
    "prefix-lookalike": ("https://evilsina.com.cn/x", "offsite"),
    "ftp": ("ftp://finance.sina.com.cn/x", "not_http"),
    "file": ("file:///etc/passwd", "not_http"),
    "javascript": ("javascript:alert(1)", "not_http"),
    "unparsable": ("https://[::1/x", "bad_url"),
}


@pytest.mark.parametrize(("url", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_article_urls_refused(url: str, reason: str) -> None:
    with pytest.raises(RefusedURL) as refused:
        FetchPolicy().check(url, ARTICLE)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://finance.sina.com.cn/a.shtml", "https://finance.sina.com.cn/a.shtml"),
        ("https://FINANCE.Sina.com.cn:443/a", "https://finance.sina.com.cn/a"),
        ("http://news.sina.com.cn:80/a", "http://news.sina.com.cn/a"),
        ("https://finance.sina.cn/x.d.html", "https://finance.sina.cn/x.d.html"),
        ("https://sina.com.cn/", "https://sina.com.cn/"),
    ],
)
def test_article_urls_allowed(url: str, href: str) -> None:
    assert FetchPolicy().check(url, ARTICLE).href == href


def test_purposes() -> None:
    policy = FetchPolicy(image_hosts=HostPatterns.of(["n.sinaimg.cn"]))
    assert policy.check("https://n.sinaimg.cn/a.jpg", IMAGE).hostname == "n.sinaimg.cn"
    with pytest.raises(RefusedURL, match="offsite"):
        policy.check("https://k.sinaimg.cn/a.jpg", IMAGE)
    with pytest.raises(RefusedURL, match="offsite"):
        policy.check("https://n.sinaimg.cn/a.jpg", ARTICLE)  # images are not articles
    with pytest.raises(RefusedURL, match="offsite"):
        policy.check("https://finance.sina.com.cn/a.jpg", IMAGE)
    # robots.txt (no purpose): any host one of the purposes may fetch from.
    assert policy.check("https://n.sinaimg.cn/robots.txt", None)
    assert policy.check("https://finance.sina.com.cn/robots.txt", None)


def test_host_patterns() -> None:
    hosts = HostPatterns.of(["*.sinaimg.cn", "static.example.com."])
    assert hosts.match("n.sinaimg.cn") and hosts.match("sinaimg.cn") and hosts.match("a.b.sinaimg.cn")
    assert hosts.match("STATIC.example.com") and hosts.match("static.example.com.")
    assert not hosts.match("xsinaimg.cn") and not hosts.match("sinaimg.cn.evil") and not hosts.match("example.com")


def test_listed_article_urls() -> None:
    assert article_url("https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml?x=1") == (
        "https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml?x=1",
        "abcdefg1234567",
    )
    for url, reason, unsafe in [
        ("https://evil.example\\@finance.sina.com.cn/doc-iabcdefg1234567.shtml", "backslash", True),
        ("https://finance.sina.com.cn:81/doc-iabcdefg1234567.shtml", "odd_port", True),
        ("https://finance.sina.cn/doc-iabcdefg1234567.shtml", "offsite", False),  # not a PC article host
        ("https://finance.sina.com.cn/a/index.shtml", "not_article", False),
    ]:
        with pytest.raises(NotArticle) as refused:
            article_url(url)
        assert (refused.value.reason, refused.value.unsafe) == (reason, unsafe)


# --- the resolver ----------------------------------------------------------------------


class _Resolver(PublicAddressResolver):
    def __init__(self, answers: dict[str, str], exempt: frozenset[str] = frozenset()) -> None:
        self.answers = answers
        self.exempt = exempt

    def lookup(self, name: str, timeout: object = ()) -> defer.Deferred[str]:
        return defer.succeed(self.answers[name])


def _resolve(resolver: PublicAddressResolver, name: str) -> str | BaseException:
    results: list[str | BaseException] = []
    resolver.getHostByName(name).addCallbacks(results.append, lambda failure: results.append(failure.value))
    return results[0]


def test_resolver_refuses_names_of_addresses_that_are_not_public() -> None:
    resolver = _Resolver(
        {"n.sinaimg.cn": "202.108.33.60", "intranet.sina.com.cn": "10.1.2.3", "proxy.corp": "10.0.0.8"},
        exempt=frozenset({"proxy.corp"}),
    )
    assert _resolve(resolver, "n.sinaimg.cn") == "202.108.33.60"
    refused = _resolve(resolver, "intranet.sina.com.cn")
    assert isinstance(refused, PrivateAddressError) and "10.1.2.3" in str(refused)
    assert _resolve(resolver, "proxy.corp") == "10.0.0.8"  # the user's own proxy


def test_proxy_hosts_are_the_proxies_not_the_no_proxy_list() -> None:
    proxies = {"http": "http://proxy.corp:3128", "https": "10.0.0.8:3128", "no": "intranet.sinaimg.cn,localhost"}
    assert proxy_hosts(proxies) == frozenset({"proxy.corp", "10.0.0.8"})


# --- whole manifest lines ---------------------------------------------------------------


def test_a_manifest_line_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = Manifest(tmp_path / "manifest.jsonl")
    manifest.append({"n": 1})
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 10:
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        manifest.append({"n": 2, "text": "x" * 40})
    monkeypatch.undo()
    manifest.append({"n": 3})
    manifest.close()
    lines = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 3]


# --- files that are not ours ----------------------------------------------------------


def test_owned_tree_never_writes_through_a_symlink(tmp_path: Path) -> None:
    root, outside = tmp_path / "posts", tmp_path / "outside"
    outside.mkdir()
    (root / "a").mkdir(parents=True)
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    (root / "a" / "post.md").symlink_to(outside / "victim")
    tree = OwnedTree(root)
    with pytest.raises(UnsafePath, match="symbolic link"):
        tree.write_atomically(root / "a" / "link" / "x.md", b"data")
    with pytest.raises(UnsafePath, match="not a regular file"):
        tree.write_atomically(root / "a" / "post.md", b"data")
    assert list(outside.iterdir()) == []
    assert tree.write_atomically(root / "a" / "b" / "ok.md", b"data")
    assert (root / "a" / "b" / "ok.md").read_bytes() == b"data"
    assert list((root / TEMP_FOLDER).iterdir()) == []


def test_a_symlinked_temporary_folder_is_neither_cleaned_nor_used(tmp_path: Path) -> None:
    root, outside = tmp_path / "posts", tmp_path / "outside"
    outside.mkdir()
    (outside / "1-1.tmp").write_bytes(b"someone else's")
    root.mkdir()
    (root / TEMP_FOLDER).symlink_to(outside, target_is_directory=True)
    tree = OwnedTree(root)
    with pytest.raises(UnsafePath):
        tree.remove_temporary()
    with pytest.raises(UnsafePath):
        tree.write_atomically(root / "x.md", b"data")
    assert (outside / "1-1.tmp").read_bytes() == b"someone else's"


# --- a listing that raises fails its section alone ------------------------------------


def test_a_listing_callback_that_raises_fails_its_section_and_releases_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crawler.spiders import kinds

    crawler = get_crawler(SinaFinanceSpider, own_settings())
    crawler.stats.open_spider()
    spider = SinaFinanceSpider.from_crawler(crawler, sections="china,macro")
    china, macro = spider.sections
    macro_item = {
        "url": "https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml",
        "ctime": "1790000000",
        "title": "t",
    }
    body = json.dumps({"result": {"status": {"code": 0}, "data": [macro_item]}}).encode()
    macro_answer = HtmlResponse("https://feed.mix.sina.com.cn/api/roll/get?lid=1687", body=body, encoding="utf-8")
    assert list(spider.parse_listing(macro_answer, section=macro, page=1)) == []  # waits for china

    def bug(text: str) -> object:
        raise KeyError("a bug met on this answer")

    monkeypatch.setattr(kinds, "parse_roll_page", bug)
    china_answer = HtmlResponse("https://feed.mix.sina.com.cn/api/roll/get?lid=1686", body=b"{}", encoding="utf-8")
    released = list(spider.parse_listing(china_answer, section=china, page=1))
    assert [request.url for request in released] == [macro_item["url"]]
    assert isinstance(released[0], Request)
    assert crawler.stats.get_value("sina/roll/failed/parse_error") == 1
    assert crawler.stats.get_value("sina/section/china/list_failed") == 1


# --- spider arguments -------------------------------------------------------------------


def test_unknown_spider_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"-a page=5: unknown spider argument \(did you mean pages\?\)"):
        SinaFinanceSpider(page="5")
    with pytest.raises(ConfigError, match=r"-a colour=red, -a zzz=2: unknown spider arguments; known: sections"):
        SinaFinanceSpider(zzz="2", colour="red")
    assert SinaFinanceSpider(_job="abc", pages="2").arguments.pages == 2  # scrapyd's own argument


# --- YAML-safe front-matter values --------------------------------------------------------


@pytest.mark.parametrize("value", ["金融", "新浪财经－国內", "7x24", "A股", "1.0.1"])
def test_plain_yaml_text_stays_plain(value: str) -> None:
    assert yaml_text(value) == value


@pytest.mark.parametrize(
    "value", ["~", "null", "true", "False", "yes", "2022-01-24", "12", "1e3", "0o17", "-1", ".inf"]
)
def test_yaml_text_that_would_read_as_something_else_is_quoted(value: str) -> None:
    assert yaml_text(value) == f"'{value}'"
