"""Number formatting and terminal tables of the CLI (the viewer's JavaScript mirrors them)."""

from __future__ import annotations

import time

import pytest

from auditora.cli import _format as fmt


def test_durations() -> None:
    """Durations read in µs below a millisecond, ms below a second, then s, minutes, hours."""
    values = [None, float("nan"), 4e-6, 0.0005, 0.0042, 0.2345, 1.5, 59.994, 125.5, 3725.0]
    assert [fmt.duration(v) for v in values] == [
        "-",
        "-",
        "4.0 \u00b5s",
        "500 \u00b5s",
        "4.2 ms",
        "235 ms",
        "1.50 s",
        "59.99 s",
        "2m 06s",
        "1h 02m",
    ]


def test_duration_rounding_moves_to_the_next_unit() -> None:
    """A value that rounds up to the next unit is written in that unit (never ``1000 µs``)."""
    assert [fmt.duration(v) for v in (0.0009996, 0.9996, 59.996)] == ["1.0 ms", "1.00 s", "1m 00s"]


def test_unknown_cost_is_not_zero() -> None:
    """An unknown cost prints as ``-`` (never a silent 0); a zero cost as ``$0.00``."""
    assert [fmt.cost(v) for v in (None, float("nan"), 0.0)] == ["-", "-", "$0.00"]


def test_small_costs_keep_significant_digits() -> None:
    """Below $1 a cost keeps 3 significant digits: $0.000044, not $0.0000."""
    values = [0.000043950000000000004, 0.00012, 0.0288, 0.5, 1e-9]
    assert [fmt.cost(v) for v in values] == [
        "$0.000044",
        "$0.00012",
        "$0.0288",
        "$0.50",
        "$0.000000001",
    ]


def test_costs_from_a_dollar_have_cents() -> None:
    """From $1 a cost has cents and thousands separators (0.999999 rounds to $1.00)."""
    assert [fmt.cost(v) for v in (0.999999, 12.345, 1234.567)] == ["$1.00", "$12.35", "$1,234.57"]


def test_floats_are_rounded_for_tables() -> None:
    """Floats get 4 significant digits (``0.1 + 0.2`` reads 0.3); ints and text stay as they are."""
    values = [0.1 + 0.2, 0.8333333, 1234.5678, 12345.6, -0.5, 3, None, float("nan"), "x"]
    assert [fmt.number(v) for v in values] == [
        "0.3",
        "0.8333",
        "1235",
        "12,346",
        "-0.5",
        "3",
        "-",
        "nan",
        "x",
    ]


def test_times_have_date_and_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timestamp shows its date, time and UTC offset (milliseconds on request)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        ns = 1_796_217_832_429_913_192  # 2026-12-02 13:23:52.429 UTC
        assert (fmt.when(ns), fmt.when(ns, millis=True), fmt.when(None)) == (
            "2026-12-02 18:53:52 +05:30",
            "2026-12-02 18:53:52.429 +05:30",
            "-",
        )
    finally:
        monkeypatch.undo()
        time.tzset()


def test_rates_round_half_up_like_javascript() -> None:
    """0.1225 -> 12.3% (JavaScript's toFixed rounds exact ties up; Python's format would not)."""
    assert [fmt.pct(v) for v in (None, 0.1225, 1.0, 0.0)] == ["-", "12.3%", "100.0%", "0.0%"]


def test_tokens_have_separators() -> None:
    """Token counts use thousands separators."""
    assert [fmt.tokens(v) for v in (None, 0, 1234567)] == ["-", "0", "1,234,567"]


def test_table_fits_the_width_by_cutting_the_widest_column() -> None:
    """A too-wide table is cut to the width; cut cells end with an ellipsis."""
    out = fmt.table(["NAME", "N"], [["x" * 50, 1], ["short", 22]], width=30, right=(1,))
    lines = out.splitlines()
    assert ([len(line) <= 30 for line in lines], lines[2].split()[0][-1], lines[3].split()) == (
        [True] * 4,
        "\u2026",
        ["short", "22"],
    )


def test_table_cells_stay_on_one_line() -> None:
    """Newlines and tabs in a cell become spaces, so one row is one line."""
    out = fmt.table(["A"], [["one\ntwo\tthree"]], width=80)
    assert out.splitlines()[2] == "one two three"


def test_table_keeps_id_columns_whole() -> None:
    """Columns in ``keep`` (ids) are cut only after every other column is at its floor."""
    out = fmt.table(["NAME", "ID"], [["x" * 40, "0123456789abcdef"]], width=40, keep=(1,))
    assert (out.splitlines()[2].split()[-1], max(len(line) for line in out.splitlines())) == (
        "0123456789abcdef",
        40,
    )
