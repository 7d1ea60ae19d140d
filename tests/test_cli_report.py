"""``auditora report`` says what it left out of the file it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Tuple

import pytest

from _ui_stores import demo_store
from auditora.cli import main
from auditora.store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("report") / "demo.db"
    demo_store(path)
    yield path


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str]:
    code = main(["report", *argv])
    return code, capsys.readouterr().out


def test_report_of_a_cut_store_says_how_many_sessions_and_traces_it_holds(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-sessions 2 --max-traces 1``: "included the newest 2 of N sessions and 1 of
    their M traces", and how to include more."""
    with open_store(demo) as store:
        sessions = store.sessions()
        traces = {
            t["trace_id"]
            for s in sessions[:2]
            for t in store.traces(session_id=s["session_id"], limit=None)
        }
    assert (len(sessions) > 2, len(traces) > 1) == (True, True)
    argv = ["-o", str(tmp_path / "r.html"), "--max-sessions", "2", "--max-traces", "1"]
    code, out = _report(capsys, str(demo), *argv)
    assert (
        code,
        f"included the newest 2 of {len(sessions)} sessions and 1 of their {len(traces)} traces"
        in out,
        "raise --max-sessions / --max-traces" in out,
    ) == (0, True, True)


def test_report_of_a_whole_store_says_so(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With room for everything the note says all sessions and traces are included."""
    with open_store(demo) as store:
        total = store.summary()
    code, out = _report(capsys, str(demo), "-o", str(tmp_path / "r.html"))
    assert (code, f"included all {total['sessions']} sessions and all " in out) == (0, True)
