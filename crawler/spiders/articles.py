"""What an article's answer comes to: its post (crawler.loaders, parsed in a parse worker:
crawler.parsing.workers), or a Skip that says why there is none.

Invariant: every way an article can fail (a page without a post in it, a parser that
crashed or ran out of time, a download that failed) is a Skip with a stats reason and
the URL the article was listed at, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.config import Section
from crawler.failures import failure_reason
from crawler.hexo.body import BodyStyle
from crawler.items import PagePost
from crawler.loaders import ArticleError, load_article
from crawler.parsing.workers import PageCrashedParser, PageFactsError, PageTimedOut, ParseWorkers
from crawler.sina.roll_api import RollItem
from crawler.spiders.responses import content_type


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an article gives no post: a stats and log reason, the URL, a detail."""

    reason: str
    url: str
    detail: str = ""


async def article_post(
    workers: ParseWorkers, response: Response, listing: RollItem, section: Section, style: BodyStyle
) -> PagePost | Skip:
    """The post of an article page, or why it gives none.  ``style``: the body style the
    request carries (``sina_body_style``), else this one."""
    try:
        facts = await workers.page_facts(
            response.body,
            content_type(response) or None,
            response.url,
            response.meta.get("sina_body_style", style),
            listing.kind,
        )
        return load_article(listing, section, response.url, facts)
    except ArticleError as exc:
        return Skip(exc.reason, response.url, exc.detail)
    except PageCrashedParser as exc:
        return Skip("parser_crashed", response.url, str(exc))
    except PageFactsError as exc:
        return Skip("parse_error", response.url, str(exc))
    except PageTimedOut as exc:
        return Skip("parse_timeout", response.url, str(exc))


def download_failed(failure: Failure) -> Skip:
    """Why a request failed, named by the URL it started at (when it was redirected)."""
    request = failure.request  # type: ignore[attr-defined]
    redirects = request.meta.get("redirect_urls") or []
    url = redirects[0] if redirects else request.url
    return Skip(failure_reason(failure), url, f"redirected to {request.url}" if redirects else "")
