"""Shared pieces for tests of the openai-agents SDK against the fake LLM server.

``agents_model(server, **settings)`` is a Responses model of the real SDK whose
OpenAI client talks to the fake server on 127.0.0.1 (no retries, bounded time);
``settings`` become the agent's ``ModelSettings`` (``extra_headers`` steer the
fake server: see ``fake_llm_server``).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from fake_llm_server import FakeLLMServer


def agents_model(server: FakeLLMServer, model: str = "gpt-4.1") -> Any:
    """The SDK's OpenAIResponsesModel on an AsyncOpenAI client of the fake server."""
    import agents
    import openai

    client = openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="sk-test", max_retries=0, timeout=10
    )
    return agents.OpenAIResponsesModel(model=model, openai_client=client)


def agent_kwargs(server: FakeLLMServer, **settings: Any) -> Dict[str, Any]:
    """``model`` and ``model_settings`` keyword arguments for ``agents.Agent``."""
    import agents

    return {"model": agents_model(server), "model_settings": agents.ModelSettings(**settings)}


def tool_call_header(name: str, arguments: str = "{}") -> Tuple[str, str]:
    """The fake server header that makes the model call function ``name``."""
    return ("x-fake-tool-call", f"{name} {arguments}")
