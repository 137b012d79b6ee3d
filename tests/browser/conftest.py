"""Browser tests: Playwright's sync API driving Debian's Chromium
(/usr/bin/chromium, never a downloaded browser) against Django's live server on
PostgreSQL. Skipped only where that browser is missing and
STAGEGATE_BROWSER_TESTS is not 1 (.ci/run sets it, so CI fails instead)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("STAGEGATE_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("STAGEGATE_BROWSER_TESTS") == "1"
PASSWORD = "correct horse battery staple"  # tests/factories.UserFactory's


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRED or Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (set STAGEGATE_BROWSER_TESTS=1 to fail instead)")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module's tests. While Playwright's sync API is started,
    its event loop counts as running in this thread, so Django refuses ORM calls
    as if they came from async code: they are plain synchronous calls here, and
    the permission to make them ends with the module, as does the loop."""
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                yield b
            finally:
                b.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="session")
def shots_root() -> Path:
    root = Path(os.environ.get("STAGEGATE_SCREENSHOT_DIR", ".stagegate/screenshots"))
    root.mkdir(parents=True, exist_ok=True)
    return root


class Journey:
    """One role's browser session: a page, the live server's address, and
    numbered full-page screenshots of each step under <root>/<test name>/."""

    def __init__(self, page: Any, base_url: str, shots: Path) -> None:
        self.page = page
        self.base = base_url
        self.shots = shots
        self.step = 0

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.shots / f"{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Through the real form at /portal/login, by keyboard: Tab from the top
        of the page must reach the username field."""
        self.go("/portal/login")
        page = self.page
        page.locator("body").focus()
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.name") == "username":
                break
        else:
            raise AssertionError("keyboard focus never reached the sign-in form's username field")
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "password"
        page.keyboard.type(password)
        self.shot("sign-in")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert not page.url.endswith("/portal/login"), f"sign-in as {username} failed"

    def submit(self, button: Any) -> Any:
        """Click a form's button and wait for the page it leads to (after the
        post/redirect/get), which must not be an error."""
        with self.page.expect_navigation() as navigation:
            button.click()
        response = navigation.value
        assert response is not None and response.status < 400, (self.page.url, response and response.status)
        return response

    def form(self, action: str) -> Any:
        """The form on this page whose action ends with ``action``."""
        return self.page.locator(f'form[action$="{action}"]')

    def accessible(self, *, nav: bool = True) -> None:
        """Basic checks on the current page: a main landmark (and a nav one),
        a language, a title, a label for every form control a person fills, and
        enough contrast for every piece of text."""
        page = self.page
        problems = page.evaluate(
            r"""() => {
              const out = [];
              if (!document.querySelector('main, [role=main]')) out.push('no main landmark');
              if (!document.documentElement.lang) out.push('no lang on <html>');
              if (!document.title.trim()) out.push('no <title>');
              const controls = document.querySelectorAll(
                'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea');
              for (const el of controls) {
                const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
                  || el.getAttribute('aria-labelledby');
                if (!labelled) out.push('unlabelled ' + el.tagName.toLowerCase() + ' name=' + el.name);
              }
              // Text contrast (WCAG 2.2 1.4.3): 4.5:1, or 3:1 for large text, against
              // the first opaque background behind it.
              const rgba = (c) => { const m = c.match(/[\d.]+/g) || ['0','0','0','0'];
                return m.map(Number).concat(m.length < 4 ? [1] : []); };
              const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
                return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
              const backdrop = (el) => { for (let e = el; e; e = e.parentElement) {
                  const st = getComputedStyle(e);
                  if (st.backgroundImage !== 'none') return null;  // not judged here
                  const c = rgba(st.backgroundColor); if (c[3] >= 0.99) return c; }
                return [255, 255, 255, 1]; };
              const seen = new Set();
              for (const el of document.body.querySelectorAll('*')) {
                const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
                const st = getComputedStyle(el);
                if (!own || st.visibility === 'hidden' || st.display === 'none' || !el.getClientRects().length) continue;
                if (el.closest('.visually-hidden, [aria-hidden=true]')) continue;
                const bg = backdrop(el); if (!bg) continue;
                const fg = rgba(st.color);
                const mixed = [0, 1, 2].map(i => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
                const [hi, lo] = [lum(mixed), lum(bg)].sort((a, b) => b - a);
                const ratio = (hi + 0.05) / (lo + 0.05);
                const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
                const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
                const key = el.tagName + st.color + '/' + bg.join(',');
                if (ratio < need && !seen.has(key)) { seen.add(key);
                  out.push('contrast ' + ratio.toFixed(2) + ':1 < ' + need + ' for ' + el.tagName.toLowerCase()
                    + (el.className ? '.' + el.className : '') + ' "' + el.textContent.trim().slice(0, 30) + '"'); }
              }
              return out;
            }"""
        )
        if nav and not page.locator("nav, [role=navigation]").count():
            problems.append("no nav landmark")
        assert problems == [], f"{page.url}: {problems}"


@pytest.fixture
def journey(browser: Any, live_server: Any, shots_root: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per role: ``journey()`` returns a Journey."""
    contexts: list[Any] = []
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(shots_root / name, ignore_errors=True)  # this run's steps only

    def make(role: str, **context: Any) -> Journey:
        ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        shots = shots_root / name / role
        shots.mkdir(parents=True, exist_ok=True)
        return Journey(ctx.new_page(), live_server.url, shots)

    yield make
    for ctx in contexts:
        ctx.close()
