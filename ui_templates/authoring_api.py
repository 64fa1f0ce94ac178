"""Template authoring over HTTP, for tooling and power users (the admin is the marketers' way).

- ``POST /api/v1/ui/templates/validate/``: check a tree without saving it;
- ``PUT  /api/v1/ui/templates/<key>/draft/``: create a template or replace its draft;
- ``POST /api/v1/ui/templates/<key>/publish/``: freeze the draft as a new version and publish it.

Every refusal is a 400 ``template_invalid`` whose ``details.issues`` name each problem's JSON
path, exactly as the admin shows them (the same ``template_check``). Editing needs the
``ui_templates.change_componenttemplate`` permission (the Marketers group has it), publishing
``ui_templates.publish_componenttemplate``.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .compat import min_client_version
from .models import ComponentTemplate
from .services import template_check_draft, template_draft_publish, template_invalid_error
from .slots import Slot


class _HasPermission(BasePermission):
    codename = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.codename))


class CanEditTemplates(_HasPermission):
    codename = "ui_templates.change_componenttemplate"


class CanPublishTemplates(_HasPermission):
    codename = "ui_templates.publish_componenttemplate"


class TemplateTreeInput(serializers.Serializer):
    tree = serializers.JSONField()
    key = serializers.SlugField(required=False, default="draft", help_text="Check it as this template (cycles).")
    slot = serializers.ChoiceField(choices=[("", "no slot (a part)"), *Slot.choices], required=False, default="")
    product_slug = serializers.SlugField(required=False, default="", allow_blank=True)


class TemplateDraftInput(TemplateTreeInput):
    name = serializers.CharField(max_length=100, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("product_slug") and not attrs.get("slot"):
            raise serializers.ValidationError({"product_slug": "A product-specific template needs a slot."})
        return attrs


def _check(*, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check a tree as ``key``; raise ``template_invalid`` or return what a client can render."""
    issues = template_check_draft(key=key, tree=data["tree"], slot=data["slot"], product_slug=data["product_slug"])
    if issues:
        raise template_invalid_error(issues)
    return {"valid": True, "issues": [], "min_client_version": min_client_version(data["tree"])}


_REFUSED = OpenApiResponse(description="template_invalid: details.issues lists {path, message} for each problem")


class TemplateValidateApi(APIView):
    permission_classes = [CanEditTemplates]

    @extend_schema(request=TemplateTreeInput, responses={200: dict, 400: _REFUSED}, operation_id="ui_template_validate")
    def post(self, request: Request) -> Response:
        data = TemplateTreeInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_check(key=data.validated_data["key"], data=dict(data.validated_data)))


class TemplateDraftApi(APIView):
    permission_classes = [CanEditTemplates]

    @extend_schema(request=TemplateDraftInput, responses={200: dict, 201: dict, 400: _REFUSED})
    def put(self, request: Request, key: str) -> Response:
        data = TemplateDraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        existing = ComponentTemplate.objects.filter(key=key).first()
        fields = dict(data.validated_data)
        if existing is not None:  # where a template sits is fixed at creation
            fields.update(slot=existing.slot, product_slug=existing.product_slug)
        result = _check(key=key, data=fields)
        if existing is None:
            template = ComponentTemplate.objects.create(
                key=key,
                name=fields.get("name") or key,
                slot=fields["slot"],
                product_slug=fields["product_slug"],
                draft_tree=fields["tree"],
            )
        else:
            template = existing
            template.draft_tree = fields["tree"]
            template.name = fields.get("name") or template.name
            template.save(update_fields=["draft_tree", "name", "updated_at"])
        return Response(
            {**result, "key": template.key, "slot": template.slot, "product_slug": template.product_slug},
            status=status.HTTP_201_CREATED if existing is None else status.HTTP_200_OK,
        )


class TemplatePublishApi(APIView):
    permission_classes = [CanPublishTemplates]

    @extend_schema(request=None, responses={200: dict, 400: _REFUSED, 404: OpenApiResponse()})
    def post(self, request: Request, key: str) -> Response:
        template = get_object_or_404(ComponentTemplate, key=key)
        event = template_draft_publish(template=template, user=request.user)
        assert event.version is not None
        return Response({"key": key, "version": event.version.number, "action": event.action})
