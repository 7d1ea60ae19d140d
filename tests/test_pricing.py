"""The bundled price table, model-name matching, overrides and the unknown-model warning."""

from __future__ import annotations

import json
import re
import warnings
from typing import Iterator

import pytest

from auditora.llm import (
    Price,
    UnknownModelWarning,
    compute_cost,
    get_price,
    load_prices,
    prices_as_of,
    register_price,
    reset_prices,
)


@pytest.fixture(autouse=True)
def _fresh_prices() -> Iterator[None]:
    reset_prices()
    yield
    reset_prices()


def test_bundled_table_is_dated_and_covers_the_main_providers() -> None:
    """The table ships with a date and prices for OpenAI, Anthropic, Google, Mistral and others."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices_as_of() or "")
    providers = {
        get_price(m).provider  # type: ignore[union-attr]
        for m in ("gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "mistral-large", "deepseek-chat")
    }
    assert {"openai", "anthropic", "google", "mistral", "deepseek"} == providers


def test_cost_is_input_and_output_tokens_times_their_price() -> None:
    """gpt-4o at $2.50 / $10 per million tokens: 1000 in + 500 out costs $0.0075."""
    assert pytest.approx(compute_cost("gpt-4o", 1000, 500)) == 0.0075


def test_cached_input_tokens_are_priced_at_the_cache_rate() -> None:
    """Cached tokens are part of the input count but cost the cached-input price."""
    # 600 plain * 2.5 + 400 cached * 1.25, per million
    assert pytest.approx(compute_cost("gpt-4o", 1000, 0, 400)) == (600 * 2.5 + 400 * 1.25) / 1e6


def test_cache_writes_are_priced_at_the_cache_write_rate() -> None:
    """Anthropic cache writes cost their own price (3.75 for Sonnet 4.5)."""
    expected = (70 * 3.0 + 10 * 0.3 + 20 * 3.75 + 5 * 15.0) / 1e6
    assert expected == pytest.approx(compute_cost("claude-sonnet-4-5", 100, 5, 10, 20))


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("mistral-large-latest", "mistral-large"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("GPT-4O", "gpt-4o"),
    ],
)
def test_dated_and_prefixed_model_names_price_like_their_family(name: str, family: str) -> None:
    """Snapshots, provider prefixes and case do not hide a known model."""
    assert get_price(family) == get_price(name)


def test_unknown_model_costs_none_with_exactly_one_warning() -> None:
    """An unknown model is never a silent 0: cost None, one UnknownModelWarning per name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = compute_cost("my-private-model", 10, 10)
        second = compute_cost("my-private-model", 10, 10)
    assert (first, second) == (None, None)
    assert len([w for w in caught if issubclass(w.category, UnknownModelWarning)]) == 1


def test_unknown_usage_costs_none_without_a_warning() -> None:
    """No token counts at all means an unknown cost, not a pricing problem."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compute_cost("nope", None, None) is None


def test_register_price_adds_and_overrides() -> None:
    """Prices registered in code win over the bundled table."""
    register_price("in-house-7b", input=0.1, output=0.2)
    register_price("gpt-4o", input=1.0, output=1.0)
    assert pytest.approx(compute_cost("in-house-7b", 1000, 1000)) == 0.0003
    assert pytest.approx(compute_cost("gpt-4o", 1000, 1000)) == 0.002


def test_load_prices_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A JSON file in the bundled format adds prices."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"team-model": {"input": 4, "output": 8}}}))
    assert load_prices(path) == 1
    assert Price("team-model", 4, 8) == get_price("team-model")


def test_auditora_prices_environment_variable_is_loaded(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """AUDITORA_PRICES names a price file read on first use."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"env-model": {"input": 1, "output": 2}}))
    monkeypatch.setenv("AUDITORA_PRICES", str(path))
    reset_prices()
    assert pytest.approx(compute_cost("env-model", 1, 1)) == 3e-6


def test_negative_prices_are_refused() -> None:
    """A price must be a non-negative number."""
    with pytest.raises(ValueError, match="input price"):
        register_price("bad", input=-1, output=1)
