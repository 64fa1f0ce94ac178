"""ASGI entry point: HTTP to Django, WebSocket to Channels (``/ws/home/``).

HTTP passes through two fast paths first (their shared rules: homeservice/fast_path.py): the
home feed's (recommendations/api/home_fast.py) answers warm ``GET /api/v1/home/`` requests from
Redis, the plan filter's (recommendations/plans/filter_fast.py) ``POST /api/v1/plans/filter/`` requests it can
answer exactly as the view would; everything else goes to Django.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeservice.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from homeservice import access_log  # noqa: E402
from recommendations.api.home_fast import HomeFeedFastPath  # noqa: E402
from recommendations.plans.filter_fast import PlansFilterFastPath  # noqa: E402
from recommendations.routing import websocket_urlpatterns  # noqa: E402
from recommendations.ws_auth import websocket_auth  # noqa: E402

access_log.install()  # the server's log never shows ``?ticket=`` values
application = ProtocolTypeRouter(
    {
        "http": HomeFeedFastPath(PlansFilterFastPath(django_asgi_app)),
        "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
    }
)


def _tune_garbage_collection() -> None:
    """A server process holds thousands of long-lived objects per open WebSocket. With Python's
    default thresholds (700, 10, 10) its frequent full collections walk all of them, in the middle
    of pushes and broadcasts. Objects alive at startup are frozen out of collection and the
    thresholds raised (``SERVER_GC_GEN0_THRESHOLD``, then 50 and 100; 0 keeps Python's).
    Measured with bench/ws.py at 5,000 sockets: against Python's defaults the slowest of three
    broadcasts took 0.69 and 0.53 s instead of 1.35 and 1.42 s (2026-11-23); a young generation
    of 50,000 objects made each young collection cost 25-130 ms of CPU (its objects spread over
    memory), 10,000 about 10-25 ms (2026-12-04, the collector's callbacks timing each one;
    docs/benchmarks.md)."""
    from django.conf import settings

    if settings.SERVER_GC_GEN0_THRESHOLD > 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(settings.SERVER_GC_GEN0_THRESHOLD, 50, 100)


_tune_garbage_collection()
