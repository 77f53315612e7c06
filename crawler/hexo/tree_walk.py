"""One walk over every element (and comment) of a parsed body, for the rules that keep or
drop nodes.

Elements are visited with their namespace (crawler.hexo.namespaces), template content
included (it is not part of the tree, so CSS selectors never reach it).  The walk uses
its own stack, not recursion, so that no nesting depth can stop it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from selectolax.lexbor import LexborNode

from crawler.hexo.namespaces import HTML, child_namespace

# visit(element, namespace) -> True: remove the element with everything inside it.
Visit = Callable[[LexborNode, str], bool]
# comment_visit(comment) -> True: remove the comment.
CommentVisit = Callable[[LexborNode], bool]


def template_content(template: LexborNode) -> LexborNode | None:
    """The content fragment of this <template> (template_fragments() also lists nested ones)."""
    for fragment in template.template_fragments():
        if fragment.parent is not None and fragment.parent.mem_id == template.mem_id:
            return fragment
    return None


def _children(node: LexborNode, comments: bool) -> Iterator[LexborNode]:
    """The element children of node, and its comments too when ``comments``."""
    child = node.first_child
    while child is not None:
        if child.is_element_node or (comments and child.is_comment_node):
            yield child
        child = child.next


def prune(root: LexborNode, visit: Visit, comment_visit: CommentVisit | None = None) -> int:
    """Visit every element (and, with ``comment_visit``, every comment) below root;
    remove those marked.  Returns how many."""
    doomed: list[LexborNode] = []
    # (parent, its namespace or None for a document / fragment root)
    stack: list[tuple[LexborNode, str | None]] = [(root, None)]
    while stack:
        parent, parent_namespace = stack.pop()
        context = parent if parent_namespace is not None else None
        for element in _children(parent, comment_visit is not None):
            if not element.is_element_node:
                if comment_visit is not None and comment_visit(element):
                    doomed.append(element)
                continue
            namespace = child_namespace(parent_namespace or HTML, context, element.tag or "")
            if visit(element, namespace):
                doomed.append(element)
                continue
            stack.append((element, namespace))
            if namespace == HTML and element.tag == "template":
                content = template_content(element)
                if content is not None:
                    stack.append((content, None))
    for element in doomed:  # none is inside another: a doomed element is not descended
        element.decompose()
    return len(doomed)
