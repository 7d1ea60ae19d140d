"""A store written by a child process, so that the app's interpreter lock is not.

Writing a record costs a store's client side several microseconds (SQLite:
about 11-20 µs binding values, maintaining indexes and roll-ups,
checkpointing; PostgreSQL: about 6 µs formatting COPY rows, then waiting for
the server); done in the app's process, that holds the interpreter lock the
app needs too, so a busy app and its store take turns on one core. A child
Python process writes instead, on a core of its own: the sink serializes a
batch as always and pickles it down a pipe; waiting for the answer releases
the lock (benchmarks/end_to_end.py, SQLite: 2.73 s to 1.48 s;
benchmarks/postgres.py: see docs/store.md).

The child is ``python -I -S -c ...`` importing this module from the same
directory as the parent's ``auditora`` (never ``multiprocessing``, whose
``spawn`` would re-run the app's main module). It writes with the same writer
the sink uses in process (:class:`SQLiteWriter`,
:class:`~auditora.store._postgres.PostgresWriter`), so batch isolation,
reconnection and counting are the same, and it answers each batch with what
was stored and what could not be; the parent sends the next batch before it
reads that answer, so the two processes work at once. It ignores SIGINT
(Ctrl+C in a terminal reaches the whole process group; the parent decides when
to stop) and exits when its input closes, after finishing the batch it holds:
a parent that dies leaves no half-written batch and no orphan.

Protocol: each message is an 8-byte big-endian length and a pickle. The parent
first sends ``("open", backend, target, options, path)``: the store (a
PostgreSQL URL and its password travel here, never in the child's argv, which
``ps`` shows) and the parent's ``sys.path`` (where psycopg is). The child
answers ``("ready", pid, version)``; then for each batch (a list of
:class:`~auditora._serialize.Part`) it sends ``("ok", stored, unstorable,
reasons, reconnects)``, ``("unreachable", stored, message, reconnects)`` when
a PostgreSQL server stayed away past the writer's bound, or ``("error", type
name, message, reconnects)`` when the store itself failed. It takes up to
:data:`AT_ONCE` batches before the first is answered and answers them in the
order they came. Only the parent writes the pipe the child unpickles.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Dict, List, Optional, Protocol, Sequence, Tuple

from .._serialize import Part
from .._version import __version__
from ._postgres import PostgresWriter, StoreUnavailable
from ._schema import BUSY_TIMEOUT_MS, StoreError, close_writer, connect_writer
from ._writer import Written, write_parts

__all__ = [
    "AT_ONCE",
    "SQLiteWriter",
    "StoreWriter",
    "WriterFailed",
    "WriterGone",
    "WriterProcess",
    "main",
    "open_writer",
]

_HEADER = struct.Struct("!Q")

#: How long a child may take to start and say it is ready (a loaded CI machine
#: starts Python in well under a second; past this the sink writes in process).
START_TIMEOUT = 15.0

#: Batches a child writes at once, each on a writer (a connection) of its own, and so
#: the batches its parent hands it before it reads the first's answer. SQLite takes
#: one writer at a time. PostgreSQL runs two transactions at once: one connection's
#: server works on its batch while the other's rows are built and sent
#: (benchmarks/postgres.py, one process, alternating runs: 36,500-45,200 records/s
#: with one, 54,700-57,500 with two; three gave the same as two).
AT_ONCE = {"sqlite": 1, "postgresql": 2}

#: The child's program: put the parent's ``auditora`` first on the path, then serve.
_PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from auditora.store._writer_process import main; main()"
)


class StoreWriter(Protocol):
    """What writes serialized batches into one store, in a process or in the child."""

    #: Connections opened again after a failure (PostgreSQL; 0 for SQLite).
    reconnects: int

    def write(self, parts: Sequence[Part]) -> Written: ...

    def close(self) -> None: ...

    def forget(self) -> None: ...


class SQLiteWriter:
    """Writes serialized batches into the SQLite store at ``path``, opening it on the first.

    With ``checkpoints=True`` (the writer process) the WAL is checkpointed by a
    thread of its own after each commit instead of inside the commit that
    crosses SQLite's threshold (:class:`_Checkpointer`)."""

    reconnects = 0

    def __init__(self, path: str, *, checkpoints: bool = False) -> None:
        self.path = path
        self._checkpoints = checkpoints
        self._conn: Optional[sqlite3.Connection] = None
        self._checkpointer: Optional[_Checkpointer] = None

    def write(self, parts: Sequence[Part]) -> Written:
        if self._conn is None:
            # The store's directory, made only before the store is first opened.
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = connect_writer(self.path)
            if self._checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
                self._checkpointer = _Checkpointer(self.path)
                self._checkpointer.start()
            self._conn = conn
        written = write_parts(self._conn, parts)
        if self._checkpointer is not None:
            self._checkpointer.poke()
        return written

    def close(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        conn, self._conn = self._conn, None
        if conn is not None:
            close_writer(conn)

    def forget(self) -> None:
        # A SQLite connection must never be used across fork: forget it (without
        # closing, which would touch the parent's locks); the next write opens afresh.
        self._conn = None
        self._checkpointer = None


def open_writer(backend: str, target: str, options: Dict[str, Any]) -> StoreWriter:
    """The writer of the store ``target`` (a path, or a PostgreSQL URL) of ``backend``."""
    if backend == "sqlite":
        return SQLiteWriter(target, **options)
    if backend == "postgresql":
        return PostgresWriter(target, **options)
    raise StoreError(f"no writer for a {backend!r} store")


def _looks_like_python(executable: str) -> bool:
    """Whether ``executable`` is named as CPython's or PyPy's interpreters are."""
    return os.path.basename(executable).lower().startswith(("python", "pypy"))


class WriterGone(Exception):
    """The child writer exited or could not be started; the batch it held is unanswered."""


class WriterFailed(Exception):
    """The store failed a whole batch in the child; the text names the child's error."""


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


class WriterProcess:
    """The parent's end: a child process writing the store ``target`` of ``backend``
    with the writer :func:`open_writer` makes of ``options``."""

    def __init__(self, backend: str, target: str, options: Optional[Dict[str, Any]] = None):
        self.backend = backend
        self.target = os.path.abspath(target) if backend == "sqlite" else target
        self.options = dict(options or {})
        #: The child writer's reconnections, as of its last answer.
        self.reconnects = 0
        #: Batches the child takes before the first is answered (:data:`AT_ONCE`).
        self.at_once = AT_ONCE[backend]
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
                [executable, "-I", "-S", "-c", _PROGRAM, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise WriterGone(f"cannot start {executable}: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None
        hello: Any = None
        try:
            opening = ("open", self.backend, self.target, self.options, sys.path)
            _send(proc.stdin, opening)  # type: ignore[arg-type]
            ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
            hello = _receive(proc.stdout) if ready else None  # type: ignore[arg-type]
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            hello = exc
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
        """Wait for what the child did with the batch last sent: what the writer's
        ``write`` returned.

        Raises :class:`~auditora.store._postgres.StoreUnavailable` as the child's
        writer did, :class:`WriterFailed` for the store's own failure of the whole
        batch, and :class:`WriterGone` when the child exited first (then whether
        that batch was committed is unknown)."""
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
        self.reconnects = answer[-1]
        if answer[0] == "unreachable":
            raise StoreUnavailable(answer[2], answer[1])
        if answer[0] == "error":
            raise WriterFailed(f"{answer[1]}: {answer[2]}")
        written = Written()
        _, written.stored, written.unstorable, written.reasons, _ = answer
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
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False

    def poke(self) -> None:
        self._wanted.set()

    def run(self) -> None:
        # Opened and closed in this thread: sqlite3 refuses a connection used across threads.
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass  # busy or failing: the next commit asks again
                if self._stopping:
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self.join()


def _write(idle: queue.SimpleQueue[StoreWriter], parts: Sequence[Part]) -> Tuple[Any, ...]:
    """Write ``parts`` with a writer free at the moment; the answer, but for reconnections."""
    writer = idle.get()
    try:
        written = writer.write(parts)
        return ("ok", written.stored, written.unstorable, written.reasons)
    except StoreUnavailable as exc:  # PostgreSQL away past the writer's bound
        return ("unreachable", exc.stored, str(exc))
    except Exception as exc:  # the store's own failure: the parent raises it
        return ("error", type(exc).__name__, str(exc))
    finally:
        idle.put(writer)


def _answer(
    pending: queue.SimpleQueue[Optional[Future[Tuple[Any, ...]]]],
    writers: Sequence[StoreWriter],
    outbox: BinaryIO,
) -> None:
    """Send each batch's answer, in the order the batches came, as soon as it is known."""
    parent_gone = False
    while True:
        done = pending.get()
        if done is None:
            return
        answer = done.result()
        if parent_gone:
            continue  # nobody to tell: the batches are still written
        try:
            _send(outbox, (*answer, sum(w.reconnects for w in writers)))
        except OSError:
            parent_gone = True


def _serve(writers: Sequence[StoreWriter], inbox: BinaryIO, outbox: BinaryIO) -> None:
    """Write the batches the parent sends, as many at once as there are ``writers``."""
    idle: queue.SimpleQueue[StoreWriter] = queue.SimpleQueue()
    for writer in writers:
        idle.put(writer)
    pending: queue.SimpleQueue[Optional[Future[Tuple[Any, ...]]]] = queue.SimpleQueue()
    answerer = threading.Thread(
        target=_answer, args=(pending, writers, outbox), name="auditora-answers"
    )
    answerer.start()
    try:
        with ThreadPoolExecutor(len(writers), thread_name_prefix="auditora-write") as pool:
            while True:
                parts = _receive(inbox)
                if parts is None:
                    return  # the parent closed the pipe (or exited)
                pending.put(pool.submit(_write, idle, parts))
    finally:
        pending.put(None)  # after the batches it holds
        answerer.join()
        for writer in writers:
            writer.close()


def main() -> None:
    """The child's entry point: open the store the parent names, serve batches until
    input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = os.fdopen(0, "rb", buffering=0, closefd=False)
    outbox = os.fdopen(1, "wb", buffering=0, closefd=False)
    sys.stdout = sys.stderr  # nothing else may write the answers' pipe
    try:
        opening = _receive(inbox)
        if not (isinstance(opening, tuple) and opening[:1] == ("open",)):
            return  # not started by a WriterProcess
        _, backend, target, options, path = opening
        # After this interpreter's own (-I -S left out site-packages): where psycopg is.
        sys.path.extend(entry for entry in path if entry not in sys.path)
        if backend == "sqlite":
            options = {**options, "checkpoints": True}
        writers = [open_writer(backend, target, options) for _ in range(AT_ONCE[backend])]
        _send(outbox, ("ready", os.getpid(), __version__))
        _serve(writers, inbox, outbox)
    except (BrokenPipeError, EOFError):
        pass  # the parent is gone: nothing to answer
