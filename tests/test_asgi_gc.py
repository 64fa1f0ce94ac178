"""Server processes tune the garbage collector when the ASGI application loads (homeservice/asgi.py)."""

from __future__ import annotations

import gc

from django.conf import settings


def test_loading_the_application_raises_the_collection_threshold_and_freezes_startup_objects() -> None:
    import homeservice.asgi  # noqa: F401  (tunes on import)

    assert settings.SERVER_GC_GEN0_THRESHOLD > 700  # above Python's default
    assert gc.get_threshold()[0] == settings.SERVER_GC_GEN0_THRESHOLD
    assert gc.get_freeze_count() > 0
