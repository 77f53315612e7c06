"""Is the site still the site?  What ``scrapy sina-check`` concludes of one section: its
listing and one article page of it, checked against what the crawler expects of Sina's
pages (site notes §7), with no Scrapy here.

Invariant: a section's check is one SectionCheck with one of three statuses; an article
page's template is judged by ``template_problems`` alone, a pure function of its parsed
tree, tested against the saved pages (tests/corpus, tests/test_site_check.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from selectolax.lexbor import LexborHTMLParser

from crawler.sina import article_page

OK: Final = "ok"
LISTING_BROKEN: Final = "listing broken"  # the listing gives no item: moved, renamed, or a new format
TEMPLATE_CHANGED: Final = "template changed"  # an article page (or a flash) no longer reads as a post
STATUSES: Final = (OK, LISTING_BROKEN, TEMPLATE_CHANGED)

# Where a page says when it was published: its meta tag, else the date line under the title.
VISIBLE_DATES = (".date-source .date", "span.date")


@dataclass(frozen=True, slots=True)
class SectionCheck:
    """One row of the check: the section, its status and why."""

    section_id: str
    name: str
    status: str  # one of STATUSES
    reason: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r} (known: {', '.join(STATUSES)})")

    @property
    def ok(self) -> bool:
        return self.status == OK


def paragraphs(tree: LexborHTMLParser) -> int:
    """The paragraphs with text in the page's body container (0 without one)."""
    container = article_page.body_container(tree)
    if container is None:
        return 0
    return sum(1 for paragraph in container.css("p") if paragraph.text(deep=True).strip())


def has_date(tree: LexborHTMLParser) -> bool:
    if article_page.published_time(tree) is not None:
        return True
    return any((node := tree.css_first(selector)) is not None and node.text().strip() for selector in VISIBLE_DATES)


def template_problems(tree: LexborHTMLParser) -> list[str]:
    """What an article page lacks of the template the crawler reads: a body container, a
    title, a date, a paragraph of text in the body; [] when it has them all."""
    problems = []
    if article_page.body_container(tree) is None:
        problems.append(f"no body container ({', '.join(article_page.BODY_CONTAINERS)})")
    elif paragraphs(tree) == 0:
        problems.append("no paragraph of text in the body container")
    if article_page.og_title(tree) is None and article_page.heading_title(tree) is None:
        problems.append("no title (og:title, h1.main-title, h1#artibodyTitle)")
    if not has_date(tree):
        problems.append(f"no date (article:published_time, {', '.join(VISIBLE_DATES)})")
    return problems
