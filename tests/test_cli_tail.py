"""``auditora tail`` keeps following a store whose file was replaced while it ran."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

from auditora.cli import main
from auditora.records import Log
from auditora.sinks import SQLiteSink


def _store(path: Path, messages: List[str]) -> None:
    sink = SQLiteSink(path)
    sink.export([Log("INFO", m, {}, time.time_ns(), None, None, "s") for m in messages])
    sink.close(5.0)


def _follow(path: Path, count: int, result: Dict[str, int]) -> threading.Thread:
    def follow() -> None:
        result["code"] = main(
            ["tail", str(path), "--count", str(count), "--interval", "0.05", "--timeout", "30"]
        )

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.5)  # let tail take its starting position
    return thread


def test_tail_follows_a_store_moved_over_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new store renamed over the followed path: tail says so on stderr and prints the new
    file's records (from its start), not the old file's."""
    path = tmp_path / "live.db"
    _store(path, ["old one"])
    result: Dict[str, int] = {}
    thread = _follow(path, 2, result)
    fresh = tmp_path / "fresh.db"
    _store(fresh, ["new one", "new two"])
    os.replace(fresh, path)
    thread.join(40)
    out, err = capsys.readouterr()
    assert (
        result.get("code"),
        [line.rsplit("] INFO ", 1)[-1] for line in out.splitlines()],
        "was replaced: following the new file" in err,
    ) == (0, ["new one", "new two"], True)


def test_tail_waits_while_the_store_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store deleted and written again later (``auditora demo`` does this): tail waits
    through the gap, then follows the new file."""
    path = tmp_path / "live.db"
    _store(path, ["old one"])
    result: Dict[str, int] = {}
    thread = _follow(path, 1, result)
    os.remove(path)
    time.sleep(0.3)  # polls while there is no file
    _store(path, ["after the gap"])
    thread.join(40)
    out, _ = capsys.readouterr()
    assert (result.get("code"), out.splitlines()[-1].endswith("] INFO after the gap")) == (0, True)
