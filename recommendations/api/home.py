from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from ..client_version import HEADER, check_client_version
from ..feed_answer import feed_answer

CONTENT_TYPE = "application/json"
CACHE_CONTROL = "private, no-cache"
VARY = f"Authorization, {HEADER}"


def etag_matches(if_none_match: str | None, version: str) -> bool:
    """Does an ``If-None-Match`` header name this version? (weak or strong, quoted or not, ``*``)"""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag == version:
            return True
    return False


class HomeFeedApi(APIView):
    """The authenticated user's home screen, one document (docs/api.md)."""

    @extend_schema(
        operation_id="home_feed",
        parameters=[
            OpenApiParameter(
                "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="A version seen before."
            ),
            OpenApiParameter(
                HEADER,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="The component catalogue version the client renders (at least 1; missing: the "
                "newest). Newer components are replaced by their fallbacks or left out (docs/sdui.md).",
            ),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The feed document; ETag is its version."),
            304: OpenApiResponse(description="The feed is unchanged since the version in If-None-Match."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid X-SDUI-Version (invalid_client_version)."),
            401: OpenApiResponse(description="Missing, invalid or expired access token."),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        client_version = check_client_version(request.headers.get(HEADER))
        answer = feed_answer(
            user=request.user,  # type: ignore[arg-type]  # authenticated
            client_version=client_version,
        )
        version, body = answer.version, answer.body
        # The version hashes the content as rendered for this client version, so the ETag differs
        # between client versions whenever their documents differ.
        response: HttpResponse
        if etag_matches(request.headers.get("If-None-Match"), version):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(body, content_type=CONTENT_TYPE)
        response.headers["ETag"] = f'"{version}"'
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Vary"] = VARY
        return response
