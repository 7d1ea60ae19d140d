"""Keep framework tests on 127.0.0.1: no telemetry, no price-map download, no tracing export.

:func:`quiet_environment` sets the variables that turn the frameworks' phoning
home off; :func:`offline` makes every connection or name lookup outside the
loopback fail at once (so a framework that tries anyway fails loudly instead of
hanging) and lists the attempts, which the tests assert to be empty.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any, Iterator, List

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

QUIET = {
    # LiteLLM: the bundled price map, not the one on GitHub; no telemetry.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    # openai-agents: no trace export to the OpenAI platform.
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    # LangChain / LangSmith: no tracing.
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    # Hugging Face tokenizers (LiteLLM may load one): never the hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # No key that could reach a real account.
    "OPENAI_API_KEY": "sk-test-offline",
    "ANTHROPIC_API_KEY": "test-offline",
}


def quiet_environment() -> None:
    """Set :data:`QUIET` (before the frameworks are imported: some read it then)."""
    os.environ.update(QUIET)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LANGSMITH_API_KEY"):
        os.environ.pop(name, None)


def _host(address: Any) -> Any:
    return address[0] if isinstance(address, tuple) and address else None


@contextlib.contextmanager
def offline() -> Iterator[List[str]]:
    """Refuse (OSError, at once) connections and lookups outside the loopback; list them."""
    attempts: List[str] = []
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def check(address: Any) -> None:
        host = _host(address)
        if host is not None and host not in _LOOPBACK:
            attempts.append(f"connect {address!r}")
            raise OSError(f"offline test: connection to {address!r} refused")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in _LOOPBACK:
            attempts.append(f"resolve {name!r}")
            raise socket.gaierror(f"offline test: lookup of {name!r} refused")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo
