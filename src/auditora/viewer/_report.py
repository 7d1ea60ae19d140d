"""The static report: every viewer page in one self-contained HTML file.

The file inlines the front-end (``static/app.js`` and ``app.css``) and the
answers to every API request the pages make, as JSON in a
``<script type="application/json">`` element. That JSON is escaped so that no
user value can close the element (``<``, ``>``, ``&`` and the JavaScript line
separators become ``\\uXXXX`` escapes), and a Content-Security-Policy meta tag
allows only the inlined script (by its SHA-256 hash) to run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
from typing import Any, Dict

from . import _model
from ._server import STATIC, to_json
from ._source import StoreSource

__all__ = ["embed_json", "render_report", "report_data", "write_report"]

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def embed_json(value: Any) -> str:
    """JSON text that is safe inside a ``<script>`` element, whatever ``value`` holds."""
    text = to_json(value)
    for char, escape in _ESCAPES.items():
        text = text.replace(char, escape)
    return text


#: Session pages included in a report by default (the newest).
MAX_SESSIONS = 100
#: Trace pages included in a report by default (of the newest sessions).
MAX_TRACES = 200


def report_data(
    store: Any, max_traces: int = MAX_TRACES, max_sessions: int = MAX_SESSIONS
) -> Dict[str, Any]:
    """Every page's data, keyed as the front-end asks for it.

    The sessions list, LLM, evaluation and metric pages cover the whole store;
    session pages are included for the newest ``max_sessions`` sessions and
    trace pages for their traces, up to ``max_traces``. A link to a page left
    out says so.
    """
    src: _model.Source = StoreSource(store)
    overview = _model.overview(src)
    overview["store"] = os.path.basename(store.path)
    data: Dict[str, Any] = {
        "overview": overview,
        "sessions": _model.sessions(src),
        "llm": _model.llm_table(src),
        "evaluations": _model.evaluations_table(src),
        "metrics": _model.metrics_view(src),
    }
    traces: Dict[str, None] = {}
    for s in data["sessions"][:max_sessions]:
        detail = _model.session_detail(src, s["session_id"])
        data["session:" + s["session_id"]] = detail
        for t in detail["traces"]:
            if len(traces) < max_traces:
                traces[t["trace_id"]] = None
    for tid in traces:
        data["trace:" + tid] = _model.trace_detail(src, tid)
    return data


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_report(
    store: Any, max_traces: int = MAX_TRACES, max_sessions: int = MAX_SESSIONS
) -> str:
    """The report for an open store, as one HTML document (see :func:`report_data`)."""
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    style = (STATIC / "app.css").read_text(encoding="utf-8")
    # Our own files; checked because inlining them relies on it.
    if "</script" in script.lower() or "</style" in style.lower():  # pragma: no cover
        raise RuntimeError("the viewer assets cannot be inlined")
    csp = (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    data = embed_json(report_data(store, max_traces, max_sessions))
    title = html.escape(f"Auditora report: {os.path.basename(store.path)}")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{style}</style>\n</head>\n"
        '<body data-state="loading">\n'
        '<header><span class="brand">Auditora</span><nav id="nav"></nav>'
        '<span class="store" id="store"></span></header>\n'
        '<main id="main"></main>\n'
        f'<script id="auditora-data" type="application/json">{data}</script>\n'
        f"<script>{script}</script>\n</body>\n</html>\n"
    )


def write_report(
    store: Any,
    path: str | os.PathLike[str],
    max_traces: int = MAX_TRACES,
    max_sessions: int = MAX_SESSIONS,
) -> int:
    """Write the report for an open store to ``path``; return its size in bytes."""
    data = render_report(store, max_traces, max_sessions).encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    return len(data)
