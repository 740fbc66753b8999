"""Debian's Chromium under Playwright (never a browser downloaded by Playwright): shared by
the browser tests here and the one that logs into a real Airflow (tests/e2e)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import missing

CHROMIUM = os.environ.get("TRIBUTARY_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"


@contextlib.contextmanager
def launch() -> Iterator[object]:
    """A headless Chromium; skips without it on a laptop, fails with ``CI=true``."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is missing: scripts/setup.sh --dev installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
