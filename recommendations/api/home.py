from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..client_version import HEADER, check_client_version
from ..selectors import home_feed


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
    def get(self, request: Request) -> Response:
        client_version = check_client_version(request.headers.get(HEADER))
        feed: dict[str, Any] = home_feed(
            user=request.user,  # type: ignore[arg-type]  # authenticated
            client_version=client_version,
        )
        # The version hashes the content as rendered for this client version, so the ETag differs
        # between client versions whenever their documents differ.
        headers = {
            "ETag": f'"{feed["version"]}"',
            "Cache-Control": "private, no-cache",
            "Vary": f"Authorization, {HEADER}",
        }
        if etag_matches(request.headers.get("If-None-Match"), feed["version"]):
            return Response(status=304, headers=headers)
        return Response(feed, headers=headers)
