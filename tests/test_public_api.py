"""The package's public surface is exactly what the README documents."""

from __future__ import annotations

import subprocess
import sys

import auditora

DOCUMENTED = {
    "ContextError",
    "DefaultMonitor",
    "DefaultReport",
    "DefaultSession",
    "Paragon",
    "Run",
    "bifrost_async",
    "bifrost_sync",
    "bind",
    "configure",
    "current_run",
    "flush",
    "monitor",
    "report",
    "sentinel",
    "session",
    "shutdown",
    "stats",
}


def test_all_is_exactly_the_documented_names() -> None:
    """auditora.__all__ lists the documented names, sorted, and each one resolves."""
    assert set(auditora.__all__) == DOCUMENTED
    assert list(auditora.__all__) == sorted(auditora.__all__)
    for name in auditora.__all__:
        assert getattr(auditora, name) is not None


def test_context_error_is_a_runtime_error() -> None:
    """The context error class is a RuntimeError subclass."""
    assert issubclass(auditora.ContextError, RuntimeError)


def test_import_prints_nothing_and_starts_no_thread() -> None:
    """`import auditora` writes nothing and starts no thread."""
    code = (
        "import threading; before = threading.active_count(); import auditora; "
        "import auditora.testing, auditora.records, auditora.adata.session; "
        "assert threading.active_count() == before, threading.enumerate()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_package_is_typed() -> None:
    """The package ships py.typed."""
    from importlib import resources

    assert resources.files("auditora").joinpath("py.typed").is_file()


def test_public_submodules_are_reachable_after_a_plain_import() -> None:
    """After `import auditora` alone, `auditora.testing.capture()` and the other public
    submodules work as attributes, imported on first use; unknown names still raise."""
    code = (
        "import sys, auditora\n"
        "assert 'auditora.testing' not in sys.modules\n"
        "with auditora.testing.capture() as records:\n"
        "    auditora.sentinel()(lambda: None)()\n"
        "assert len(records.runs) == 1\n"
        "assert auditora.store.open_store and auditora.typing.Monitor and auditora.sinks.Sink\n"
        "try:\n"
        "    auditora.nope\n"
        "except AttributeError:\n"
        "    print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "ok", "")
