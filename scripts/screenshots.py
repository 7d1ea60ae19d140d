"""Take the README/docs screenshots of the viewer with Playwright and Debian's Chromium.

Usage: python scripts/screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Runs the demo into a temporary store, serves it with the viewer on 127.0.0.1
(a free port), and saves one PNG per main page. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from auditora.demo import run_demo
from auditora.viewer import make_server

#: True once the page shown is the current route's, fully rendered.
READY = (
    "() => document.body.dataset.state === 'ready' && document.body.dataset.route === location.hash"
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    """Write viewer-{sessions,session,trace,run,llm,evaluations,metrics}.png."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "demo.db"
        summary = run_demo(store)
        server = make_server(store, port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1360, "height": 900})

                def shot(route: str, name: str, full: bool = False) -> None:
                    page.goto(server.url + route)
                    page.wait_for_function(READY)
                    page.screenshot(path=str(out / name), full_page=full)
                    print("wrote", out / name)

                shot("#/", "viewer-traces.png")
                shot("#/sessions", "viewer-sessions.png")
                sid = summary["session_id"]
                shot(f"#/session/{sid}", "viewer-session.png")
                page.goto(server.url + f"#/session/{sid}")
                page.wait_for_function(READY)
                trace_id = page.get_attribute("tr[data-trace-id]", "data-trace-id")
                # Pick a run with an LLM call, so the run panel has something to show.
                page.goto(server.url + f"#/trace/{trace_id}")
                page.wait_for_function(READY)
                page.click(".tree-row:has(.name:text-matches('^plan_evaluation'))")
                page.wait_for_selector("#run-panel")
                page.wait_for_function(READY)
                page.screenshot(path=str(out / "viewer-trace.png"))
                print("wrote", out / "viewer-trace.png")
                page.locator("#run-panel").screenshot(path=str(out / "viewer-run.png"))
                print("wrote", out / "viewer-run.png")
                shot("#/llm", "viewer-llm.png")
                shot("#/evaluations", "viewer-evaluations.png")
                shot("#/metrics", "viewer-metrics.png")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
