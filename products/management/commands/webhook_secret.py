"""``manage.py webhook_secret <product> --rotate | --list | --revoke <id>``: a product's webhook secrets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from products.models import Product, WebhookSecret
from products.webhooks import webhook_secret_create, webhook_secret_revoke


class Command(BaseCommand):
    help = (
        "Manage a product's webhook signing secrets. --rotate creates a new active secret and prints it "
        "once (the older ones stay active until revoked); --list shows ids, fingerprints, created and "
        "last-used times, never the secrets; --revoke <id> revokes one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("product", help="The product's slug.")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--rotate", action="store_true", help="Create a new secret and print it once.")
        action.add_argument("--list", action="store_true", help="List the product's secrets (never their text).")
        action.add_argument("--revoke", type=int, metavar="ID", help="Revoke the secret with this id.")

    def handle(self, *args: Any, **options: Any) -> None:
        product = Product.objects.filter(slug=options["product"]).first()
        if product is None:
            raise CommandError(f"no product {options['product']!r}")
        if options["rotate"]:
            record, secret = webhook_secret_create(product=product)
            self.stderr.write(
                f"New webhook secret {record.pk} (fingerprint {record.fingerprint}) for {product.slug}; "
                "it is shown only now. Older secrets stay active until revoked."
            )
            self.stdout.write(secret)
        elif options["list"]:
            self.stdout.write(f"{'id':>6}  {'fingerprint':12}  {'created':25}  {'last used':25}  status")
            for record in WebhookSecret.objects.filter(product=product).order_by("-created_at", "-id"):
                last_used = record.last_used_at.isoformat(timespec="seconds") if record.last_used_at else "never"
                status = "active" if record.active else f"revoked {record.revoked_at:%Y-%m-%d %H:%M}"
                self.stdout.write(
                    f"{record.pk:>6}  {record.fingerprint:12}  "
                    f"{record.created_at.isoformat(timespec='seconds'):25}  {last_used:25}  {status}"
                )
        else:
            record_or_none = WebhookSecret.objects.filter(product=product, pk=options["revoke"]).first()
            if record_or_none is None:
                raise CommandError(f"no webhook secret {options['revoke']} for {product.slug}")
            if webhook_secret_revoke(secret=record_or_none):
                self.stdout.write(f"Revoked webhook secret {record_or_none.pk} of {product.slug}.")
            else:
                self.stdout.write(f"Webhook secret {record_or_none.pk} of {product.slug} was already revoked.")
