"""A SQLite store written by a child process, so that the app's interpreter lock is not.

Writing a record into SQLite costs a store about 11-20 µs (binding values,
maintaining indexes and roll-ups, checkpointing); done in the app's process, it
holds the interpreter lock the app needs too, so a busy app and its store take
turns on one core. A child Python process writes instead, on a core of its own:
the sink serializes a batch as always and pickles it down a pipe; waiting for
the answer releases the lock (benchmarks/end_to_end.py: 2.73 s to 1.48 s).

The child is ``python -I -S -c ...`` importing this module from the same
directory as the parent's ``auditora`` (never ``multiprocessing``, whose
``spawn`` would re-run the app's main module). It writes with
:func:`~auditora.store._writer.write_parts`, so batch isolation and counting
are the same as in process, and it answers each batch with what was stored and
what could not be; the parent sends the next batch before it reads that
answer, so the two processes work at once. It ignores SIGINT (Ctrl+C in a
terminal reaches the whole process group; the parent decides when to stop) and
exits when its input closes, after finishing the batch it holds: a parent that
dies leaves no half-written batch and no orphan.

Protocol: each message is an 8-byte big-endian length and a pickle. The child
first sends ``("ready", pid, version)``; then for each batch (a list of
:class:`~auditora._serialize.Part`) it sends ``("ok", stored, unstorable,
reasons)`` or ``("error", type name, message)`` when the store itself failed.
Only the parent writes the pipe the child unpickles.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO, List, Optional, Sequence, Tuple

from .._serialize import Part
from .._version import __version__
from ._schema import BUSY_TIMEOUT_MS, StoreError, close_writer, connect_writer
from ._writer import Written, write_parts

__all__ = ["WriterGone", "WriterProcess", "main"]

_HEADER = struct.Struct("!Q")

#: How long a child may take to start and say it is ready (a loaded CI machine
#: starts Python in well under a second; past this the sink writes in process).
START_TIMEOUT = 15.0

#: The child's program: put the parent's ``auditora`` first on the path, then serve.
_PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from auditora.store._writer_process import main; main(sys.argv[2])"
)


def _looks_like_python(executable: str) -> bool:
    """Whether ``executable`` is named as CPython's or PyPy's interpreters are."""
    return os.path.basename(executable).lower().startswith(("python", "pypy"))


class WriterGone(Exception):
    """The child writer exited or could not be started; the batch it held is unanswered."""


def _send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:  # a raw pipe may take part of a write
        view = view[stream.write(view) or 0 :]


def _read_exactly(stream: BinaryIO, n: int) -> Optional[bytes]:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None  # end of file
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _receive(stream: BinaryIO) -> Any:
    """The next message, or None at end of file."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    data = _read_exactly(stream, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


#: Store errors the child reports by name, raised again as such in the parent.
_ERRORS = {
    "StoreError": StoreError,
    "OperationalError": sqlite3.OperationalError,
    "DatabaseError": sqlite3.DatabaseError,
}


class WriterProcess:
    """The parent's end: a child process writing the store at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        """Start the child and wait until it is ready; raise :class:`WriterGone` if it
        cannot start (no usable ``sys.executable``, a child that does not answer)."""
        executable = sys.executable
        if os.name != "posix" or not executable or not os.access(executable, os.X_OK):
            raise WriterGone(f"no Python interpreter to start ({executable!r})")
        # A frozen app's executable (PyInstaller) or an embedding host's (uWSGI) is not
        # a Python that runs ``-c``: started, it could run the app itself again.
        if getattr(sys, "frozen", False) or not _looks_like_python(executable):
            raise WriterGone(f"{executable!r} is not a Python interpreter this can start")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        # The child must not record (nor start a writer of its own) when it imports auditora.
        for name in ("AUDITORA_STORE", "AUDITORA_SINKS"):
            env.pop(name, None)
        env["AUDITORA_DISABLED"] = "1"
        try:
            proc = subprocess.Popen(
                [executable, "-I", "-S", "-c", _PROGRAM, root, self.path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise WriterGone(f"cannot start {executable}: {exc}") from exc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        hello = _receive(proc.stdout) if ready else None  # type: ignore[arg-type]
        if not (isinstance(hello, tuple) and hello[::2] == ("ready", __version__)):
            proc.kill()
            proc.wait()
            raise WriterGone(f"{executable} did not start a store writer (it said {hello!r})")
        self._proc = proc

    @property
    def pid(self) -> Optional[int]:
        """The child's process id, None when it is not running."""
        return self._proc.pid if self._proc is not None else None

    def send(self, parts: Sequence[Part]) -> None:
        """Hand ``parts`` to the child; :meth:`answer` says what became of them.

        Raises :class:`WriterGone` when the child is gone (nothing was handed over)."""
        proc = self._proc
        if proc is None:
            raise WriterGone("the store writer is not running")
        assert proc.stdin is not None
        try:
            _send(proc.stdin, list(parts))  # type: ignore[arg-type]
        except OSError as exc:
            self._reap()
            raise WriterGone(f"the store writer exited ({exc})") from None

    def answer(self) -> Written:
        """Wait for what the child did with the batch last sent: what
        :func:`write_parts` returns.

        Raises the store's own failure (:class:`StoreError`, ``sqlite3.Error``)
        as the child met it, and :class:`WriterGone` when the child exited
        first (then whether that batch was committed is unknown)."""
        proc = self._proc
        if proc is None:
            raise WriterGone("the store writer is not running")
        assert proc.stdout is not None
        try:
            answer = _receive(proc.stdout)  # type: ignore[arg-type]
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            answer = exc
        if not isinstance(answer, tuple) or not answer:
            self._reap()
            raise WriterGone(f"the store writer exited ({answer!r})")
        if answer[0] == "error":
            raise _ERRORS.get(answer[1], RuntimeError)(answer[2])
        written = Written()
        _, written.stored, written.unstorable, written.reasons = answer
        return written

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self, timeout: float = 5.0) -> None:
        """Close the child's input and wait for it to finish (killed past ``timeout``)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.close()  # the child ends after what it holds
        except OSError:
            pass
        try:
            proc.wait(max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def forget(self) -> None:
        """In a forked child: let go of the parent's writer without touching it.

        The pipes' descriptors are closed (this copy of them would keep the
        writer alive after the parent closed its own); the writer process is
        the parent's to wait for, so it is kept referenced here, never waited."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    os.close(stream.fileno())
                except OSError:
                    pass
        _FORGOTTEN.append(proc)


#: Writers inherited through fork: another process's children, never waited for here.
_FORGOTTEN: List[subprocess.Popen[bytes]] = []


class _Checkpointer(threading.Thread):
    """Checkpoints the store's WAL on a connection of its own, after each commit.

    The writer's connection runs with ``wal_autocheckpoint = 0``: SQLite would
    otherwise checkpoint inside the commit that crosses 1,000 WAL pages, and
    copying those pages back into the database file is then time the next batch
    waits for. A PASSIVE checkpoint here runs while the writer writes the next
    batch (SQLite releases the interpreter lock), never blocks it, and leaves
    what readers still use for the next round. (The end-to-end workload of
    benchmarks/end_to_end.py with 20,000 roots, 5 runs each way: 4.33 s against
    5.15 s with SQLite's own checkpoints.)"""

    def __init__(self, path: str) -> None:
        super().__init__(name="auditora-checkpoint", daemon=True)
        self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._wanted = threading.Event()
        self._stopping = False

    def poke(self) -> None:
        self._wanted.set()

    def run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass  # busy or failing: the next commit asks again
            if self._stopping:
                return

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self.join()
        self._conn.close()


def _serve(path: str, inbox: BinaryIO, outbox: BinaryIO) -> None:
    conn: Optional[sqlite3.Connection] = None
    checkpointer: Optional[_Checkpointer] = None
    try:
        while True:
            parts = _receive(inbox)
            if parts is None:
                return  # the parent closed the pipe (or exited)
            answer: Tuple[Any, ...]
            try:
                if conn is None:
                    conn = connect_writer(path)
                    conn.execute("PRAGMA wal_autocheckpoint = 0")
                    checkpointer = _Checkpointer(path)
                    checkpointer.start()
                written = write_parts(conn, parts)
                answer = ("ok", written.stored, written.unstorable, written.reasons)
            except Exception as exc:  # the store's own failure: the parent raises it
                answer = ("error", type(exc).__name__, str(exc))
            _send(outbox, answer)
            if checkpointer is not None:
                checkpointer.poke()
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        if conn is not None:
            close_writer(conn)


def main(path: str) -> None:
    """The child's entry point: serve batches for the store at ``path`` until input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = os.fdopen(0, "rb", buffering=0, closefd=False)
    outbox = os.fdopen(1, "wb", buffering=0, closefd=False)
    sys.stdout = sys.stderr  # nothing else may write the answers' pipe
    _send(outbox, ("ready", os.getpid(), __version__))
    try:
        _serve(path, inbox, outbox)
    except (BrokenPipeError, EOFError):
        pass  # the parent is gone: nothing to answer
