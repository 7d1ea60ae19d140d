"""An LLM-powered API with Auditora: a FastAPI service proxying a chat model.

``POST /chat`` answers in one JSON body; ``POST /chat/stream`` streams the answer
as server-sent events. Every request is a ``server`` run named after its route
(``POST /chat/stream``), with the model call (recorded by the openai SDK
integration) nested inside it, even while the answer streams; a client that
hangs up mid-stream leaves a ``cancelled`` run. Route metrics (requests, errors,
latency, tokens and cost per route) add up in the middleware's monitor, shown at
``GET /metrics``. ``/health`` is not recorded.

Run it against any OpenAI-compatible API::

    OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=... \\
        python examples/api_service.py --port 8000 --store api.db
    curl -s localhost:8000/chat -H 'x-session-id: alice' \\
        -d '{"messages": [{"role": "user", "content": "Hello"}]}'
    auditora view api.db

``--base-url`` overrides ``OPENAI_BASE_URL``; ``--port 0`` picks a free port and
prints it. Needs ``pip install 'auditora[asgi,openai]' fastapi uvicorn``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import AsyncIterator, Dict, List, Optional

import openai
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

import auditora
from auditora import sentinel
from auditora.integrations import openai as auditora_openai
from auditora.integrations.fastapi import instrument

MODEL = "gpt-4o-mini"


class ChatRequest(BaseModel):
    messages: List[Dict[str, str]]
    model: str = MODEL


def create_app(base_url: str, api_key: str) -> FastAPI:
    """The service: its routes, its OpenAI client, and the Auditora middleware."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    app = FastAPI(title="chat proxy")
    monitor = instrument(app, exclude_paths=["/health"])

    @sentinel(kind="chain", name="answer")
    async def answer(messages: List[Dict[str, str]], model: str) -> str:
        completion = await client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
        return completion.choices[0].message.content or ""

    async def stream_answer(messages: List[Dict[str, str]], model: str) -> AsyncIterator[str]:
        # Consumed while the response streams: the model call nests under the request.
        stream = await client.chat.completions.create(  # type: ignore[call-overload]
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield f"data: {json.dumps(chunk.choices[0].delta.content)}\n\n"
        yield "data: [DONE]\n\n"

    @app.post("/chat")
    async def chat(request: ChatRequest) -> Dict[str, str]:
        return {"answer": await answer(request.messages, request.model)}

    @app.post("/chat/stream")
    async def chat_stream(request: ChatRequest) -> StreamingResponse:
        return StreamingResponse(
            stream_answer(request.messages, request.model), media_type="text/event-stream"
        )

    @app.get("/metrics")
    def metrics() -> Dict[str, float]:
        return {k: v for k, v in monitor.get_metrics().items() if k.startswith("http.")}

    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="the OpenAI-compatible API to proxy (default: $OPENAI_BASE_URL)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 picks a free one)")
    parser.add_argument("--store", default="api.db", help="SQLite store to write (api.db)")
    args = parser.parse_args(argv)
    if not args.base_url:
        parser.error("give --base-url or set OPENAI_BASE_URL")
    auditora.configure(store=args.store, console=False)
    auditora_openai.instrument()
    app = create_app(args.base_url, os.environ.get("OPENAI_API_KEY") or "sk-none")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])  # until Ctrl-C
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises it
        pass
    flushed = auditora.flush(10.0)
    print(f"stopped; records {'written' if flushed else 'NOT all written'} to {args.store}")
    return 0 if flushed else 1


if __name__ == "__main__":
    sys.exit(main())
