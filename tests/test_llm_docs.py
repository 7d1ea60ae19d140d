"""The Python snippets of the LLM, evaluation, agent, redaction and integration docs compile,
and the ones that are self-contained run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["llm.md", "evaluations.md", "agents.md", "redaction.md", "integrations.md"]


def _snippets(page: str) -> list:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_doc_snippets_are_valid_python(page: str) -> None:
    """Every ```python block of the page parses."""
    snippets = _snippets(page)
    assert snippets, f"{page} has no Python example"
    for code in snippets:
        compile(code, page, "exec")


def test_redaction_hook_example_runs() -> None:
    """The PII hook of docs/redaction.md masks e-mails as documented."""
    from auditora.redaction import redact, reset

    code = next(c for c in _snippets("redaction.md") if "hook=" in c)
    try:
        exec(code, {})
        assert redact({"to": "ada@example.com", "ssn": "1"}) == {
            "to": "[EMAIL]",
            "ssn": "[REDACTED]",
        }
    finally:
        reset()


def test_pricing_example_runs() -> None:
    """The register/compute example of docs/llm.md gives the documented cost."""
    from auditora.llm import compute_cost, register_price, reset_prices

    try:
        register_price("gpt-4o", input=2.0, output=8.0, cached_input=1.0)
        assert compute_cost("gpt-4o", input_tokens=1000, output_tokens=200) == pytest.approx(0.0036)
    finally:
        reset_prices()
