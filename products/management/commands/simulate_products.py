"""``manage.py simulate_products``: the demo product backends pushing signed offer events.

The logic is in products/simulation.py; this command reads the options, finds the secrets and
stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import random
import signal
import threading
from types import FrameType
from typing import Any, TextIO, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from products.demo_catalogue import DEMO_PRODUCTS, demo_product
from products.models import Product, WebhookSecret
from products.simulation import EventSender, Progress, SequenceCounter, run
from products.webhooks import SECRET_PREFIX, webhook_secret_create, webhook_secret_revoke

DEMO_USERS = "alice,bob,carol"


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def offers_endpoint_for(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/simulator/products/{slug}/users/{{user}}/offers/"


class Command(BaseCommand):
    help = (
        "Act as the product backends: push signed offer events (mostly offer.upserted, sometimes "
        "offer.withdrawn) for the demo users to POST /api/v1/products/<slug>/events/ at --rate events/s, "
        "with a progress line. With DEBUG it creates a webhook secret per product (revoked when it stops) "
        "and points empty offers endpoints at the simulator; without DEBUG give --secret slug=whsec_..."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="The service's base URL.")
        parser.add_argument("--rate", type=float, default=0.5, help="Events per second (default 0.5).")
        limit = parser.add_mutually_exclusive_group()
        limit.add_argument("--count", type=int, help="Stop after this many events.")
        limit.add_argument("--duration", type=float, help="Stop after this many seconds.")
        parser.add_argument("--batch", type=int, default=1, help="Events per request (1-500; default 1).")
        parser.add_argument("--users", default=DEMO_USERS, help=f"Comma-separated usernames (default {DEMO_USERS}).")
        parser.add_argument(
            "--products", default="", help="Comma-separated product slugs (default: the demo products, or --secret's)."
        )
        parser.add_argument(
            "--secret",
            action="append",
            default=[],
            metavar="SLUG=WHSEC",
            help="A product's webhook secret (repeatable); required without DEBUG.",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress display.")

    def handle(self, *args: Any, **options: Any) -> None:
        rate: float = options["rate"]
        batch: int = options["batch"]
        if rate <= 0:
            raise CommandError("--rate must be more than 0")
        if not 1 <= batch <= 500:
            raise CommandError("--batch must be from 1 to 500")
        secrets = self._parse_secrets(options["secret"])
        if not settings.DEBUG and not secrets:
            raise CommandError(
                "Without DEBUG the simulator creates no webhook secrets: give each product's with "
                "--secret slug=whsec_... (manage.py webhook_secret <slug> --rotate prints one)."
            )
        users = _csv(options["users"])
        if not users:
            raise CommandError("--users names nobody")
        products = _csv(options["products"]) or (
            [spec["slug"] for spec in DEMO_PRODUCTS if spec["slug"] not in secrets] + list(secrets)
            if settings.DEBUG
            else list(secrets)
        )
        created: list[WebhookSecret] = []
        if settings.DEBUG:
            created = self._prepare_demo(products, secrets, options["base_url"])
        missing = [slug for slug in products if slug not in secrets]
        if missing:
            raise CommandError(f"no secret for {', '.join(missing)}: give --secret slug=whsec_...")

        stop = threading.Event()
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            for signum in previous:
                signal.signal(signum, on_signal)
        sender = EventSender(base_url=options["base_url"], secrets=secrets, stop=stop)
        # The wrapped stream itself: the progress line is rewritten in place, without added newlines.
        progress = Progress(stream=cast(TextIO, self.stdout._out), quiet=options["quiet"])
        self.stderr.write(
            f"simulate_products: {rate:g} events/s for {', '.join(users)} on {', '.join(products)} to {sender.base_url}"
        )
        try:
            run(
                sender=sender,
                products=products,
                users=users,
                rate=rate,
                progress=progress,
                count=options["count"],
                duration=options["duration"],
                batch=batch,
                sequences=SequenceCounter(),
                rng=random.Random(),  # noqa: S311 - picks demo users, nothing secret
            )
        finally:
            sender.close()
            if in_main_thread:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            for record in created:
                webhook_secret_revoke(secret=record)
        if progress.requests and progress.failed_requests == progress.requests:
            raise CommandError(f"every request failed; the last: {progress.last_error}")

    def _parse_secrets(self, values: list[str]) -> dict[str, str]:
        secrets: dict[str, str] = {}
        for value in values:
            slug, _, secret = value.partition("=")
            if not slug or not secret.startswith(SECRET_PREFIX):
                raise CommandError(f"--secret takes slug={SECRET_PREFIX}..., not {value.split('=')[0]}=...")
            secrets[slug] = secret
        return secrets

    def _prepare_demo(self, products: list[str], secrets: dict[str, str], base_url: str) -> list[WebhookSecret]:
        """DEBUG only: a fresh secret for each product without one (kept in memory, revoked at the
        end), and the simulator's per-user offers endpoint for demo products that have none (or
        another simulator's)."""
        created = []
        for slug in products:
            product = Product.objects.filter(slug=slug).first()
            if product is None:
                raise CommandError(f"no product {slug!r} (manage.py seed_demo creates the demo products)")
            # Empty, or a simulator's (perhaps on another port): ours. Anything else stays as set.
            simulated = product.offers_endpoint.endswith(offers_endpoint_for("", slug))
            if demo_product(slug) is not None and (not product.offers_endpoint or simulated):
                Product.objects.filter(pk=product.pk).update(offers_endpoint=offers_endpoint_for(base_url, slug))
            if slug not in secrets:
                record, secrets[slug] = webhook_secret_create(product=product)
                created.append(record)
        return created
