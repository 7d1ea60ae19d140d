"""``--since WHEN``: an age before now or an ISO date/time, read as epoch nanoseconds."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from auditora.cli._when import parse_since

NOW = 1_796_217_832_000_000_000  # 2026-12-02 13:23:52 UTC


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("1.5h", 5400)],
)
def test_ages_count_back_from_now(text: str, seconds: int) -> None:
    """``30m`` is 30 minutes before now (s, m, h, d, w; decimals allowed)."""
    assert (NOW - parse_since(text, NOW)) / 1e9 == seconds


def test_iso_date_times_with_an_offset_are_exact() -> None:
    """An ISO date-time with ``Z`` or an offset names that instant."""
    expected = int(datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc).timestamp() * 1e9)
    assert (parse_since("2026-12-01T09:30Z"), parse_since("2026-12-01 10:30+01:00")) == (
        expected,
        expected,
    )


def test_naive_dates_are_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A date without an offset is local midnight (here in UTC+05:30)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        got = parse_since("2026-12-01")
    finally:
        monkeypatch.undo()
        time.tzset()
    expected = int(datetime(2026, 11, 30, 18, 30, tzinfo=timezone.utc).timestamp() * 1e9)
    assert got == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", "", "2026-13-01"])
def test_anything_else_is_refused(text: str) -> None:
    """Other text is a ValueError naming the accepted forms."""
    with pytest.raises(ValueError, match="expected an age"):
        parse_since(text, NOW)
