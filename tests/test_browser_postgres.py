"""The viewer in real Chromium over a PostgreSQL store: the Traces page (search, filter,
sort, pages), a 15,000-run trace (deep link, jump to the first error), and the Sessions
and session pages showing the database's numbers.

The store is written by the library (``search_store``: ``configure(store=URL)``) on a
real server (``pg_server.py``); the viewer is served from the URL, whose password it
must never show.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any, Dict, Iterator, Tuple

import pytest

from _backends import pg_server
from _ui_stores import NEEDLE, search_store
from auditora.cli import _format as fmt
from auditora.store import open_store
from auditora.viewer import make_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no Chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from test_browser import CHROMIUM_ARGS, Page  # noqa: E402

_ = pg_server  # fixture

SECRET = "pw-browser-never-shown"
Site = Tuple[Any, str, Dict[str, Any], str]


@pytest.fixture(scope="module")
def site(pg_server: Any) -> Iterator[Site]:
    """(browser, viewer URL, ids of the search store, store URL) over PostgreSQL."""
    plain = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    ids = search_store(plain, big_trace=15_000)
    url = plain.replace("postgres@", f"postgres:{SECRET}@")  # trusted: any password goes
    server = make_server(url, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser, server.url, ids, url
        browser.close()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture()
def page(site: Site) -> Iterator[Page]:
    """A fresh page; fails the test if anything reached beyond the viewer, raised, or
    showed the password."""
    p = Page(site[0], site[1])
    yield p
    text = p.page.content()
    p.close()
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])
    assert SECRET not in text


def _names(p: Page) -> list:
    return [r["name"] for r in p.rows("trace-list")]


def test_the_traces_page_searches_filters_sorts_and_pages(page: Page, site: Site) -> None:
    """Free text finds the needle's trace; status=error keeps the failed traces; the cost
    sort orders them and next pages on."""
    _, url, _, _ = site
    page.goto(url)
    page.page.fill('[data-filter="q"]', "needle-5e1f")
    page.page.click('[data-action="search"]')
    page.ready()
    assert _names(page) == ["nightly batch"]
    page.goto(url + "#/traces?status=error")
    assert sorted(_names(page)) == ["nightly batch", "order 03", "order 13", "order 23"]
    page.goto(url + "#/traces?sort=cost&limit=10")
    first = _names(page)
    assert first[0] == "order 29" and len(first) == 10
    page.page.click('[data-action="next"]')
    page.ready()
    second = _names(page)
    assert len(second) == 10 and not set(first) & set(second)


def test_a_deep_link_into_a_15000_run_trace_and_jump_to_its_first_error(
    page: Page, site: Site
) -> None:
    """The failing run deep inside is selected with its error; first-error finds it too."""
    _, url, ids, _ = site
    page.goto(url + f"#/trace/{ids['big_trace']}/{ids['failing_run']}")
    assert page.page.get_attribute(".tree-row.selected", "data-run-id") == ids["failing_run"]
    assert NEEDLE in (page.page.text_content("#run-panel") or "")
    page.goto(url + f"#/trace/{ids['big_trace']}")
    page.page.click('[data-action="first-error"]')
    page.ready()
    assert page.page.get_attribute(".tree-row.selected", "data-run-id") == ids["failing_run"]


def test_the_sessions_and_a_session_page_show_the_database_numbers(page: Page, site: Site) -> None:
    """Each session row shows the store's counts, tokens and cost; a session's page its
    totals and its trace, which opens with one row per run."""
    _, url, _, store_url = site
    with open_store(store_url) as store:
        sessions = {s["session_id"]: s for s in store.sessions()}
        shop = store.session("shop-03")
        shop_runs = store.runs(session_id="shop-03", limit=None)
    assert shop is not None
    page.goto(url + "#/sessions")
    shown = {r["sessionId"]: r for r in page.rows("sessions")}
    assert set(shown) == set(sessions)
    for sid, row in shown.items():
        s = sessions[sid]
        assert (row["run_count"], row["error_count"], row["total_tokens"], row["cost"]) == (
            f"{s['run_count']:,}",
            f"{s['error_count']:,}",
            fmt.tokens(s["total_tokens"]),
            fmt.cost(s["cost"]),
        )
    page.page.click('tr[data-session-id="shop-03"] a')
    page.ready()
    assert [page.card(k) for k in ("runs", "tokens", "cost")] == [
        f"{shop['run_count']:,}",
        fmt.tokens(shop["total_tokens"]),
        fmt.cost(shop["cost"]),
    ]
    page.page.click("table[data-table=traces] tbody a")
    page.ready()
    assert page.page.locator(".tree-row").count() == len(shop_runs)
