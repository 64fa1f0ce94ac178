from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from products.models import DealSnapshot, DealsPollState, Plan, Product
from products.services import deals_content_hash
from recommendations.models import Offer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-123456")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    slug = factory.Sequence(lambda n: f"product{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    rank_weight = 0
    active = True


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"plan{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    price_amount = Decimal("10.00")


def deal(deal_id: str, title: str = "A deal", amount: str = "9.99") -> dict:
    return {
        "id": deal_id,
        "title": title,
        "description": f"{title} description",
        "price": {"amount": amount, "currency": "EUR", "period": "month"},
        "url": f"https://example.com/{deal_id}",
    }


class DealSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealSnapshot

    product = factory.SubFactory(ProductFactory)
    deals = factory.LazyAttribute(lambda o: [deal(f"{o.product.slug}-d1")])
    content_hash = factory.LazyAttribute(lambda o: deals_content_hash(o.deals))
    fetched_at = factory.LazyFunction(timezone.now)


class DealsPollStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealsPollState

    product = factory.SubFactory(ProductFactory)
    last_polled_at = factory.LazyFunction(timezone.now)
    last_success_at = factory.LazyFunction(timezone.now)


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    user = factory.SubFactory(UserFactory)
    product = factory.SubFactory(ProductFactory)
    external_id = factory.Sequence(lambda n: f"offer{n}")
    title = factory.Sequence(lambda n: f"Offer {n}")
    body = "Just for you"
    price_amount = Decimal("19.99")
    price_currency = "EUR"
    price_period = "month"
    cta_url = "https://example.com/offer"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
