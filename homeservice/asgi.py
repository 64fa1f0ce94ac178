"""ASGI entry point: HTTP to Django, WebSocket to Channels (``/ws/home/``).

HTTP passes through the home feed's fast path first (recommendations/api/home_fast.py): it
answers warm ``GET /api/v1/home/`` requests from Redis and hands everything else to Django.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeservice.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from recommendations.api.home_fast import HomeFeedFastPath  # noqa: E402
from recommendations.routing import websocket_urlpatterns  # noqa: E402
from recommendations.ws_auth import websocket_auth  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": HomeFeedFastPath(django_asgi_app),
        "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
    }
)
