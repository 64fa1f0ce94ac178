from __future__ import annotations

import orjson
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from ..client_version import HEADER, check_client_version
from ..fragments import documents
from ..selectors import home_feed_document

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
        user_id: int = request.user.pk  # type: ignore[assignment]  # authenticated
        # Read before the feed is built (documents.py explains why), store after.
        generations = documents.generations(user_id=user_id)
        result = home_feed_document(
            user=request.user,  # type: ignore[arg-type]  # authenticated
            client_version=client_version,
        )
        version: str = result.feed["version"]
        # Rendered here rather than by DRF so that the fast path serves exactly these bytes.
        body = orjson.dumps(result.feed)
        if generations is not None:
            documents.store(
                user_id=user_id,
                client_version=client_version,
                built_under=generations,
                valid_until=result.valid_until,
                etag=version,
                body=body,
            )
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
