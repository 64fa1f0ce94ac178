"""Bad template input shared by the service and admin tests: each must be refused at its path."""

from __future__ import annotations

from typing import Any

from ui_templates.template_set import TemplateEntry, TemplateSet


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "divider"}
    for _ in range(depth - 1):
        node = {"type": "stack", "children": [node]}
    return node


# A published template "loop-a" that includes "loop-b": publishing "loop-b" including "loop-a" is a cycle.
LOOP_A = TemplateEntry("loop-a", "v1", {"type": "stack", "children": [{"ref": "loop-b"}]})
WITH_LOOP_A = TemplateSet.of([LOOP_A])

# (id, key, tree, expected path, words in the message)
BAD_TREES: list[tuple[str, str, Any, str, str]] = [
    ("unknown-type", "t", {"type": "stack", "children": [{"type": "marquee"}]}, "$.children[0].type", "marquee"),
    ("wrong-prop-type", "t", {"type": "text", "props": {"text": 5}}, "$.props.text", "5"),
    ("binding-syntax", "t", {"type": "text", "props": {"text": "{{ offer.title "}}, "$.props.text", "binding"),
    ("missing-template", "t", {"type": "stack", "children": [{"ref": "ghost"}]}, "$.children[0].ref", "'ghost'"),
    ("cycle", "loop-b", {"type": "stack", "children": [{"ref": "loop-a"}]}, "$.children[0].ref", "cycle"),
    ("too-deep", "t", nested(13), "$" + ".children[0]" * 12, "13 levels"),
    ("too-many-nodes", "t", {"type": "stack", "children": [{"type": "divider"}] * 500}, "$", "501 nodes"),
]
