"""Insight for marketers: daily counts per template version and per offer (selector), rates and
the SVG chart (pure), and the admin page that shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recommendations.interactions.insight import Counts, series_by_label, summary_rows, svg_rate_chart
from recommendations.interactions.models import Interaction
from recommendations.interactions.selectors import interaction_daily_counts
from tests.factories import ProductFactory, UserFactory
from ui_templates.groups import marketers_group

D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


def test_series_sum_per_label_and_day() -> None:
    rows = [
        ("cards v1", D1, "impression", 100),
        ("cards v1", D1, "click", 5),
        ("cards v2", D1, "impression", 100),
        ("cards v2", D1, "click", 12),
        ("cards v2", D2, "impression", 50),
        ("cards v2", D2, "convert", 2),
    ]
    v2, v1 = series_by_label(rows)  # most impressions first
    assert (v2.label, v2.total.impressions, v2.total.clicks, v2.total.conversions) == ("cards v2", 150, 12, 2)
    assert v2.days[D1].ctr == 0.12
    assert v2.days[D2].conversion_rate == 0.04
    assert v1.total.ctr == 0.05
    assert summary_rows([v2])[0] == {
        "label": "cards v2",
        "impressions": 150,
        "clicks": 12,
        "ctr": "8.0%",
        "conversions": 2,
        "conversion_rate": "1.3%",
    }


def test_rates_without_impressions_are_unknown() -> None:
    assert Counts(clicks=3).ctr is None
    assert Counts().conversion_rate is None


def test_the_chart_draws_one_line_per_series_with_gaps_and_escaped_labels() -> None:
    rows = [
        ("<b>v1</b>", D1, "impression", 10),
        ("<b>v1</b>", D1, "click", 1),
        ("<b>v1</b>", D2, "impression", 10),
        ("<b>v1</b>", D2, "click", 2),
        ("v2", D1, "impression", 10),
        ("v2", D3, "impression", 10),  # D2 missing: a gap, not a zero
    ]
    svg = svg_rate_chart(series_by_label(rows), [D1, D2, D3])
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<b>" not in svg
    assert "&lt;b&gt;v1&lt;/b&gt;" in svg
    assert svg.count("<polyline") == 1  # v1's two days; v2's points are apart
    assert svg.count("<circle") == 4
    assert "11-20" in svg


@pytest.mark.django_db
def test_daily_counts_per_template_version_and_per_offer() -> None:
    mobile, tv = ProductFactory.create(slug="mobile"), ProductFactory.create(slug="tv")
    user = UserFactory.create()
    noon = datetime(2026, 11, 21, 12, tzinfo=UTC)
    specs = [
        (mobile, "impression", "cards", 1, "o1", noon),
        (mobile, "impression", "cards", 1, "o1", noon + timedelta(hours=1)),
        (mobile, "click", "cards", 1, "o1", noon),
        (mobile, "impression", "cards", 2, "o2", noon + timedelta(days=1)),
        (mobile, "dismiss", "cards", 2, "o2", noon),  # not counted
        (tv, "convert", "tv-cards", 3, "", noon),
        (mobile, "impression", "cards", 1, "o1", noon - timedelta(days=30)),  # before the period
    ]
    for n, (product, kind, key, version, offer, at) in enumerate(specs):
        Interaction.objects.create(
            user=user,
            product=product,
            kind=kind,
            section_id=f"product-{product.slug}",
            template_key=key,
            template_version=version,
            offer_id=offer,
            client_event_id=str(n),
            occurred_at=at,
        )
    since, until = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    by_template = sorted(interaction_daily_counts(since=since, until=until, by="template"))
    assert by_template == [
        ("cards v1", date(2026, 11, 21), "click", 1),
        ("cards v1", date(2026, 11, 21), "impression", 2),
        ("cards v2", date(2026, 11, 22), "impression", 1),
        ("tv-cards v3", date(2026, 11, 21), "convert", 1),
    ]
    by_offer = sorted(interaction_daily_counts(since=since, until=until, by="offer", product_id=mobile.pk))
    assert by_offer == [
        ("mobile/o1", date(2026, 11, 21), "click", 1),
        ("mobile/o1", date(2026, 11, 21), "impression", 2),
        ("mobile/o2", date(2026, 11, 22), "impression", 1),
    ]


@pytest.fixture
def some_interactions(db: None) -> None:
    product = ProductFactory.create(slug="mobile")
    user = UserFactory.create()
    for n, (kind, version) in enumerate([("impression", 1), ("click", 1), ("impression", 2), ("impression", 2)]):
        Interaction.objects.create(
            user=user,
            product=product,
            kind=kind,
            section_id="product-mobile",
            template_key="mobile-cards",
            template_version=version,
            offer_id="o1",
            client_event_id=str(n),
            occurred_at=timezone.now(),
        )


URL = "/admin/interactions/interaction/insight/"


def test_the_admin_shows_the_chart_and_table(admin_client: Client, some_interactions: None) -> None:
    assert reverse("admin:interactions_insight") == URL
    response = admin_client.get(URL, {"days": "7"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="insight-chart"') == 4  # click-through and conversion, per version and per offer
    assert "mobile-cards v1" in page
    assert "mobile-cards v2" in page
    assert "<td>mobile-cards v1</td><td>1</td><td>1</td><td>100.0%</td>" in page
    assert "<td>mobile-cards v2</td><td>2</td><td>0</td><td>0.0%</td>" in page
    assert "<td>mobile/o1</td><td>3</td><td>1</td><td>33.3%</td>" in page
    assert admin_client.get(reverse("admin:interactions_interaction_changelist")).status_code == 200


def test_marketers_see_it_other_staff_do_not(client: Client, some_interactions: None) -> None:
    marketer = UserFactory.create(username="mia", is_staff=True)
    marketer.groups.add(marketers_group())
    client.force_login(marketer)
    assert client.get(URL).status_code == 200
    clerk: User = UserFactory.create(username="clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(URL).status_code == 403


def test_bad_parameters_fall_back(admin_client: Client, some_interactions: None) -> None:
    assert admin_client.get(URL, {"days": "lots", "product": "x"}).status_code == 200
    assert admin_client.get(URL, {"days": "-5"}).status_code == 200
