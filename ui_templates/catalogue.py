"""The component catalogue: the one registry of SDUI components and actions.

Everything else is derived from here: the JSON Schema of rendered documents
(``ui_templates/schema.py``, served at ``/api/v1/ui/schema/``), the schema of template trees the
admin editor builds its forms from, validation with exact JSON paths, and what each client
catalogue version can render (``since`` and ``fallback``). Add a component here and it exists
everywhere; there is no second copy to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# The newest catalogue version. A client declares the version it renders (docs/sdui.md);
# components newer than that are replaced by their fallback or left out.
CATALOGUE_VERSION = 2

PropKind = Literal["string", "text", "integer", "number", "boolean", "url", "datetime", "money", "enum", "object"]


@dataclass(frozen=True)
class Prop:
    kind: PropKind
    required: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()
    max_length: int = 500

    def json_schema(self) -> dict[str, Any]:
        """The schema of this prop's value in a rendered document."""
        schema: dict[str, Any]
        if self.kind in ("string", "text"):
            schema = {"type": "string", "maxLength": self.max_length if self.kind == "string" else 5000}
        elif self.kind == "url":
            # http(s) links, app deeplinks (scheme://...) and relative paths; never javascript:
            schema = {"type": "string", "maxLength": 2000, "pattern": r"^(?![jJ][aA][vV][aA][sS][cC][rR][iI][pP][tT]:)"}
        elif self.kind == "datetime":
            schema = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T"}
        elif self.kind == "money":
            schema = {"type": "string", "pattern": r"^-?\d{1,9}(\.\d{1,2})?$"}
        elif self.kind == "enum":
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "object":
            schema = {"type": "object"}
        else:
            schema = {"type": self.kind}
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class ActionSpec:
    type: str
    description: str
    params: dict[str, Prop] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentSpec:
    type: str
    description: str
    props: dict[str, Prop] = field(default_factory=dict)
    children: bool = False  # may hold child components
    action: Literal["none", "optional", "required"] = "none"
    since: int = 1  # the catalogue version that introduced it
    # For clients older than ``since``: the node to send instead (built only from older types), or
    # None to leave it out. Without a fallback the node is left out.
    fallback: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    fallback_type: str | None = None  # what ``fallback`` produces, for the docs and the schema


def _readable_moment(value: Any) -> str:
    """``2030-06-30T23:59:59Z`` as ``30 Jun 2030, 23:59 UTC`` (unparseable values as they are)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return str(value or "")
    return moment.strftime("%d %b %Y, %H:%M UTC")


def _countdown_as_text(node: dict[str, Any]) -> dict[str, Any]:
    props = node.get("props", {})
    text = f"{props.get('label') or 'Ends'} {_readable_moment(props.get('ends_at'))}".strip()
    return {"type": "text", "id": node["id"], "props": {"text": text, "style": "caption"}}


def _banner_as_card(node: dict[str, Any]) -> dict[str, Any]:
    props = node.get("props", {})
    children = [
        {"type": "text", "id": f"{node['id']}-title", "props": {"text": props.get("title", ""), "style": "title"}}
    ]
    if props.get("body"):
        children.append({"type": "text", "id": f"{node['id']}-body", "props": {"text": props["body"], "style": "body"}})
    card: dict[str, Any] = {"type": "card", "id": node["id"], "props": {}, "children": children}
    if "action" in node:
        card["action"] = node["action"]
    return card


_TONE = ("neutral", "info", "success", "warning", "danger", "promo")

ACTIONS: dict[str, ActionSpec] = {
    spec.type: spec
    for spec in [
        ActionSpec("open_url", "Open a web page.", {"url": Prop("url", required=True)}),
        ActionSpec("deeplink", "Open a screen of the app.", {"uri": Prop("url", required=True)}),
        ActionSpec("dismiss", "Hide this offer for the user.", {"offer_id": Prop("string", required=True)}),
        ActionSpec(
            "select_plan",
            "Choose a plan (recorded and forwarded to the product).",
            {"product": Prop("string", required=True), "plan": Prop("string", required=True)},
        ),
        ActionSpec("open_plan_finder", "Open the plan finder.", {"product": Prop("string")}),
        ActionSpec(
            "track",
            "Report an analytics event without navigating.",
            {"event": Prop("string", required=True), "properties": Prop("object")},
        ),
    ]
}

COMPONENTS: dict[str, ComponentSpec] = {
    spec.type: spec
    for spec in [
        ComponentSpec(
            "stack",
            "Children laid out vertically.",
            {"gap": Prop("enum", choices=("none", "small", "medium", "large"))},
            children=True,
        ),
        ComponentSpec(
            "row",
            "Children laid out horizontally.",
            {
                "gap": Prop("enum", choices=("none", "small", "medium", "large")),
                "align": Prop("enum", choices=("start", "center", "end", "between")),
            },
            children=True,
        ),
        ComponentSpec(
            "section",
            "A block of the home screen with a heading.",
            {"title": Prop("string", required=True), "subtitle": Prop("string")},
            children=True,
        ),
        ComponentSpec("carousel", "Children side by side, scrolled horizontally.", children=True),
        ComponentSpec("card", "A tappable container.", {"offer_id": Prop("string")}, children=True, action="optional"),
        ComponentSpec(
            "text",
            "A run of text.",
            {
                "text": Prop("text", required=True),
                "style": Prop("enum", choices=("title", "subtitle", "body", "caption")),
            },
        ),
        ComponentSpec(
            "image",
            "A picture; alt text is required for accessibility.",
            {
                "url": Prop("url", required=True),
                "alt": Prop("string", required=True, description="Describes the image for screen readers."),
                "aspect_ratio": Prop("enum", choices=("1:1", "4:3", "16:9", "3:1")),
            },
        ),
        ComponentSpec(
            "button",
            "A button that performs its action.",
            {
                "label": Prop("string", required=True, max_length=80),
                "style": Prop("enum", choices=("primary", "secondary", "link")),
            },
            action="required",
        ),
        ComponentSpec(
            "badge",
            "A short label, e.g. 'New'.",
            {"label": Prop("string", required=True, max_length=40), "tone": Prop("enum", choices=_TONE)},
        ),
        ComponentSpec(
            "price",
            "A price, optionally with the previous one struck through.",
            {
                "amount": Prop("money", required=True),
                "currency": Prop("string", required=True, max_length=3),
                "period": Prop("string", max_length=20),
                "previous_amount": Prop("money"),
            },
        ),
        ComponentSpec(
            "list",
            "Children as a vertical list with separators.",
            {"title": Prop("string")},
            children=True,
        ),
        ComponentSpec("divider", "A horizontal rule."),
        ComponentSpec("spacer", "Empty space.", {"size": Prop("enum", choices=("small", "medium", "large"))}),
        ComponentSpec(
            "countdown",
            "Time left until a moment, e.g. an offer's expiry.",
            {"ends_at": Prop("datetime", required=True), "label": Prop("string")},
            since=2,
            fallback=_countdown_as_text,
            fallback_type="text",
        ),
        ComponentSpec(
            "banner",
            "A full-width promotional message.",
            {
                "title": Prop("string", required=True),
                "body": Prop("text"),
                "tone": Prop("enum", choices=_TONE),
                "image_url": Prop("url"),
            },
            action="optional",
            since=2,
            fallback=_banner_as_card,
            fallback_type="card",
        ),
    ]
}
