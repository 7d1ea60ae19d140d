"""The Traces page, filters, pagination and the windowed trace view in real Chromium.

One browser and one library-written store (30 small traces and a 15,000-run trace
with a failing run deep inside) serve the whole module.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Iterator, Tuple
from urllib.parse import quote

import pytest

from _ui_stores import FLAG_PAYLOAD, NEEDLE, PAYLOAD, QUOTE_PAYLOAD, search_store
from auditora.viewer import make_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no Chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from test_browser import CHROMIUM_ARGS, Page, _assert_inert  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Any, str, Dict[str, Any]]]:
    """(browser, viewer URL, ids of the search store)."""
    path = tmp_path_factory.mktemp("browser-search") / "search.db"
    ids = search_store(path, big_trace=15_000)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser, server.url, ids
        browser.close()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture()
def page(site: Tuple[Any, str, Dict[str, Any]]) -> Iterator[Page]:
    p = Page(site[0], site[1])
    p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
    yield p
    p.close()
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])


def _names(p: Page) -> list:
    return [r["name"] for r in p.rows("trace-list")]


def test_search_finds_the_needle_and_filters_live_in_the_url(
    page: Page, site: Tuple[Any, str, Dict[str, Any]]
) -> None:
    """Typing the needle and searching lists its trace; the URL holds the filter."""
    _, url, _ = site
    page.goto(url)
    page.page.fill('[data-filter="q"]', "needle-5e1f")
    page.page.click('[data-action="search"]')
    page.ready()
    assert _names(page) == ["nightly batch"]
    assert "q=needle-5e1f" in page.page.url


def test_status_filter_sort_and_pagination(
    page: Page, site: Tuple[Any, str, Dict[str, Any]]
) -> None:
    """status=error keeps failed traces; sort by cost orders them; next pages on."""
    _, url, _ = site
    page.goto(url + "#/traces?status=error")
    assert sorted(_names(page)) == ["nightly batch", "order 03", "order 13", "order 23"]
    page.goto(url + "#/traces?sort=cost&limit=10")
    first = _names(page)
    assert first[0] == "order 29" and len(first) == 10
    page.page.click('[data-action="next"]')
    page.ready()
    second = _names(page)
    assert len(second) == 10 and not set(first) & set(second)
    assert "offset=10" in page.page.url


def test_deep_link_into_a_15000_run_trace_and_collapse(
    page: Page, site: Tuple[Any, str, Dict[str, Any]]
) -> None:
    """A deep link selects the failing run deep inside; collapsing a subtree hides its rows."""
    _, url, ids = site
    page.goto(url + f"#/trace/{ids['big_trace']}/{ids['failing_run']}")
    selected = page.page.get_attribute(".tree-row.selected", "data-run-id")
    panel = page.page.text_content("#run-panel") or ""
    assert selected == ids["failing_run"] and NEEDLE in panel
    page.goto(url + f"#/trace/{ids['big_trace']}")
    page.page.click('[data-action="first-error"]')
    page.ready()
    assert page.page.get_attribute(".tree-row.selected", "data-run-id") == ids["failing_run"]
    page.goto(url + f"#/trace/{ids['big_trace']}")
    before = page.page.text_content("[data-pager]") or ""
    second = page.page.locator(".tree-row").nth(1)
    branch = second.get_attribute("data-run-id")
    page.page.click(f'[data-toggle="{branch}"]')
    page.ready()
    after = page.page.text_content("[data-pager]") or ""
    third_depth_row = page.page.locator(".tree-row").nth(2).get_attribute("data-run-id")
    assert before != after and third_depth_row != branch
    assert "+9" in (page.page.locator(".tree-row").nth(1).text_content() or "")


def test_chat_view_and_payloads_render_as_text(
    page: Page, site: Tuple[Any, str, Dict[str, Any]]
) -> None:
    """Captured messages show by role; payloads in names, chat and the search echo are text."""
    _, url, _ = site
    page.goto(url + "#/traces?q=" + quote(PAYLOAD, safe=""))
    echo = page.page.text_content("[data-echo]") or ""
    bound = page.page.text_content("[data-search-bound]") or ""
    assert "among the newest 100,000 runs, logs and LLM calls" in bound
    page.goto(url + "#/traces?name=" + quote(PAYLOAD, safe=""))
    page.page.click("table[data-table=trace-list] tbody a")
    page.ready()
    page.page.wait_for_selector("#run-panel [data-chat]")
    roles = page.page.eval_on_selector_all(
        "#run-panel [data-role]", "els => els.map(e => e.dataset.role)"
    )
    chat = page.page.text_content("#run-panel [data-chat]") or ""
    _assert_inert(page)
    assert PAYLOAD in echo
    assert roles == ["system", "user", "tool", "assistant"]
    assert FLAG_PAYLOAD in chat and QUOTE_PAYLOAD in chat
