"""Demo data: products, plans, deals, plan finder questions, users and offers, for embedded mode and local use.

Idempotent: running it again updates what it created and adds nothing twice. Refused unless
``DEBUG`` is on, because it creates users with a known password.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from homeservice.errors import ApplicationError
from products.demo_catalogue import DEMO_PRODUCTS
from products.models import DealSnapshot, Plan, Product
from products.services import deals_record
from recommendations.plans.demo import demo_questions_seed
from ui_templates.groups import marketers_group

from .services import OfferPayload, offer_upsert

DEMO_PASSWORD = "demo1234"  # noqa: S105 - demo users only, refused without DEBUG
DEMO_USERS = ("alice", "bob", "carol")
DEMO_MARKETER = "mia"

# alice has offers for two products, bob for one, carol none (she sees generic deals).
DEMO_OFFERS: dict[str, list[tuple[str, OfferPayload]]] = {
    "alice": [
        (
            "mobile",
            OfferPayload(
                external_id="alice-upgrade",
                version=1,
                title="Upgrade to Unlimited 5G",
                body="Your contract ends soon: keep your number, double your speed.",
                price_amount=Decimal("24.99"),
                price_currency="EUR",
                price_period="month",
                cta_label="Upgrade now",
                cta_url="https://example.com/mobile/upgrade",
                priority=10,
            ),
        ),
        (
            "mobile",
            OfferPayload(
                external_id="alice-roaming",
                version=1,
                title="Roaming pack, half price",
                body="20 GB in the EU and US for your summer trip.",
                price_amount=Decimal("5.00"),
                price_currency="EUR",
                price_period="once",
                cta_label="Add pack",
                cta_url="https://example.com/mobile/roaming",
                priority=5,
            ),
        ),
        (
            "broadband",
            OfferPayload(
                external_id="alice-fibre",
                version=1,
                title="Fibre 1 Gbit at your address",
                body="Fibre reached your street: 1 Gbit for the price of 500.",
                price_amount=Decimal("39.99"),
                price_currency="EUR",
                price_period="month",
                cta_label="Switch to fibre",
                cta_url="https://example.com/broadband/1000",
            ),
        ),
    ],
    "bob": [
        (
            "tv",
            OfferPayload(
                external_id="bob-sports",
                version=1,
                title="Add Sports for 3 months free",
                body="The season starts Saturday.",
                cta_label="Add Sports",
                cta_url="https://example.com/tv/sports",
            ),
        ),
    ],
    "carol": [],
}


def demo_seed(*, simulator_base_url: str, poll_interval_seconds: int = 30) -> dict[str, int]:
    """Create or update the demo; deals endpoints point at the product simulator."""
    if not settings.DEBUG:
        raise ApplicationError(
            "demo_refused", "The demo creates users with a known password; it runs only with DEBUG on."
        )
    base = simulator_base_url.rstrip("/")
    now = timezone.now()
    user_model = get_user_model()
    with transaction.atomic():
        products = {}
        for spec in DEMO_PRODUCTS:
            product, _ = Product.objects.update_or_create(
                slug=spec["slug"],
                defaults={
                    "name": spec["name"],
                    "rank_weight": spec["rank_weight"],
                    "active": True,
                    "deals_endpoint": f"{base}/simulator/products/{spec['slug']}/deals/",
                    "events_endpoint": f"{base}/simulator/products/{spec['slug']}/events/",
                    "poll_interval_seconds": poll_interval_seconds,
                },
            )
            products[spec["slug"]] = product
            for plan in spec["plans"]:
                Plan.objects.update_or_create(
                    product=product,
                    code=plan["code"],
                    defaults={
                        "name": plan["name"],
                        "price_amount": Decimal(plan["price"]),
                        "attributes": plan["attributes"],
                    },
                )
            if not DealSnapshot.objects.filter(product=product).exists():
                deals_record(product=product, deals=spec["deals"], etag="", fetched_at=now)
        questions = demo_questions_seed()  # the plan finder's questions over these plans
        for username in DEMO_USERS:
            user, created = user_model.objects.get_or_create(username=username)
            if created or not user.check_password(DEMO_PASSWORD):
                user.set_password(DEMO_PASSWORD)
                user.save()
            for slug, payload in DEMO_OFFERS[username]:
                # Demo offers never expire, so the demo looks the same whenever it is started.
                offer_upsert(user=user, product=products[slug], payload=payload)
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created or not admin.check_password(DEMO_PASSWORD):
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        # A marketer: edits and publishes templates in the admin, sees nothing of products.
        marketer, created = user_model.objects.get_or_create(username=DEMO_MARKETER, defaults={"is_staff": True})
        if created or not marketer.check_password(DEMO_PASSWORD):
            marketer.set_password(DEMO_PASSWORD)
            marketer.is_staff = True
            marketer.save()
        marketer.groups.add(marketers_group())
    return {"products": len(products), "users": len(DEMO_USERS) + 2, "questions": questions}
