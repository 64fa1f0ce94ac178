"""Without chromium or the web client's build the browser tests skip locally, saying why, and
fail in CI (never a silent skip there)."""

from __future__ import annotations

import pytest

from .conftest import require


def test_nothing_missing_runs() -> None:
    require([], ci=True)
    require([], ci=False)


def test_something_missing_skips_locally_with_the_reason() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"/usr/bin/chromium is missing"):
        require(["/usr/bin/chromium is missing (apt-get install -y chromium)"], ci=False)


def test_something_missing_fails_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"CI: browser tests cannot run: the web client is not built"):
        require(["the web client is not built"], ci=True)
