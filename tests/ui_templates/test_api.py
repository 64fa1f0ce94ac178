"""GET /api/v1/ui/schema/ and /api/v1/ui/catalogue/ through the real URL routing (docs/sdui.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from ui_templates.catalogue import ACTIONS, CATALOGUE_VERSION, COMPONENTS
from ui_templates.management.commands.sdui_schema import schema_text
from ui_templates.schema import document_schema, template_schema

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/ui/schema/"
CATALOGUE_URL = "/api/v1/ui/catalogue/"


def test_the_schema_is_the_document_schema_and_needs_no_authentication(api_client: APIClient) -> None:
    response = api_client.get(SCHEMA_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == document_schema()
    Draft202012Validator.check_schema(response.json())


def test_kind_template_gives_the_template_schema(api_client: APIClient) -> None:
    response = api_client.get(SCHEMA_URL, {"kind": "template"})

    assert response.status_code == 200
    assert response.json() == template_schema()


def test_kind_document_is_the_default(api_client: APIClient) -> None:
    assert api_client.get(SCHEMA_URL, {"kind": "document"}).json() == api_client.get(SCHEMA_URL).json()


@pytest.mark.parametrize("kind", ["bogus", "", "Document"])
def test_an_unknown_kind_is_a_400_naming_the_allowed_kinds(api_client: APIClient, kind: str) -> None:
    response = api_client.get(SCHEMA_URL, {"kind": kind})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_schema_kind"
    assert error["details"] == {"kind": kind, "allowed": ["document", "template"]}


def test_a_bad_token_does_not_matter_on_public_endpoints(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    assert api_client.get(SCHEMA_URL).status_code == 200
    assert api_client.get(CATALOGUE_URL).status_code == 200


def test_the_catalogue_lists_every_component_and_action(api_client: APIClient) -> None:
    response = api_client.get(CATALOGUE_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["catalogue_version"] == CATALOGUE_VERSION
    assert body["limits"] == {"max_depth": 12, "max_nodes": 500}
    assert [c["type"] for c in body["components"]] == list(COMPONENTS)
    assert [a["type"] for a in body["actions"]] == list(ACTIONS)
    for component in body["components"]:
        assert set(component) == {"type", "description", "props", "children", "action", "since", "fallback_type"}
        assert component["description"]
        for prop in component["props"].values():
            assert {"kind", "required"} <= set(prop)


def test_the_catalogue_describes_props_versions_and_fallbacks(api_client: APIClient) -> None:
    components = {c["type"]: c for c in api_client.get(CATALOGUE_URL).json()["components"]}

    assert components["countdown"]["since"] == 2
    assert components["countdown"]["fallback_type"] == "text"
    assert components["banner"]["fallback_type"] == "card"
    assert components["text"]["since"] == 1
    assert components["text"]["fallback_type"] is None
    assert components["button"]["action"] == "required"
    assert components["card"]["children"] is True
    assert components["image"]["props"]["alt"]["required"] is True
    assert components["image"]["props"]["aspect_ratio"]["choices"] == ["1:1", "4:3", "16:9", "3:1"]
    assert components["price"]["props"]["amount"]["kind"] == "money"


def test_the_catalogue_describes_action_params(api_client: APIClient) -> None:
    actions = {a["type"]: a for a in api_client.get(CATALOGUE_URL).json()["actions"]}

    assert actions["open_url"]["params"] == {"url": {"kind": "url", "required": True}}
    assert actions["select_plan"]["params"]["plan"]["required"] is True


def test_the_openapi_schema_documents_both_endpoints(api_client: APIClient) -> None:
    response = api_client.get("/api/schema/")

    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    assert paths[SCHEMA_URL]["get"]["operationId"] == "ui_schema"
    assert "security" not in paths[SCHEMA_URL]["get"]  # public, unlike the feed
    assert paths["/api/v1/home/"]["get"]["security"]
    kind = next(p for p in paths[SCHEMA_URL]["get"]["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == ["document", "template"]
    assert paths[CATALOGUE_URL]["get"]["operationId"] == "ui_catalogue"


# --- manage.py sdui_schema and the committed copy ----------------------------------------------

COMMITTED_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "sdui-schema.json"


def test_the_committed_schema_is_the_current_one() -> None:
    assert COMMITTED_SCHEMA.read_text() == schema_text("document"), (
        "docs/sdui-schema.json is out of date: run "
        "`DEBUG=true .venv/bin/python manage.py sdui_schema --output docs/sdui-schema.json`"
    )


def test_the_command_writes_the_document_schema_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"

    call_command("sdui_schema", "--output", str(target), stderr=io.StringIO())

    assert json.loads(target.read_text()) == document_schema()


def test_the_command_writes_the_template_schema_to_stdout() -> None:
    out = io.StringIO()

    call_command("sdui_schema", "--kind", "template", stdout=out)

    assert json.loads(out.getvalue()) == template_schema()
