"""``auditora report``: one self-contained HTML file, with every user value inert."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from _ui_stores import FLAG_PAYLOAD, PAYLOAD, QUOTE_PAYLOAD, xss_store
from auditora.store import open_store
from auditora.viewer import render_report
from auditora.viewer._report import embed_json, report_data


@pytest.fixture(scope="module")
def xss_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the store full of injection payloads."""
    path = xss_store(tmp_path_factory.mktemp("report") / "xss.db")
    with open_store(path) as store:
        return render_report(store)


def _data_element(page: str) -> str:
    match = re.search(
        r'<script id="auditora-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert match is not None
    return match.group(1)


def test_embedded_json_cannot_close_its_element() -> None:
    """``embed_json`` leaves no ``<``, ``>`` or ``&`` and decodes back to the same value."""
    value = {"m": PAYLOAD, "k": "a & b", "ls": "\u2028\u2029", "q": QUOTE_PAYLOAD}
    text = embed_json(value)
    assert ([c for c in "<>&\u2028\u2029" if c in text], json.loads(text)) == ([], value)


def test_payloads_appear_only_escaped(xss_html: str) -> None:
    """No payload appears raw in the file: the only ``<script`` tags are the report's own two."""
    raw = [p for p in (PAYLOAD, FLAG_PAYLOAD, QUOTE_PAYLOAD, "<img", "<svg") if p in xss_html]
    assert (raw, xss_html.count("<script")) == ([], 2)


def test_embedded_data_holds_the_exact_values(xss_html: str) -> None:
    """The embedded data decodes to the session id, run names and messages verbatim."""
    data = json.loads(_data_element(xss_html))
    detail = data["session:" + PAYLOAD]
    trace = data["trace:" + detail["traces"][0]["trace_id"]]
    assert (
        [s["session_id"] for s in data["sessions"]],
        sorted(r["name"] for r in trace["runs"]),
        [log["message"] for log in trace["logs"]][:2],
    ) == ([PAYLOAD], sorted([PAYLOAD, QUOTE_PAYLOAD, FLAG_PAYLOAD]), [PAYLOAD, FLAG_PAYLOAD])


def test_csp_allows_only_the_inlined_script(xss_html: str) -> None:
    """The CSP meta tag's script hash is the hash of the one executable inline script."""
    script = re.search(r"<script>(.*?)</script>", xss_html, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', xss_html)
    assert csp is not None
    assert (f"script-src 'sha256-{digest}'" in csp.group(1), "unsafe-inline" in csp.group(1)) == (
        True,
        False,
    )


def test_report_has_every_page_of_the_store(tmp_path: Path) -> None:
    """The data covers the overview, every session and every trace of the store."""
    path = xss_store(tmp_path / "x.db")
    with open_store(path) as store:
        data = report_data(store)
        traces = {r["trace_id"] for r in store.runs(limit=None)}
        sessions = {s["session_id"] for s in store.sessions()}
    keys = set(data)
    assert (
        {"overview", "sessions", "llm", "evaluations", "metrics"} <= keys,
        {k[6:] for k in keys if k.startswith("trace:")},
        {k[8:] for k in keys if k.startswith("session:")},
    ) == (True, traces, sessions)
