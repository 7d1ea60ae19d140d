"""Semantic-convention tables shared by both directions of the OpenTelemetry bridge.

The exporter (:mod:`auditora.integrations.otel`) reads them forward (run type to
span kind and operation); the collector (:mod:`auditora.collect`) reads them back.
Standard library only, so the collector needs no OpenTelemetry package.
"""

from __future__ import annotations

from typing import Dict

#: Run types -> OpenInference's ``openinference.span.kind`` (Arize Phoenix, and
#: MLflow reads it first). Plain functions are the glue between steps: CHAIN.
OPENINFERENCE_KINDS: Dict[str, str] = {
    "function": "CHAIN",
    "chain": "CHAIN",
    "workflow": "CHAIN",
    "server": "CHAIN",
    "agent": "AGENT",
    "tool": "TOOL",
    "llm": "LLM",
    "retriever": "RETRIEVER",
    "embedding": "EMBEDDING",
    "evaluator": "EVALUATOR",
}

#: Run types the GenAI agent conventions name an operation for.
GENAI_OPERATIONS: Dict[str, str] = {
    "agent": "invoke_agent",
    "tool": "execute_tool",
    "workflow": "invoke_workflow",
    "retriever": "retrieval",
}

#: ``openinference.span.kind`` -> run type (the reverse of :data:`OPENINFERENCE_KINDS`;
#: CHAIN is a chain, and OpenInference's kinds without a run type of their own map
#: to the nearest one).
RUN_TYPES_BY_OPENINFERENCE_KIND: Dict[str, str] = {
    "CHAIN": "chain",
    "AGENT": "agent",
    "TOOL": "tool",
    "LLM": "llm",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "embedding",
    "EVALUATOR": "evaluator",
    "GUARDRAIL": "evaluator",
    "PROMPT": "chain",
}

#: ``gen_ai.operation.name`` -> run type: the agent operations (reverse of
#: :data:`GENAI_OPERATIONS`) and the model calls, current and older names.
RUN_TYPES_BY_GENAI_OPERATION: Dict[str, str] = {
    **{operation: run_type for run_type, operation in GENAI_OPERATIONS.items()},
    "create_agent": "agent",
    "invoke_workflow": "workflow",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "embeddings": "embedding",
}

#: Operations whose span is one call of a model (an LLM call record).
MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "completion", "embeddings"}
)

#: OpenInference's flattened lists name each element's type after its index
#: (``llm.input_messages.0.message.role``, ``message.tool_calls.0.tool_call.id``,
#: ``message.contents.0.message_content.text``): those wrappers are not kept as keys.
OPENINFERENCE_ELEMENT_WRAPPERS = frozenset(
    {"message", "tool_call", "message_content", "tool", "document", "embedding"}
)

#: The span event OpenInference's openai instrumentation adds when a stream's first
#: chunk arrives (the time to first token is its time minus the span's start).
OPENINFERENCE_FIRST_TOKEN_EVENT = "First Token Stream Event"

#: What OpenInference writes in place of a value its trace config hides.
OPENINFERENCE_REDACTED = "__REDACTED__"
