"""A headless Chromium driven by Playwright, against the real platform of ``tests/conftest.py``.

Debian's Chromium (``apt-get install chromium``), launched by its path: Playwright's own
browser download is not available here. Without it (or without Playwright) the browser
tests are skipped with the reason, unless ``REQUIRE_BROWSER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from config.settings import Settings
from domain.sessions import issue_token, new_user_id
from web.sessions import COOKIE
from dev.platform import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: ``UPDATE_SCREENSHOTS=1`` also writes the README's screenshots (checkout, confirmation) into docs/screenshots/
DOC_SHOTS = ROOT / "docs" / "screenshots"


def _missing_browser() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    missing = _missing_browser()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Screenshots:
    """Where the tests save screenshots: the test run's output folder (and docs/, when asked)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def save(self, page: Any, name: str, *, for_readme: bool = False) -> Path:
        path = self.folder / f"{name}.png"
        # without the toast of the last change (the pages' CSP refuses Playwright's `style=`)
        toast = page.locator("[data-announcer]")
        await toast.evaluate("el => { el.hidden = true; }")
        await page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        await toast.evaluate("el => { el.hidden = false; }")
        if for_readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOC_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_SHOTS / path.name)
        return path


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def session(settings: Settings) -> tuple[str, str]:
    """A shopper of this test alone (carts and orders do not mix between tests): ``(user_id, token)``,
    the token signed as ``POST /session`` signs a guest's."""
    user_id = new_user_id()
    token, _ = issue_token(settings.session_secret, user_id, "guest", datetime.now(timezone.utc),
                           settings.session_ttl_s)
    return user_id, token


@pytest.fixture
def user_id(session: tuple[str, str]) -> str:
    return session[0]


@pytest.fixture
async def page(browser: Any, settings: Settings, session: tuple[str, str]) -> AsyncIterator[Any]:
    """A fresh browser profile (its own localStorage) on a laptop-sized screen, at the gateway, holding
    the test shopper's session cookie as the gateway sets it."""
    context = await browser.new_context(base_url=settings.gateway_url, viewport={"width": 1280, "height": 900},
                                        locale="en-IN", timezone_id="Asia/Kolkata")
    await context.add_cookies([{"name": COOKIE, "value": session[1], "url": settings.gateway_url,
                                "httpOnly": True, "sameSite": "Lax"}])
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
