"""One walk over every element (and comment) of a parsed body, for the rules that keep or
drop nodes.

Elements are visited with their namespace (crawler.hexo.namespaces), template content
included (it is not part of the tree, so CSS selectors never reach it).  The walk uses
its own stack, not recursion, so that no nesting depth can stop it.
"""

from __future__ import annotations

from collections.abc import Callable

from selectolax.lexbor import LexborNode

from crawler.hexo.namespaces import HTML, child_namespace, in_html_context

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


def prune(root: LexborNode, visit: Visit, comment_visit: CommentVisit | None = None) -> int:
    """Visit every element (and, with ``comment_visit``, every comment) below root;
    remove those marked.  Returns how many."""
    doomed: list[LexborNode] = []
    # (parent, its namespace or None for a document / fragment root)
    stack: list[tuple[LexborNode, str | None]] = [(root, None)]
    while stack:
        parent, parent_namespace = stack.pop()
        context = parent if parent_namespace is not None else None
        element = parent.first_child
        while element is not None:
            node, element = element, element.next  # .next makes a new object: read once
            if not node.is_element_node:
                if comment_visit is not None and node.is_comment_node and comment_visit(node):
                    doomed.append(node)
                continue
            tag = node.tag or ""
            # Nearly every element is in an HTML context: the short way.
            if parent_namespace is None or parent_namespace == HTML:
                namespace = in_html_context(tag)
            else:
                namespace = child_namespace(parent_namespace, context, tag)
            if visit(node, namespace):
                doomed.append(node)
                continue
            stack.append((node, namespace))
            if namespace == HTML and tag == "template":
                content = template_content(node)
                if content is not None:
                    stack.append((content, None))
    for element in doomed:  # none is inside another: a doomed element is not descended
        element.decompose()
    return len(doomed)
