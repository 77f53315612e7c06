"""An article's keywords as Sina gives them (site notes §7.4, §7.5): one text of words
separated by commas, in the roll API item's ``keywords``, the page's
``<meta name="keywords">`` or, on news.sina.com.cn pages, ``#keywords[data-wbkey]``.

Invariant: a pure function of that text; the words come out trimmed, non-empty, each once,
in Sina's order, without the site's own filler words (which name Sina, not the article).
"""

from __future__ import annotations

from collections.abc import Iterable

# Every keywords text seen separates its words with ASCII commas; editors' full-width
# commas are read the same way.  No other separator was seen (a keyword may hold a space:
# "苹果2019年秋季新品发布会", "iPhone 11").
KEYWORD_SEPARATORS = (",", "，")
# Words Sina adds to every page of a kind: ``data-wbkey`` ends in ``新闻`` on each
# news.sina.com.cn page that has it, and mobile pages say ``,sina.cn``.
FILLER_KEYWORDS = frozenset(["新闻", "sina.cn"])


def split_keywords(texts: Iterable[str | None]) -> tuple[str, ...]:
    """The words of one or more keywords texts, trimmed, each once, in order."""
    words: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for separator in KEYWORD_SEPARATORS[1:]:
            text = text.replace(separator, KEYWORD_SEPARATORS[0])
        for word in text.split(KEYWORD_SEPARATORS[0]):
            word = " ".join(word.split())
            if word and word not in FILLER_KEYWORDS:
                words.setdefault(word)
    return tuple(words)
