"""A real browser for the HTML reports: Debian's chromium, headless, driven by Playwright.

Playwright's own browser downloads are never used: ``.ci/browser.sh`` installs the distribution's
chromium, and these fixtures launch it by path. A missing chromium fails the tests (a skipped
browser test would hide a broken report page). Every request the page makes is recorded; anything
that is not ``file://`` is aborted, so a page that reaches for the network is caught offline too.
"""

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per module: Playwright's sync API holds an event loop on the main thread while it
    runs, and later tests that call ``asyncio.run`` need that loop gone."""
    if not (CHROMIUM.exists() or shutil.which("chromium")):
        pytest.fail(f"{CHROMIUM} is missing: run .ci/browser.sh to install Debian's chromium "
                    "(the browser tests need it)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run .venv/bin/pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
                                      args=ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page plus what it tried to reach: ``requests`` (every URL), ``blocked`` (non-file URLs), dialogs."""

    def __init__(self, context):
        self.page = context.new_page()
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        context.route("**/*", self._route)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)

    def _route(self, route):
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: Path):
        """Load a file from disk and wait until its script has run."""
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
        return self.page


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test, watched for network requests and dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    watched = Watched(context)
    yield watched
    context.close()
