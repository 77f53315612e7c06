"""Rendering a post: the exact bytes of spec §1."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from crawler.hexo.fields import html_text, yaml_quote, yaml_text
from crawler.hexo.html_serializer import ImageSpan, escape_attribute

# Raised whenever this code writes other bytes for the same article (2: §3 rules 5, 6
# and 8; 3: no-quirks parse, Hexo's markers and fences, page furniture, read-back).
# The state remembers what each post was written in; a post of another format or body
# style counts as not written yet, so the next run that lists it rewrites it.
POST_FORMAT_VERSION = 3


# Front-matter lines a site may add after the sample's (HEXO_FRONT_MATTER_EXTRAS), in the
# order they are written.
FRONT_MATTER_EXTRAS = ("excerpt", "tags", "updated")


def post_format(body_style: str, extras: Iterable[str] = ()) -> str:
    """What the state records a post as written in, e.g. ``3/clean``, and with front-matter
    extras ``3/clean+excerpt,tags``: a post written without them counts as not written
    once they are set, so the next run that lists it rewrites it (and back)."""
    wanted = set(extras)
    chosen = ",".join(extra for extra in FRONT_MATTER_EXTRAS if extra in wanted)
    return f"{POST_FORMAT_VERSION}/{body_style}" + (f"+{chosen}" if chosen else "")


@dataclass(frozen=True, slots=True)
class PostContent:
    title: str
    categories: Sequence[str]
    author: str
    date: str  # RFC 1123, GMT
    headimg: str | None  # as written in BODY; None leaves out headimg/thumbnail
    body: str
    # The front-matter extras, each left out when None or empty (the sample's lines only).
    excerpt: str | None = None  # plain text
    tags: Sequence[str] = ()  # plain text, each once
    updated: str | None = None  # RFC 1123, GMT, as date


def with_local_images(
    body: str, spans: Sequence[ImageSpan], headimg: tuple[str, str] | None, local: Mapping[str, str]
) -> tuple[str, str | None]:
    """BODY and IMG pointing at local copies (``local``: image src -> file name beside the
    post) where there is one: each <img>'s src is replaced at its place (Body.image_spans),
    never by searching the text.  ``headimg``: IMG as written and the src it is."""
    written, src = headimg if headimg is not None else (None, None)
    if not local:
        return body, written
    parts = []
    done = 0
    for start, end, image in sorted(spans):
        if image in local:
            parts += [body[done:start], escape_attribute(local[image])]
            done = end
    parts.append(body[done:])
    if src is not None and src in local:
        written = escape_attribute(local[src])
    return "".join(parts), written


def render_post(post: PostContent) -> str:
    lines = ["", "---", f"title: {yaml_quote(post.title)}", "categories: "]
    # Quoted or not as YAML will read them, braces escaped (the escaping below then changes nothing).
    lines += [f" - {yaml_text(escape_braces(category))}" for category in post.categories]
    if post.headimg:
        lines.append(f"headimg: {yaml_quote(post.headimg)}")
    lines += [f"author: {yaml_text(escape_braces(post.author))}", "comments: false", f"date: {post.date}"]
    if post.headimg:
        lines.append(f"thumbnail: {yaml_quote(post.headimg)}")
    lines += front_matter_extras(post)
    lines += ["---", "", "<div>   ", post.body + "  ", "</div>", " " * 12]
    # Braces escaped over the whole text: keeps Hexo's Nunjucks from reading article
    # text as template tags.
    return escape_braces("\n".join(lines))


def front_matter_extras(post: PostContent) -> list[str]:
    """The extras' lines, after the sample's, in the order of FRONT_MATTER_EXTRAS.  The
    excerpt and each tag are HTML text (crawler.hexo.fields.html_text) quoted like the
    title; their braces are escaped with the rest of the text."""
    lines = []
    excerpt = html_text(post.excerpt) if post.excerpt else ""
    if excerpt:
        lines.append(f"excerpt: {yaml_quote(excerpt)}")
    tags = [text for text in dict.fromkeys(html_text(tag) for tag in post.tags) if text]
    if tags:
        lines.append("tags:")
        lines += [f" - {yaml_quote(tag)}" for tag in tags]
    if post.updated:
        lines.append(f"updated: {post.updated}")
    return lines


def escape_braces(text: str) -> str:
    return text.replace("{", "&#123;").replace("}", "&#125;")


def render_post_bytes(post: PostContent) -> bytes:
    return render_post(post).encode("utf-8")
