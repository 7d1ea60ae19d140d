"""Number formatting and terminal tables of the CLI (the viewer's JavaScript mirrors them)."""

from __future__ import annotations

from auditora.cli import _format as fmt


def test_durations() -> None:
    """Durations read as µs-precise ms, whole ms, seconds with 2 decimals, then minutes."""
    values = [None, 0.0005, 0.2345, 1.5, 59.994, 125.5]
    assert [fmt.duration(v) for v in values] == [
        "-",
        "0.50 ms",
        "235 ms",
        "1.50 s",
        "59.99 s",
        "2m 06s",
    ]


def test_unknown_cost_is_not_zero() -> None:
    """An unknown cost prints as ``-``; known costs keep 4 decimals (2 from $100)."""
    assert [fmt.cost(v) for v in (None, 0.0, 0.00012, 1234.567)] == [
        "-",
        "$0.0000",
        "$0.0001",
        "$1,234.57",
    ]


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
