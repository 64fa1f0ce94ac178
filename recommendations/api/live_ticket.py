"""``POST /api/v1/live/ticket/``: a one-time ticket for opening ``/ws/home/`` (live_tickets.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from homeservice.throttling import LiveTicketThrottle

from ..live_tickets import live_ticket_issue


class LiveTicketApi(APIView):
    """A single-use ticket (valid for ``expires_in`` seconds, at most 60) to pass as
    ``/ws/home/?ticket=<ticket>`` from a browser that cannot send ``Authorization`` on a
    WebSocket handshake (docs/websocket.md). 503 ``unavailable`` while Redis is unreachable."""

    throttle_classes = [LiveTicketThrottle]

    class OutputSerializer(serializers.Serializer[dict[str, object]]):
        ticket = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(
        operation_id="live_ticket_create",
        request=None,
        responses={
            201: OutputSerializer,
            401: OpenApiResponse(description="Missing, invalid or expired access token."),
            503: OpenApiResponse(description="The shared cache (Redis) is unreachable: no ticket can be kept."),
        },
    )
    def post(self, request: Request) -> Response:
        token = request.auth
        expires_at = token.get("exp") if token is not None and hasattr(token, "get") else None
        user_id: int = request.user.pk  # type: ignore[assignment]  # IsAuthenticated: a saved user
        issued = live_ticket_issue(user_id=user_id, credential_expires_at=float(expires_at) if expires_at else None)
        body = self.OutputSerializer({"ticket": issued.ticket, "expires_in": issued.expires_in}).data
        return Response(body, status=status.HTTP_201_CREATED)
