"""In-process micro-benchmark: rendering one personalised section (docs/benchmarks.md).

Renders an alice-like section (three offers with price and expiry) with the built-in templates
(``TemplateSet()``) through ``ui_templates.rendering.render_section_component``, as the feed does,
for the newest catalogue and for a client of catalogue v1 (fallbacks applied). No database, no
servers. The issue's target: under 1 ms per section on this machine.

    .venv/bin/python -m bench.render          # a table
    .venv/bin/python -m bench.render --json   # what bench/run.py reads

Each case: a warm-up, then ``BATCHES`` timed batches of ``BATCH`` renders; the figure is the
median batch's time per section (min and max batches shown for spread).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.report import render_text_table
from ui_templates.catalogue import CATALOGUE_VERSION
from ui_templates.rendering import render_section_component
from ui_templates.slots import Slot
from ui_templates.template_set import TemplateSet

TARGET_US = 1000.0  # the issue: under 1 ms per section
WARMUP = 500
BATCH = 200
BATCHES = 15

_EXPIRES = "2030-06-30T23:59:59Z"
OFFERS: list[dict[str, Any]] = [
    {
        "id": f"alice-{key}",
        "title": title,
        "body": body,
        "image_url": "",
        "price": {"amount": amount, "currency": "EUR", "period": period},
        "cta_label": cta,
        "cta_url": f"https://example.com/mobile/{key}",
        "priority": priority,
        "expires_at": _EXPIRES,
        "data": {},
    }
    for key, title, body, amount, period, cta, priority in [
        ("upgrade", "Upgrade to Unlimited 5G", "Keep your number, double your speed.", "24.99", "month",
         "Upgrade now", 10),
        ("roaming", "Roaming pack, half price", "20 GB in the EU and US.", "5.00", "once", "Add pack", 5),
        ("family", "Add a family SIM", "A second line at half price.", "9.99", "month", "Add a SIM", 1),
    ]
]  # fmt: skip
CONTEXT: dict[str, Any] = {
    "section_id": "product-mobile",
    "product": {"slug": "mobile", "name": "Mobile"},
    "offers": OFFERS,
}


@dataclass(frozen=True)
class RenderResult:
    case: str
    client_version: int | None
    us_per_section: float  # median batch
    us_min: float
    us_max: float
    sections_per_s: float
    nodes: int  # nodes in one rendered section
    renders: int  # timed renders
    target_us: float = TARGET_US

    @property
    def meets_target(self) -> bool:
        return self.us_per_section < self.target_us


def _count(node: dict[str, Any]) -> int:
    return 1 + sum(_count(child) for child in node.get("children", []))


def _render(templates: TemplateSet, client_version: int | None) -> dict[str, Any]:
    return render_section_component(
        templates=templates,
        slot=Slot.PRODUCT_PERSONALISED,
        product_slug="mobile",
        context=CONTEXT,
        section_id="product-mobile",
        client_version=client_version,
    )


def measure(case: str, client_version: int | None) -> RenderResult:
    templates = TemplateSet()
    section = _render(templates, client_version)
    for _ in range(WARMUP):
        _render(templates, client_version)
    per_section = []
    for _ in range(BATCHES):
        started = time.perf_counter_ns()
        for _ in range(BATCH):
            _render(templates, client_version)
        per_section.append((time.perf_counter_ns() - started) / BATCH / 1000)
    median = statistics.median(per_section)
    return RenderResult(
        case=case,
        client_version=client_version,
        us_per_section=median,
        us_min=min(per_section),
        us_max=max(per_section),
        sections_per_s=1_000_000 / median,
        nodes=_count(section),
        renders=BATCH * BATCHES,
    )


def measure_all() -> list[RenderResult]:
    return [
        measure(f"personalised section, 3 offers, newest client (v{CATALOGUE_VERSION})", None),
        measure("personalised section, 3 offers, v1 client (fallbacks applied)", 1),
    ]


def as_dicts(results: list[RenderResult]) -> list[dict[str, Any]]:
    return [{**asdict(r), "meets_target": r.meets_target} for r in results]


def main(argv: list[str]) -> int:
    rows = as_dicts(measure_all())
    if "--json" in argv:
        print(json.dumps(rows))
    else:
        print(render_text_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
