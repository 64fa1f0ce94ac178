"""The app clients' JWT endpoints (docs/api.md, "Authentication"): obtain, refresh, logout.

simplejwt's views, throttled per client address (homeservice/throttling.py). Refresh tokens rotate:
a refresh answers a new one and blacklists the one used (``token_blacklist``), and logout
blacklists the one it is given. Failed logins are counted by django-axes (settings: ``AXES_*``);
a username locked out from an address gets 429 with ``Retry-After``, here and on the admin login
(``lockout_response``, axes' ``AXES_LOCKOUT_CALLABLE``).
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from .throttling import LoginThrottle, TokenThrottle, throttled_error, throttled_response

LOCKED_OUT = "Too many failed logins for this username from this address."


def lockout_seconds(request: HttpRequest | Request | None = None) -> int:
    """How long a locked-out username and address wait: the cool-off, which each attempt restarts."""
    cool_off = get_cool_off(request)
    return max(1, int(cool_off.total_seconds())) if cool_off else 1


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out login outside DRF (the admin login): the API's 429."""
    return throttled_response(lockout_seconds(request), LOCKED_OUT)


class SingleUseRefreshToken(RefreshToken):
    """A refresh token that can be blacklisted once: of two requests racing with the same token
    (two refreshes, or a refresh and a logout), the database's unique blacklist entry lets one
    through and the other is refused as blacklisted."""

    def blacklist(self) -> BlacklistedToken:
        found: Any = super().blacklist()  # get_or_create's (entry, created), whatever its annotation says
        blacklisted, created = found
        if not created:
            raise TokenError("Token is blacklisted")
        return blacklisted


class SingleUseRefreshSerializer(TokenRefreshSerializer):
    token_class = SingleUseRefreshToken


class SingleUseBlacklistSerializer(TokenBlacklistSerializer):
    token_class = SingleUseRefreshToken


class TokenObtainApi(TokenObtainPairView):
    """An access and a refresh token for a username and password."""

    throttle_classes = [LoginThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # django-axes refused the attempt, or this failure reached the limit.
            if getattr(request, "axes_locked_out", False):
                raise throttled_error(lockout_seconds(request), LOCKED_OUT) from None
            raise


class TokenRefreshApi(TokenRefreshView):
    """A new access token and a new refresh token; the refresh token given is used up."""

    throttle_classes = [TokenThrottle]
    serializer_class = SingleUseRefreshSerializer


class LogoutApi(TokenBlacklistView):
    """Revoke a refresh token (blacklist it): it can no longer be refreshed. Access tokens already
    issued stay valid until they expire (``JWT_ACCESS_TTL_SECONDS``)."""

    throttle_classes = [TokenThrottle]
    serializer_class = SingleUseBlacklistSerializer

    @extend_schema(
        operation_id="auth_logout",
        responses={
            204: OpenApiResponse(description="The refresh token is revoked."),
            400: OpenApiResponse(description="No `refresh` given."),
            401: OpenApiResponse(description="Not a valid refresh token, expired or already revoked."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().post(request, *args, **kwargs)  # raises unless the token was blacklisted now
        return Response(status=status.HTTP_204_NO_CONTENT)
