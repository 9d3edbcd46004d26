"""The UI at 420 px wide (a phone): no page scrolls sideways, the navigation and the tables
stay inside the viewport (issue #12, item 10)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Stack, screenshot

pytestmark = pytest.mark.browser

WIDTH = 420


@pytest.fixture(scope="module")
def narrow(stack: Stack, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.billsync, viewport={"width": WIDTH, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto("/ui/login")
    tab.fill("#token", stack.admin_token)
    tab.click("button:has-text('Log in')")
    expect(tab.locator("h1")).to_have_text("Sync health")
    try:
        yield tab
    finally:
        context.close()


def test_no_horizontal_overflow_at_420px(narrow: Page) -> None:
    links = narrow.eval_on_selector_all(
        ".topbar nav a", "as => as.map(a => a.getAttribute('href'))"
    )
    assert len(links) >= 3
    for href in links:
        narrow.goto(href)
        widths = narrow.evaluate(
            """() => ({
                page: document.documentElement.scrollWidth,
                nav: Math.max(...[...document.querySelectorAll('.topbar nav a')]
                    .map(a => a.getBoundingClientRect().right)),
                tables: [...document.querySelectorAll('table')].map(
                    t => (t.closest('.table-card') || t).getBoundingClientRect().right),
            })"""
        )
        assert widths["page"] <= WIDTH, (href, widths)
        assert widths["nav"] <= WIDTH, (href, widths)
        assert all(right <= WIDTH for right in widths["tables"]), (href, widths)
    screenshot(narrow, "narrow-420")
