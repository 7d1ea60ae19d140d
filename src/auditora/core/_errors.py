"""Errors raised by Auditora into user code (only for misuse)."""

from __future__ import annotations

__all__ = ["ContextError"]


class ContextError(RuntimeError):
    """``session``, ``monitor`` or ``report`` was used with no active context."""

    def __init__(self, proxy: str) -> None:
        super().__init__(
            f"auditora: `{proxy}` was used outside an Auditora context. Use it inside a "
            f"function decorated with @sentinel() or inside a `with bifrost_sync(...):` / "
            f"`async with bifrost_async(...):` block."
        )
        self.proxy = proxy
