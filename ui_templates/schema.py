"""JSON Schemas derived from the catalogue, and validation that names the JSON path at fault.

- ``document_schema()``: a rendered component tree, as clients receive it (served at
  ``/api/v1/ui/schema/``).
- ``template_schema()``: a template tree as marketers write it: the same components, where any
  prop may instead be a binding string (``"{{ offer.title }}"``), plus the directives ``repeat``,
  ``if``, ``ref`` and ``slot`` (docs/sdui.md). The admin editor's forms come from it.

Nothing here is written by hand per component: both schemas are built from ``catalogue.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from .catalogue import ACTIONS, CATALOGUE_VERSION, COMPONENTS, ComponentSpec, Prop

MAX_DEPTH = 12
MAX_NODES = 500
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
BINDING = {"type": "string", "pattern": r"\{\{.*\}\}", "description": "A binding, e.g. {{ offer.title }}"}


@dataclass(frozen=True)
class Issue:
    """One problem in a tree: where (a JSON path such as ``$.children[0].props.text``) and what.
    ``refused``: a binding the sandbox does not allow, or a render over its budget."""

    path: str
    message: str
    refused: bool = field(default=False, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def _prop_schema(prop: Prop, *, template: bool) -> dict[str, Any]:
    schema = prop.json_schema()
    return {"anyOf": [schema, BINDING]} if template else schema


def _props_schema(props: dict[str, Prop], *, template: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _prop_schema(prop, template=template) for name, prop in props.items()},
        "required": [name for name, prop in props.items() if prop.required],
        "additionalProperties": False,
    }


def _action_schema(*, template: bool) -> dict[str, Any]:
    variants = []
    for spec in ACTIONS.values():
        variant = _props_schema(spec.params, template=template)
        variant["properties"] = {"type": {"const": spec.type}, **variant["properties"]}
        variant["required"] = ["type", *variant["required"]]
        variants.append({"if": {"properties": {"type": {"const": spec.type}}}, "then": variant})
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(ACTIONS)}},
        "allOf": variants,
    }


def _component_schema(spec: ComponentSpec, *, template: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "type": {"const": spec.type},
        "id": {"anyOf": [{"type": "string", "pattern": ID_PATTERN}, BINDING]}
        if template
        else {"type": "string", "pattern": ID_PATTERN},
        "props": _props_schema(spec.props, template=template),
    }
    if spec.children:
        properties["children"] = {"type": "array", "items": {"$ref": "#/$defs/node"}}
    if spec.action != "none":
        properties["action"] = {"$ref": "#/$defs/action"}
    if template:
        properties["if"] = BINDING | {"pattern": r".+", "description": "An expression; the node is left out when false"}
        properties["repeat"] = {"$ref": "#/$defs/repeat"}
    required = ["type"] if template else ["type", "id"]
    if spec.action == "required":
        required.append("action")
    if any(prop.required for prop in spec.props.values()):
        required.append("props")
    return {
        "type": "object",
        "title": spec.type,
        "description": spec.description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "x-since": spec.since,
        **({"x-fallback": spec.fallback_type} if spec.fallback_type else {}),
    }


def _schema(*, template: bool) -> dict[str, Any]:
    defs: dict[str, Any] = {spec.type: _component_schema(spec, template=template) for spec in COMPONENTS.values()}
    defs["action"] = _action_schema(template=template)
    dispatch = [
        {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": {"$ref": f"#/$defs/{name}"}}
        for name in COMPONENTS
    ]
    node: dict[str, Any] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(COMPONENTS)}},
        "allOf": dispatch,
    }
    if template:
        defs["repeat"] = {
            "type": "object",
            "required": ["for", "in"],
            "properties": {
                "for": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$"},
                "in": {"type": "string", "minLength": 1, "description": "An expression giving a list"},
            },
            "additionalProperties": False,
        }
        include = {
            "type": "object",
            "properties": {
                "ref": {"type": "string", "minLength": 1, "description": "Include the template with this key"},
                "slot": {"type": "string", "minLength": 1, "description": "Include the template filling this slot"},
                "if": BINDING | {"pattern": r".+"},
                "repeat": {"$ref": "#/$defs/repeat"},
                "id": {"anyOf": [{"type": "string", "pattern": ID_PATTERN}, BINDING]},
            },
            "oneOf": [{"required": ["ref"]}, {"required": ["slot"]}],
            "additionalProperties": False,
        }
        defs["include"] = include
        node = {
            "if": {"type": "object", "anyOf": [{"required": ["ref"]}, {"required": ["slot"]}]},
            "then": {"$ref": "#/$defs/include"},
            "else": node,
        }
    defs["node"] = node
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:homeservice:sdui:{'template' if template else 'document'}:v{CATALOGUE_VERSION}",
        "title": "SDUI template tree" if template else "SDUI component tree",
        "x-catalogue-version": CATALOGUE_VERSION,
        "$ref": "#/$defs/node",
        "$defs": defs,
    }


@functools.cache
def document_schema() -> dict[str, Any]:
    return _schema(template=False)


@functools.cache
def template_schema() -> dict[str, Any]:
    return _schema(template=True)


@functools.cache
def _validator(template: bool) -> Draft202012Validator:
    return Draft202012Validator(template_schema() if template else document_schema())


def _walk(node: Any, path: str, depth: int) -> Iterator[tuple[str, int]]:
    if isinstance(node, dict):
        yield path, depth
        children = node.get("children")
        if isinstance(children, list):
            for index, child in enumerate(children):
                yield from _walk(child, f"{path}.children[{index}]", depth + 1)


def _limit_issues(tree: Any) -> list[Issue]:
    issues = []
    nodes = list(_walk(tree, "$", 1))
    deepest = max(nodes, key=lambda item: item[1], default=None)
    if deepest and deepest[1] > MAX_DEPTH:
        issues.append(Issue(deepest[0], f"the tree is {deepest[1]} levels deep; at most {MAX_DEPTH} are allowed"))
    if len(nodes) > MAX_NODES:
        issues.append(Issue("$", f"the tree has {len(nodes)} nodes; at most {MAX_NODES} are allowed"))
    return issues


def _schema_issues(tree: Any, *, template: bool) -> list[Issue]:
    found = []
    for error in _validator(template).iter_errors(tree):
        # if/then dispatch reports the innermost failure; keep the most specific message per path.
        leaves = [error] if not error.context else [e for e in error.context]
        for leaf in leaves:
            found.append(Issue(leaf.json_path, leaf.message))
    unique = {(i.path, i.message): i for i in found}
    return sorted(unique.values(), key=lambda i: (i.path, i.message))


def validate_document(tree: Any) -> list[Issue]:
    """Problems of a rendered tree (empty: valid)."""
    return _limit_issues(tree) + _schema_issues(tree, template=False)


def validate_template_tree(tree: Any) -> list[Issue]:
    """Structural problems of a template tree (bindings, refs and cycles: see the engine)."""
    return _limit_issues(tree) + _schema_issues(tree, template=True)


def _editor_prop_schema(name: str, prop: Prop) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": name}
    if prop.kind == "enum":
        # ``enum`` for validation; ``choices`` (django-jsonform's own keyword) adds "not set" to the menu.
        schema |= {"type": "string", "enum": list(prop.choices)}
        if not prop.required:
            schema["choices"] = [{"title": "(not set)", "value": ""}, *prop.choices]
    elif prop.kind == "object":
        schema |= {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
    elif prop.kind in ("integer", "number", "boolean"):
        schema["type"] = prop.kind
    else:
        # Text of any kind, or a binding; the server checks formats when the draft is saved.
        schema["type"] = "string"
        if prop.kind == "text":
            schema["widget"] = "textarea"
    hint = " ".join(
        part
        for part in (
            prop.description,
            "Or a binding, e.g. {{ offer.title }}." if schema["type"] == "string" and prop.kind != "enum" else "",
        )
        if part
    )
    if hint:
        schema["help_text"] = hint
    return schema


def _editor_object(title: str, type_name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {"type": {"const": type_name, "title": "type"}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


@functools.cache
def editor_schema() -> dict[str, Any]:
    """The template schema shaped for the admin's form editor (django-jsonform).

    django-jsonform does not understand ``if``/``then``/``else``, so a node here is a ``oneOf``
    with one object per component type (its ``type`` a ``const``) and the two includes; actions
    likewise. Only what a form can show is accepted: enum, number and boolean props take literal
    values (a binding there needs the raw JSON editor), other props are strings of any kind (a
    literal or a binding). Anything this accepts, the template schema accepts once the form's
    empty fields are left out; the server still checks every draft against ``template_schema()``.
    """
    binding_pattern = BINDING["pattern"]
    if_schema = {
        "type": "string",
        "title": "if",
        "pattern": r"\S",
        "help_text": "Show only when true, e.g. {{ offer.body }}",
    }
    id_schema = {
        "type": "string",
        "title": "id",
        "pattern": f"{ID_PATTERN}|{binding_pattern}",
        "help_text": "Optional; made up when left empty.",
    }
    repeat_ref = {"$ref": "#/$defs/repeat", "title": "repeat"}

    def actions(*, optional: bool) -> dict[str, Any]:
        variants = [
            _editor_object(
                spec.type,
                spec.type,
                {name: _editor_prop_schema(name, prop) for name, prop in spec.params.items()},
                [name for name, prop in spec.params.items() if prop.required],
            )
            | {"description": spec.description}
            for spec in ACTIONS.values()
        ]
        if optional:
            variants.insert(0, _editor_object("(no action)", "", {}, []))
        return {"title": "action", "oneOf": variants}

    variants = []
    for spec in COMPONENTS.values():
        props = {
            "type": "object",
            "title": "props",
            "properties": {name: _editor_prop_schema(name, prop) for name, prop in spec.props.items()},
            "required": [name for name, prop in spec.props.items() if prop.required],
            "additionalProperties": False,
        }
        properties: dict[str, Any] = {"id": id_schema, "props": props}
        if spec.children:
            properties["children"] = {"type": "array", "title": "children", "items": {"$ref": "#/$defs/node"}}
        if spec.action != "none":
            properties["action"] = {
                "$ref": "#/$defs/action" if spec.action == "required" else "#/$defs/optional_action"
            }
        properties |= {"if": if_schema, "repeat": repeat_ref}
        required = ["props"] if any(prop.required for prop in spec.props.values()) else []
        if spec.action == "required":
            required.append("action")
        variants.append(_editor_object(spec.type, spec.type, properties, required) | {"description": spec.description})
    for directive, what in (("ref", "the template with this key"), ("slot", "the template filling this slot")):
        variants.append(
            {
                "type": "object",
                "title": f"include by {directive}",
                "description": f"Include {what}.",
                "properties": {
                    directive: {"type": "string", "title": directive, "minLength": 1},
                    "if": if_schema,
                    "repeat": repeat_ref,
                    "id": id_schema,
                },
                "required": [directive],
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:homeservice:sdui:editor:v{CATALOGUE_VERSION}",
        "title": "Template tree",
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {"oneOf": variants},
            "action": actions(optional=False),
            "optional_action": actions(optional=True),
            "repeat": {
                "type": "object",
                "title": "repeat",
                "properties": {
                    "for": {
                        "type": "string",
                        "title": "for",
                        "pattern": r"^[a-z_][a-z0-9_]*$",
                        "help_text": "e.g. offer",
                    },
                    "in": {"type": "string", "title": "in", "minLength": 1, "help_text": "e.g. offers"},
                },
                "required": ["for", "in"],
                "additionalProperties": False,
            },
        },
    }
