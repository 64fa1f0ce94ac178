"""REST adapters: ``POST /api/v1/plans/select/`` and ``POST /api/v1/events/`` (docs/api.md)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from homeservice.errors import ApplicationError
from homeservice.throttling import EventsThrottle, PlansSelectThrottle

from .services import SELECT_SCHEMA, interactions_record, plan_select
from .validation import EVENTS_SCHEMA

_ERROR = 'Invalid: ``{"error": {"code", "message", "details": {<field>: [...]}}}`` naming the field.'


class PlanSelectionSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.IntegerField()
    plan = serializers.DictField()
    request_id = serializers.CharField()
    selected_at = serializers.DateTimeField()
    forwarded = serializers.BooleanField()


class InteractionEventsResultSerializer(serializers.Serializer[dict[str, object]]):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    dismissed = serializers.ListField(child=serializers.CharField())


class PlanSelectApi(APIView):
    """Record the user's choice of a plan and forward it to the plan's product backend."""

    OutputSerializer = PlanSelectionSerializer
    throttle_classes = [PlansSelectThrottle]

    @extend_schema(
        operation_id="plan_select",
        request={"application/json": SELECT_SCHEMA},
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(OutputSerializer, description="The same selection again (same plan and request_id)."),
            400: OpenApiResponse(description=_ERROR),
        },
        examples=[OpenApiExample("by code", value={"plan": "5g-unlimited", "product": "mobile", "request_id": "r-1"})],
    )
    def post(self, request: Request) -> Response:
        result = plan_select(user=request.user, document=request.data)  # type: ignore[arg-type]
        selection = result.selection
        body = {
            "id": selection.pk,
            "plan": {"id": selection.plan_id, "code": selection.plan.code, "product": selection.product.slug},
            "request_id": selection.request_id,
            "selected_at": selection.selected_at,
            "forwarded": result.forwarded,
        }
        return Response(
            self.OutputSerializer(body).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class InteractionEventsApi(APIView):
    """A batch of what the user did with the home screen (impressions, clicks, dismissals,
    conversions): stored all or nothing, idempotent by each event's ``id``."""

    OutputSerializer = InteractionEventsResultSerializer
    throttle_classes = [EventsThrottle]

    @extend_schema(
        operation_id="interaction_events",
        request={"application/json": EVENTS_SCHEMA},
        responses={
            202: OutputSerializer,
            400: OpenApiResponse(description=_ERROR + " Nothing of the batch is stored."),
            413: OpenApiResponse(
                description="More events than INTERACTIONS_BATCH_LIMIT (500), or a body over "
                "INTERACTIONS_MAX_BODY_BYTES (1 MiB), in one request."
            ),
        },
        examples=[
            OpenApiExample(
                "a click",
                value={
                    "events": [
                        {
                            "id": "c-1",
                            "kind": "click",
                            "section_id": "product-mobile",
                            "component_id": "product-mobile-offer-upgrade-5g",
                            "offer_id": "upgrade-5g",
                            "occurred_at": "2026-11-23T12:00:00Z",
                        }
                    ]
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.INTERACTIONS_MAX_BODY_BYTES:
            raise ApplicationError(
                "body_too_large",
                f"the body exceeds {settings.INTERACTIONS_MAX_BODY_BYTES} bytes",
                details={"events": [f"at most {settings.INTERACTIONS_BATCH_LIMIT} events per request"]},
                status_code=413,
            )
        result = interactions_record(user=request.user, document=request.data)  # type: ignore[arg-type]
        body = {"accepted": result.accepted, "duplicates": result.duplicates, "dismissed": result.dismissed}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)
