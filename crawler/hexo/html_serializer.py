"""Serialise a parsed (lexbor) HTML tree as §3 rule 6 of the post format says.

The output must read back, through any HTML5 parser, as the same tree: text and
attribute values are written raw except for the few characters that would change
the tree (``<`` in text, ``"`` in attributes, an ``&`` that would start a character
reference).  Comments and the text of HTML raw-text elements are written exactly as
parsed; an element of the same name in SVG or MathML (``<math><style>``) has its text
escaped, or it would read back as live markup.
"""

from __future__ import annotations

import re
from html.entities import html5 as _NAMED_REFERENCES
from typing import Any

from selectolax.lexbor import LexborNode

from crawler.hexo.namespaces import HTML, SVG, child_namespace, in_html_context
from crawler.hexo.tree_walk import template_content

# dom-serializer's list, which produced the sample posts (no end tag, no slash).
VOID_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "basefont",
        "br",
        "col",
        "command",
        "embed",
        "frame",
        "hr",
        "img",
        "input",
        "isindex",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Children of these HTML elements are written exactly as parsed (scripting is on, so
# noscript too); in SVG or MathML an element of the same name holds ordinary text.
RAW_TEXT_ELEMENTS = frozenset(["style", "script", "xmp", "iframe", "noembed", "noframes", "plaintext", "noscript"])
# Where an <img>'s src value is in the markup: start, end, and the src as parsed.
ImageSpan = tuple[int, int, str]
# §3 rule 8b: their text's line feeds are written as references (no blank line).
PRE_ELEMENTS = frozenset(["pre", "textarea", "listing"])

_LONGEST_REFERENCE = max(map(len, _NAMED_REFERENCES))
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _c1_replacements() -> dict[int, str]:
    """HTML5's numeric-reference table: C1 code points read as windows-1252."""
    table = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:  # 0x81 0x8D 0x8F 0x90 0x9D have no replacement
            continue
    return table


C1_TABLE = _c1_replacements()
# Every C0 control except LF and CR (so TAB too) is deleted from the body.
# Regular expressions rather than str.translate with a dict: a C scan that finds
# nothing costs almost nothing, and most text has neither C0 nor C1 characters.
_C0 = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f]")
_C1 = re.compile("[\x80-\x9f]")
_CONTROLS = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x80-\x9f]")


def delete_c0(text: str) -> str:
    return _C0.sub("", text)


def replace_c1(text: str) -> str:
    return _C1.sub(lambda match: C1_TABLE.get(ord(match.group()), match.group()), text)


def starts_character_reference(text: str, amp: int, in_attribute: bool) -> bool:
    """Would the HTML5 tokenizer read ``text[amp]`` (an ``&``) as a reference?"""
    following = text[amp + 1 : amp + 2]
    if following == "#":
        marker = text[amp + 2 : amp + 3]
        if marker in ("x", "X"):
            return text[amp + 3 : amp + 4] in _HEX_DIGITS and amp + 3 < len(text)
        return marker.isascii() and marker.isdigit()
    if following not in _ASCII_ALNUM:
        return False
    for length in range(min(_LONGEST_REFERENCE, len(text) - amp - 1), 0, -1):
        name = text[amp + 1 : amp + 1 + length]
        if name in _NAMED_REFERENCES:
            if in_attribute and not name.endswith(";"):
                after = text[amp + 1 + length : amp + 2 + length]
                # Legacy references without ";" are not expanded in attributes
                # when followed by "=" or an alphanumeric (HTML5 §13.2.5.73).
                if after == "=" or (after != "" and after in _ASCII_ALNUM):
                    return False
            return True
    return False


def _escape_ampersands(text: str, in_attribute: bool) -> str:
    if "&" not in text:
        return text
    parts = []
    start = 0
    position = text.find("&")
    while position != -1:
        if starts_character_reference(text, position, in_attribute):
            parts.append(text[start:position])
            parts.append("&amp;")
            start = position + 1
        position = text.find("&", position + 1)
    parts.append(text[start:])
    return "".join(parts)


# Rule 6: what Hexo's regular expressions and Markdown would read as markup, written as
# references.  In text: a Markdown link's "[", and code fences' backtick and tilde.
_TEXT_MARKUP = re.compile("[<\\[`~]")
_TEXT_REFERENCES = {"<": "&lt;", "[": "&#91;", "`": "&#96;", "~": "&#126;"}
# In attribute values also the quotes, angle brackets and line breaks that let the
# external-link filter's regex or the fence scanner see a tag or a line start, and the
# "=" of every "href=" (the filter inserts before the tag's first "href=").  One step
# beyond the post format's text: the "=" of "rel=" too.  The filter rewrites the tag's
# first rel="…"/rel='…', and a value ending in "rel=" meets its own closing quote: the
# rewrite then unquotes the next attribute, whose value (" onmouseover=…") becomes
# attributes.  No golden holds "rel=" in a value (docs/design.md, "The post format").
_ATTRIBUTE_MARKUP = re.compile("[\"'<>`~\n\r]|(?<=[hH][rR][eE][fF])=|(?<=[rR][eE][lL])=")
_ATTRIBUTE_REFERENCES = {
    '"': "&quot;",
    "'": "&#39;",
    "<": "&lt;",
    ">": "&gt;",
    "`": "&#96;",
    "~": "&#126;",
    "\n": "&#10;",
    "\r": "&#13;",
    "=": "&#61;",
}


# Any character that one of the steps of _escape below would change (controls only matter
# when final, but a text holding one simply takes the full path): most text has none, and
# one C scan then returns it as it is.
_TEXT_SPECIAL = re.compile("[&<\\[`~\x00-\x09\x0b\x0c\x0e-\x1f\x80-\x9f]")
_ATTRIBUTE_SPECIAL = re.compile(
    "[&\"'<>`~\n\r\x00-\x09\x0b\x0c\x0e-\x1f\x80-\x9f]|(?<=[hH][rR][eE][fF])=|(?<=[rR][eE][lL])="
)


def _escape(text: str, *, final: bool, in_attribute: bool) -> str:
    if (_ATTRIBUTE_SPECIAL if in_attribute else _TEXT_SPECIAL).search(text) is None:
        return text
    controls = final and _CONTROLS.search(text) is not None
    if controls:  # delete C0 first, or "&\tcopy;" would come out as the reference "&copy;"
        text = delete_c0(text)
    if "&" in text:  # before the references below add ampersands of their own
        text = _escape_ampersands(text, in_attribute=in_attribute)
    if in_attribute:
        text = _ATTRIBUTE_MARKUP.sub(lambda match: _ATTRIBUTE_REFERENCES[match.group()], text)
    else:
        text = _TEXT_MARKUP.sub(lambda match: _TEXT_REFERENCES[match.group()], text)
    return replace_c1(text) if controls else text


def escape_text(text: str, *, final: bool = True) -> str:
    """Text: ``<``, a reference-starting ``&``, ``[``, backtick and tilde escaped, all
    else raw."""
    return _escape(text, final=final, in_attribute=False)


def escape_attribute(value: str, *, final: bool = True) -> str:
    """Attribute value: ``"``, ``'``, ``<``, ``>``, backtick, tilde, LF, CR, the ``=`` of
    ``href=`` and ``rel=``, and a reference-starting ``&`` escaped, all else raw."""
    return _escape(value, final=final, in_attribute=True)


class TreeSerializer:
    """Writes the children of a node.

    ``final=False`` gives the exact round-trip form used to hand a subtree to a
    fresh document parse; ``final=True`` also applies the C1 replacement of the
    post format and deletes C0 controls everywhere: from text and attribute values
    before escaping them, from comments and raw text as they are.
    ``pre_line_feeds=True`` (§3 rule 8b) writes every line feed of escaped text inside
    an HTML ``pre``, ``textarea`` or ``listing`` as ``&#10;``.

    Every element is written in its namespace (crawler.hexo.namespaces): only an HTML
    element's text is ever raw text, and only SVG is written as XML.
    """

    def __init__(self, final: bool = True, *, pre_line_feeds: bool = False) -> None:
        self.final = final
        self.pre_line_feeds = pre_line_feeds
        self.image_parts: list[tuple[int, str]] = []  # (index in the output's parts, src)

    def children(self, node: LexborNode) -> str:
        """The markup of node's children.  An explicit stack, not recursion: no nesting
        depth a page can have stops it."""
        return self.children_and_images(node)[0]

    def children_and_images(self, node: LexborNode) -> tuple[str, list[ImageSpan]]:
        """The markup of node's children, and where in it each HTML <img>'s src value is
        (start, end, the src as parsed): the places a post may point at a local copy."""
        self.image_parts = []
        out = self._write(node)
        spans: list[ImageSpan] = []
        offset = 0
        recorded = iter(self.image_parts)
        following = next(recorded, None)
        for index, part in enumerate(out):
            if following is not None and following[0] == index:
                spans.append((offset, offset + len(part), following[1]))
                following = next(recorded, None)
            offset += len(part)
        return "".join(out), spans

    def _write(self, node: LexborNode) -> list[str]:
        out: list[str] = []
        # A frame per open element: [next child, the element's namespace, the element
        # (None: a document or fragment), raw text?, inside pre?, its end tag or None].
        stack: list[list[Any]] = [[node.first_child, HTML, None, False, False, None]]
        while stack:
            frame = stack[-1]
            child: LexborNode | None = frame[0]
            if child is None:
                stack.pop()
                if frame[5] is not None:
                    out.append(frame[5])
                continue
            tag = child.tag
            # Each .next makes a new node object: read it once per node.
            following = child.next
            if tag == "-text":
                text = child.text_content or ""
                # Adjacent text nodes (left by a removed <script>) read back as one:
                # escape them as one, or "&co" + "py;" would read back as "&copy;".
                while following is not None and following.tag == "-text":
                    text += following.text_content or ""
                    following = following.next
                frame[0] = following
                if frame[3]:
                    out.append(delete_c0(text) if self.final else text)
                else:
                    text = escape_text(text, final=self.final)
                    out.append(text.replace("\n", "&#10;") if frame[4] else text)
                continue
            frame[0] = following
            if tag == "-comment":
                comment = child.html or "<!---->"  # comment data verbatim
                out.append(delete_c0(comment) if self.final else comment)
            elif child.is_element_node:
                name = tag or ""
                if frame[1] == HTML or frame[2] is None:  # nearly every element: the short way
                    namespace = in_html_context(name)
                else:
                    namespace = child_namespace(frame[1], frame[2], name)
                self._element(child, name, namespace, frame[4], out, stack)
        return out

    def _element(
        self, node: LexborNode, tag: str, namespace: str, in_pre: bool, out: list[str], stack: list[list[Any]]
    ) -> None:
        """Write the start tag; push a frame for the children (and the end tag), if any."""
        xml = namespace == SVG
        self._open_tag(node, tag, out, xml, image=tag == "img" and namespace == HTML)
        if xml and node.first_child is None:
            out[-1] = out[-1][:-1] + "/>"
            return
        html = namespace == HTML
        if html and tag in VOID_ELEMENTS:
            return
        raw = html and tag in RAW_TEXT_ELEMENTS
        in_pre = in_pre or (self.pre_line_feeds and html and tag in PRE_ELEMENTS)
        stack.append([node.first_child, namespace, node, raw, in_pre, f"</{tag}>"])
        if html and tag == "template":
            # A template's content lives in a separate fragment, not in the tree; it is
            # written first (on top of the stack), then the element's own children.
            content = template_content(node)
            if content is not None:
                stack.append([content.first_child, HTML, None, False, in_pre, None])

    def _open_tag(self, node: LexborNode, tag: str, out: list[str], xml: bool, image: bool = False) -> None:
        """The start tag; of an HTML <img> (``image``), the value of ``src`` goes into ``out``
        as a part of its own, whose place is recorded in ``self.image_parts``."""
        parts = ["<", tag]
        for name, value in node.attributes.items():
            if value:
                escaped = escape_attribute(value, final=self.final)
                if image and name == "src":
                    parts.append(' src="')
                    out.append("".join(parts))
                    self.image_parts.append((len(out), value))
                    out.append(escaped)
                    parts = ['"']
                    continue
                parts.append(f' {name}="{escaped}"')
            elif xml:
                parts.append(f' {name}=""')
            else:
                parts.append(f" {name}")
        parts.append(">")
        out.append("".join(parts))
