"""The Experiments and Comparison pages in real Chromium.

One browser and one library-written store (two experiment runs on one dataset, the
candidate regressing two items, one of its outputs an XSS payload) serve the module.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

import auditora
from auditora import experiments, scorers
from auditora.viewer import make_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no Chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from test_browser import CHROMIUM_ARGS, Page, _assert_inert  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"


def _fill(path: Path) -> None:
    """v1 gets all eight items right; v2 answers "g" with the payload and "h" with "?"."""
    auditora.configure(store=str(path), console=False)
    data = experiments.Dataset([{"input": w, "expected": w.upper()} for w in "abcdefgh"])
    experiments.run("v1", data, lambda x: x.upper(), scorers=[scorers.exact_match], store=str(path))
    answers = {"g": XSS, "h": "?"}
    experiments.run(
        "v2",
        data,
        lambda x: answers.get(x, x.upper()),
        scorers=[scorers.exact_match],
        store=str(path),
    )
    auditora.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Any, str]]:
    """(browser, viewer URL)."""
    path = tmp_path_factory.mktemp("browser-experiments") / "exp.db"
    _fill(path)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser, server.url
        browser.close()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture()
def page(site: Tuple[Any, str]) -> Iterator[Page]:
    p = Page(site[0], site[1])
    p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
    yield p
    p.close()
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])


def _open_comparison(p: Page, url: str) -> None:
    p.goto(url + "#/experiments")
    p.page.click('[data-action="compare"]')
    p.ready()


def test_experiments_page_lists_both_runs_with_means_and_a_trend(
    page: Page, site: Tuple[Any, str]
) -> None:
    """The nav has Experiments; the table shows both runs and their means, newest first;
    the dataset's trend has a point per run."""
    page.goto(site[1] + "#/")
    page.page.click('#nav a[href="#/experiments"]')
    page.ready()
    rows = page.rows("experiments")
    assert [(r["name"], r["metric:exact_match"], r["items"]) for r in rows] == [
        ("v2", "0.75", "8"),
        ("v1", "1", "8"),
    ]
    assert page.rows("trend")[0]["metric"] == "exact_match"
    points = page.page.eval_on_selector_all(
        "svg.spark .spark-dot", "(els) => els.map((e) => e.dataset.point)"
    )
    assert points == ["v1", "v2"]
    # Default pick: the older run as base, the newest as candidate.
    href = page.page.get_attribute('[data-action="compare"]', "href") or ""
    assert href.startswith("#/compare/experiment%3Av1%3A")
    assert "/experiment%3Av2%3A" in href


def test_compare_page_shows_the_delta_and_regressed_items_first_with_their_diff(
    page: Page, site: Tuple[Any, str]
) -> None:
    """Compare v1 -> v2: the -0.25 delta with its interval, the two regressed items on
    top, both outputs side by side and the diff's deletions and insertions."""
    _open_comparison(page, site[1])
    (metric,) = page.rows("metric-deltas")
    assert (metric["metric"], metric["delta"], metric["significant"]) == (
        "exact_match",
        "-0.25",
        "no",
    )
    assert metric["ci"].startswith("[-") and metric["ci"].endswith("]")
    items = page.rows("compare-items")
    assert [i["change"] for i in items] == ["regressed"] * 2 + ["unchanged"] * 6
    assert {(i["base_output"], i["candidate_output"]) for i in items[:2]} == {
        ("G", XSS),
        ("H", "?"),
    }
    row = 'table[data-table="compare-items"] tbody tr'
    deleted = page.page.eval_on_selector_all(f"{row} del", "(els) => els.map((e) => e.textContent)")
    inserted = page.page.eval_on_selector_all(
        f"{row} ins", "(els) => els.map((e) => e.textContent)"
    )
    assert sorted(deleted) == ["G", "H"]
    assert " ".join(i for i in inserted if i != "?") == XSS and "?" in inserted


def test_compare_page_renders_the_payload_as_text(page: Page, site: Tuple[Any, str]) -> None:
    """The payload output is text in the output cell and in the diff: no element, no dialog."""
    _open_comparison(page, site[1])
    cells = page.page.eval_on_selector_all(
        'td[data-field="candidate_output"]', "(els) => els.map((e) => e.textContent)"
    )
    assert XSS in cells
    _assert_inert(page)


def test_sorting_by_item_keeps_the_sort_in_the_url(page: Page, site: Tuple[Any, str]) -> None:
    """Choosing "by item" reloads with ?sort=item and the items in id order."""
    _open_comparison(page, site[1])
    page.page.select_option('[data-action="sort"]', "item")
    page.ready()
    assert page.page.evaluate("location.hash").endswith("?sort=item")
    ids = [i["item"] for i in page.rows("compare-items")]
    assert ids == sorted(ids) and len(ids) == 8


def test_an_items_trace_link_opens_its_trace_at_the_item_run(
    page: Page, site: Tuple[Any, str]
) -> None:
    """The candidate link of the first regressed item opens the trace page on that run."""
    _open_comparison(page, site[1])
    link = page.page.locator('table[data-table="compare-items"] tbody tr').first.locator(
        'td[data-field="traces"] a', has_text="candidate"
    )
    href = link.get_attribute("href") or ""
    assert href.startswith("#/trace/")
    link.click()
    page.ready()
    assert page.page.evaluate("location.hash") == href
    run_id = href.rsplit("/", 1)[1]
    assert page.page.get_attribute("#run-panel", "data-run-id") == run_id
    assert (page.page.text_content("h1") or "").startswith("Trace")
