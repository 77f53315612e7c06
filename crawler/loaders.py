"""Assembling an ArticleItem from the roll-API item and the article page."""

from __future__ import annotations

from itemloaders.processors import Identity, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from crawler.config import Section
from crawler.hexo.body import container_inner_html, process_body
from crawler.hexo.fields import clean_title, iso_utc, parse_published_time, utc_from_timestamp
from crawler.items import ArticleItem
from crawler.sina import article_page
from crawler.sina.roll_api import RollItem


class ArticleError(Exception):
    """The page cannot give a post; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def _split_keywords(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [word.strip() for word in value.replace("，", ",").split(",") if word.strip()]


class ArticleLoader(ItemLoader):
    """First non-empty value wins: the API item is added before the page's fallbacks."""

    default_item_class = ArticleItem
    default_output_processor = TakeFirst()

    title_in = MapCompose(clean_title)
    media_in = MapCompose(_strip)
    editor_in = MapCompose(_strip)
    summary_in = MapCompose(_strip)
    keywords_in = MapCompose(_split_keywords)
    keywords_out = Identity()
    categories_out = Identity()
    image_urls_out = Identity()


def load_article(listing: RollItem, section: Section, url: str, page_text: str) -> ArticleItem:
    """The item for one article page; ArticleError when the page has no post in it."""
    tree = article_page.parse_page(page_text)
    container = article_page.body_container(tree)
    if container is None:
        raise ArticleError("no_body", f"none of {', '.join(article_page.BODY_CONTAINERS)}")
    body = process_body(container_inner_html(container), url)
    if not body.html.strip():
        raise ArticleError("empty_body", "the body container holds nothing")

    loader = ArticleLoader()
    loader.add_value("publishid", listing.publishid)
    loader.add_value("docid", listing.docid)
    loader.add_value("url", url)
    loader.add_value("section", section.id)
    loader.add_value("title", listing.title)
    loader.add_value("title", article_page.og_title(tree))
    loader.add_value("title", article_page.heading_title(tree))
    if listing.intime is not None:
        loader.add_value("date", iso_utc(utc_from_timestamp(listing.intime)))
    published = parse_published_time(article_page.published_time(tree))
    if published is not None:
        loader.add_value("date", iso_utc(published))
    loader.add_value("media", listing.media_name)
    loader.add_value("media", article_page.media_name(tree))
    loader.add_value("editor", article_page.editor(tree))
    loader.add_value("keywords", listing.keywords)
    if not loader.get_collected_values("keywords"):
        loader.add_value("keywords", article_page.keywords(tree))
    loader.add_value("summary", listing.intro)
    loader.add_value("categories", list(section.categories))
    loader.add_value("author", section.author)
    loader.add_value("headimg", body.first_image)
    loader.add_value("image_urls", list(body.image_urls))
    loader.add_value("body_html", body.html)
    loader.add_value("mtime", listing.mtime)
    item: ArticleItem = loader.load_item()
    if not item.title:
        raise ArticleError("no_title", "no title in the API item, og:title or <h1>")
    if not item.date:
        raise ArticleError("no_date", "no intime in the API item, no article:published_time")
    return item
