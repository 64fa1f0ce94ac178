"""Django-side steps of the WebSocket benchmark (bench/ws.py), each run as a process of its own
with the served project's environment:

- ``python -m bench.ws_django users <n>``: creates users ``wsbench-0`` … ``wsbench-<n-1>`` (no
  usable password) and prints, as one JSON line, ``[[username, access token], …]`` (tokens signed
  with the project's JWT key, valid for ``JWT_ACCESS_TTL_SECONDS``);
- ``python -m bench.ws_django deals <product slug> <title>``: records new generic deals for the
  product (``products.services.deals_record``: the snapshot, then after commit the cache
  invalidation and the ``feeds`` group message), as the deals poller does, and prints
  ``{"before": <epoch s>, "after": <epoch s>}`` around the call.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeservice.settings")
    import django

    django.setup()


def users(count: int) -> list[list[str]]:
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.tokens import AccessToken

    names = [f"wsbench-{i}" for i in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        [User(username=name, password="!", is_active=True) for name in names if name not in existing],  # noqa: S106 - unusable
        batch_size=1000,
    )
    by_name = {user.username: user for user in User.objects.filter(username__in=names)}
    return [[name, str(AccessToken.for_user(by_name[name]))] for name in names]


def deals(slug: str, title: str) -> dict[str, float]:
    from django.utils import timezone

    from products.models import Product
    from products.services import deals_record

    product = Product.objects.get(slug=slug)
    deal = {
        "id": f"ws-bench-{int(time.time() * 1000)}",
        "title": title,
        "description": "A deal for everyone",
        "price": {"amount": "9.99", "currency": "EUR", "period": "month"},
        "url": "https://example.com/ws-bench",
    }
    before = time.time()
    deals_record(product=product, deals=[deal], etag="", fetched_at=timezone.now())
    return {"before": before, "after": time.time()}


def main(argv: list[str]) -> int:
    _setup()
    if len(argv) == 2 and argv[0] == "users":
        print(json.dumps(users(int(argv[1]))))
        return 0
    if len(argv) == 3 and argv[0] == "deals":
        print(json.dumps(deals(argv[1], argv[2])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
