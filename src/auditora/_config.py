"""All of Auditora's global configuration lives here.

The hot path reads plain attributes of :data:`settings`; ``configure()`` and the
``AUDITORA_*`` environment variables write them. ``reset()`` restores the
defaults (for tests).
"""

from __future__ import annotations

import os


class Settings:
    """Process-wide switches. Read on the hot path, so plain attributes only."""

    __slots__ = ("capture_content", "console", "disabled")

    def __init__(self) -> None:
        #: Report lines are echoed to their stream (stderr by default).
        self.console = True
        #: ``@sentinel`` and the proxies become no-ops (``AUDITORA_DISABLED=1``).
        self.disabled = os.environ.get("AUDITORA_DISABLED", "").strip().lower() in {
            "1",
            "true",
            "yes",
            "on",
        }
        #: LLM prompts/completions and agent message contents are recorded.
        self.capture_content = False


settings = Settings()


def reset() -> None:
    """Restore every setting to its default (environment variables re-read)."""
    fresh = Settings()
    for name in Settings.__slots__:
        setattr(settings, name, getattr(fresh, name))
