"""``GET /api/v1/plans/questions/`` and ``POST /api/v1/plans/filter/`` (docs/api.md)."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from homeservice.throttling import PlansFilterThrottle

from . import fast_users
from .selectors import questions_json
from .services import plans_filter

CONTENT_TYPE = "application/json"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


CACHE_CONTROL = "private, no-cache"


def _json(body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


class PlanQuestionsApi(APIView):
    """The plan finder's questions, in the order to ask them."""

    @extend_schema(
        operation_id="plan_questions",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="`{version, questions: [...]}`")},
    )
    def get(self, request: Request) -> HttpResponse:
        return _json(questions_json())


class PlansFilterApi(APIView):
    """Matching plans of active products for the answers, ranked; the refined answer follows
    over WebSocket (``recommendations.updated`` with the same ``request_id``). Throttled per user
    (``THROTTLE_PLANS_FILTER_RATE``), by the fast path too."""

    throttle_classes = [PlansFilterThrottle]

    class InputSerializer(serializers.Serializer):
        answers = serializers.DictField(help_text="Question id → option id, list of option ids, or number.")
        request_id = serializers.RegexField(REQUEST_ID_PATTERN, required=False)

        class Meta:
            ref_name = "PlansFilterInput"  # the OpenAPI component's name ("Input" is everyone's)

    @extend_schema(
        operation_id="plans_filter",
        request=InputSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="`{request_id, refined, superseded, total, plans}`"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad answers: `invalid_answers`, each field named."),
        },
        examples=[
            OpenApiExample(
                "Mobile under 30 EUR with 5G",
                value={"answers": {"product": "mobile", "budget": 30, "extras": ["5g"]}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> HttpResponse:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        answer = plans_filter(
            user_id=int(request.user.pk),  # type: ignore[arg-type]  # authenticated: never None
            answers=given.validated_data["answers"],
            request_id=given.validated_data.get("request_id"),
        )
        return _json(orjson.dumps(answer))

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Read before DRF looks the user up, stored once it has: what lets the fast path
        # (recommendations/plans/filter_fast.py) answer this user without looking the account up.
        seen = fast_users.before_authentication(request.META.get("HTTP_AUTHORIZATION"))
        super().initial(request, *args, **kwargs)
        fast_users.authenticated(seen, user_id=int(request.user.pk))  # type: ignore[arg-type]  # authenticated
