"""Users for the benchmark's cold-cache rows, each with the demo user alice's offers.

Run by bench/run.py in the project's environment, after ``seed_demo``::

    python -m bench.cold_users --count 2000 --tokens <file>

creates ``cold-0`` … ``cold-<count-1>`` (no password) with copies of alice's live offers (so each
feed has alice's shape: personal sections for her products, generic deals for the others) and
writes one access token per line to ``<file>``. A wrk script sends each request with the next
token, so requests in flight are for different users and none can share another's render.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--tokens", type=Path, required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeservice.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from rest_framework_simplejwt.tokens import AccessToken

    from recommendations.models import Offer

    alice = User.objects.get(username="alice")
    offers = list(Offer.objects.filter(user=alice, withdrawn=False))
    copied = [f.attname for f in Offer._meta.concrete_fields if f.attname not in ("id", "user_id")]
    with transaction.atomic():
        users = User.objects.bulk_create([User(username=f"cold-{i}") for i in range(args.count)])
        Offer.objects.bulk_create(
            [Offer(user=user, **{name: getattr(offer, name) for name in copied}) for user in users for offer in offers]
        )
    with connection.cursor() as cursor:  # statistics for the planner, as autovacuum would gather them soon
        cursor.execute("ANALYZE")
    args.tokens.write_text("".join(f"{AccessToken.for_user(user)}\n" for user in users))
    print(f"{len(users)} users with {len(offers)} offers each; tokens in {args.tokens}")


if __name__ == "__main__":
    main()
