"""Public, read-only API of the component catalogue (docs/sdui.md).

- ``GET /api/v1/ui/schema/``: the JSON Schema of rendered documents (``?kind=template``: of
  template trees), as ``ui_templates/schema.py`` derives it from the catalogue;
- ``GET /api/v1/ui/catalogue/``: the catalogue itself, as JSON.

Both are built from ``catalogue.py`` at request time (the schemas are cached per process), so
they cannot drift from what the server renders and validates. No authentication: client and
tooling teams fetch them at build time.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from homeservice.errors import ApplicationError

from .catalogue import ACTIONS, CATALOGUE_VERSION, COMPONENTS, ActionSpec, ComponentSpec, Prop
from .schema import MAX_DEPTH, MAX_NODES, document_schema, template_schema

SCHEMA_KINDS = {"document": document_schema, "template": template_schema}

# The catalogue changes only with a deploy; let clients and proxies keep it a few minutes.
_CACHE_CONTROL = "public, max-age=300"


def _prop_as_json(prop: Prop) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": prop.kind, "required": prop.required}
    if prop.description:
        out["description"] = prop.description
    if prop.choices:
        out["choices"] = list(prop.choices)
    if prop.kind == "string":
        out["max_length"] = prop.max_length
    return out


def _component_as_json(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "type": spec.type,
        "description": spec.description,
        "props": {name: _prop_as_json(prop) for name, prop in spec.props.items()},
        "children": spec.children,
        "action": spec.action,
        "since": spec.since,
        "fallback_type": spec.fallback_type,
    }


def _action_as_json(spec: ActionSpec) -> dict[str, Any]:
    return {
        "type": spec.type,
        "description": spec.description,
        "params": {name: _prop_as_json(prop) for name, prop in spec.params.items()},
    }


def catalogue_as_json() -> dict[str, Any]:
    """The component catalogue as clients and tools read it (``GET /api/v1/ui/catalogue/``)."""
    return {
        "catalogue_version": CATALOGUE_VERSION,
        "limits": {"max_depth": MAX_DEPTH, "max_nodes": MAX_NODES},
        "components": [_component_as_json(spec) for spec in COMPONENTS.values()],
        "actions": [_action_as_json(spec) for spec in ACTIONS.values()],
    }


def ui_schema(*, kind: str) -> dict[str, Any]:
    """The JSON Schema of ``kind`` (``document`` or ``template``); ApplicationError otherwise."""
    build = SCHEMA_KINDS.get(kind)
    if build is None:
        raise ApplicationError(
            "invalid_schema_kind",
            f"Unknown schema kind {kind!r}; use one of: {', '.join(SCHEMA_KINDS)}.",
            details={"kind": kind, "allowed": list(SCHEMA_KINDS)},
        )
    return build()


class UiSchemaApi(APIView):
    """The JSON Schema of the component trees the server sends (or that marketers write)."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="ui_schema",
        tags=["ui"],
        parameters=[
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(SCHEMA_KINDS),
                default="document",
                description="document: rendered trees as clients receive them; template: template trees.",
            )
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON Schema (draft 2020-12)."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown kind (code invalid_schema_kind)."),
        },
    )
    def get(self, request: Request) -> Response:
        schema = ui_schema(kind=request.query_params.get("kind", "document"))
        return Response(schema, headers={"Cache-Control": _CACHE_CONTROL})


class UiCatalogueApi(APIView):
    """Every component and action the server may send, with what each client version supports."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="ui_catalogue",
        tags=["ui"],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="catalogue_version, limits, components (props, children, action, since, "
                "fallback_type) and actions (params).",
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response(catalogue_as_json(), headers={"Cache-Control": _CACHE_CONTROL})
