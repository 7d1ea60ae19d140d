"""Stores for the CLI, viewer, report and browser tests (a helper module, not a test file).

``demo_store`` runs the bundled demo; ``xss_store`` writes records whose user
content (session id, run name, messages, metadata, model, metric names) are
HTML/script injection payloads.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict

from auditora import DefaultReport, bifrost_sync, monitor, report, sentinel, session
from auditora.sinks import SQLiteSink
from auditora.testing import capture

#: The payload the issue names; it must render as text and run nothing.
PAYLOAD = "</script><img src=x onerror=alert(1)>"
#: A second payload that would set a window flag instead of opening a dialog.
FLAG_PAYLOAD = '<img src=x onerror="window.__xss=1"><svg onload="window.__xss=2">'
#: A third, for attribute and link contexts.
QUOTE_PAYLOAD = '" onmouseover="window.__xss=3" x=\'javascript:window.__xss=4\''


def demo_store(path: Path) -> Dict[str, Any]:
    """Run the demo into ``path``; return its summary dict."""
    from auditora.demo import run_demo

    return run_demo(path)


def xss_store(path: Path) -> Path:
    """Write a store at ``path`` whose user content is made of injection payloads."""

    @sentinel(
        session_id=PAYLOAD, name=PAYLOAD, agent=FLAG_PAYLOAD, report=DefaultReport(echo=False)
    )
    def evil() -> None:
        session.set("note", PAYLOAD)
        session.set(FLAG_PAYLOAD, QUOTE_PAYLOAD)
        session.add_tag(PAYLOAD)
        report.info(PAYLOAD, detail=PAYLOAD, other=FLAG_PAYLOAD)
        report.warning(FLAG_PAYLOAD, quote=QUOTE_PAYLOAD)
        monitor.track(PAYLOAD, meta=PAYLOAD, flag=FLAG_PAYLOAD)
        monitor.increment_metric(PAYLOAD, 2)
        with monitor.timer(FLAG_PAYLOAD):
            pass
        report.log_llm_call(
            model=PAYLOAD,
            prompt_tokens=11,
            completion_tokens=13,
            response_time=0.25,
            success=False,
            provider=FLAG_PAYLOAD,
            error=PAYLOAD,
        )
        report.log_evaluation_result(PAYLOAD, 0.4, threshold=0.5, label=FLAG_PAYLOAD)
        with bifrost_sync(name=QUOTE_PAYLOAD):
            report.error(QUOTE_PAYLOAD)
        try:
            with bifrost_sync(name=FLAG_PAYLOAD):
                raise ValueError(PAYLOAD)
        except ValueError:
            pass

    with warnings.catch_warnings(), capture() as records:
        warnings.simplefilter("ignore")  # the payload "model" has no price: expected here
        evil()
    sink = SQLiteSink(path)
    sink.export(list(records))
    sink.close(2.0)
    return path
