"""Fixtures of the web view's browser tests: Debian's Chromium driven by Playwright.

The browser comes from the system (apt package `chromium`; NOMADSIM_CHROMIUM names another
binary), never from `playwright install`. Without one the browser tests skip, saying why, except
on CI (CI=true), where a missing browser fails them: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("NOMADSIM_SCREENSHOTS", Path(__file__).parents[2] / "results" / "ui-screenshots"))


def chromium_path() -> str | None:
    """The system's Chromium binary, if any."""
    named = os.environ.get("NOMADSIM_CHROMIUM")
    if named:
        return named
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run on CI: {reason} (.ci/run installs Debian's chromium)")
    pytest.skip(f"browser tests skipped: {reason} (apt-get install chromium; pip install playwright)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (session-wide)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (chromium or chromium-browser on PATH)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; a JavaScript error on it fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15000)
    yield pg
    context.close()
    assert errors == []


def screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot of the page under SCREENSHOTS (CI keeps them as artefacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
