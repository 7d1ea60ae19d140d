"""A fake OpenAI + Anthropic HTTP API on 127.0.0.1, in each API's wire format.

Serves ``POST /v1/chat/completions``, ``POST /v1/responses`` (OpenAI) and
``POST /v1/messages`` (Anthropic), plain JSON or Server-Sent Events when the
request says ``"stream": true``, with usage blocks. Per request, headers steer
it:

* ``x-fake-status: 429`` (or 500, …) answers that error in the API's format;
* ``x-fake-chunks: N`` streams N text deltas (default 3);
* ``x-fake-model: NAME`` answers with that model name (default: the request's);
* ``x-fake-delay: SECONDS`` waits that long before the answer and before each
  streamed event (to tell a real latency from a measured-too-early one).
* ``x-fake-text: TEXT`` answers with that text (instead of the fixed words).
* ``x-fake-tool-call: NAME ARGS_JSON`` (``/v1/responses``, not streamed) answers
  with a call of function NAME (call id ``call_NAME``), until the request's input
  holds that call's output: then with text, as a model would.

Usage is fixed so tests can assert exact numbers: see :data:`OPENAI_USAGE`,
:data:`ANTHROPIC_USAGE`. Response ids (``chatcmpl-…``, ``resp_…``, ``msg_…``) are
unique per request, as the real APIs' are (deduplication keys on them). Every
request body is kept in ``server.requests``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

#: Chat completions / responses usage: prompt 21 (5 cached), completion 7 (2 reasoning).
OPENAI_USAGE = {"input": 21, "cached": 5, "output": 7, "reasoning": 2}
#: Anthropic usage: input 20 + cache read 4 + cache write 3, output 9.
ANTHROPIC_USAGE = {"input": 20, "cache_read": 4, "cache_write": 3, "output": 9}
WORDS = ["Hello", " from", " the", " fake", " server", ".", " More", " words", " here"]


def _text(chunks: int) -> List[str]:
    return [WORDS[i % len(WORDS)] for i in range(chunks)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    delay = 0.0

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------
    def _json(self, status: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, data: Any, event: Optional[str] = None) -> None:
        if self.delay:
            time.sleep(self.delay)
        text = data if isinstance(data, str) else json.dumps(data)
        frame = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
        self.wfile.write(frame.encode())
        self.wfile.flush()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers), body))
        status = int(self.headers.get("x-fake-status") or 200)
        chunks = int(self.headers.get("x-fake-chunks") or 3)
        model = self.headers.get("x-fake-model") or body.get("model") or "unknown"
        self.delay = min(float(self.headers.get("x-fake-delay") or 0), 2.0)
        self.text = self.headers.get("x-fake-text")
        self.tool_call = self.headers.get("x-fake-tool-call")
        if self.delay and not body.get("stream"):
            time.sleep(self.delay)
        try:
            if self.path.endswith("/chat/completions"):
                self._chat(status, body, model, chunks)
            elif self.path.endswith("/responses"):
                self._responses(status, body, model, chunks)
            elif self.path.endswith("/messages"):
                self._messages(status, body, model, chunks)
            else:
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (an abandoned stream)

    # -- OpenAI ----------------------------------------------------------------
    def _openai_error(self, status: int) -> None:
        kind = "rate_limit_error" if status == 429 else "server_error"
        message = "Rate limit reached for requests" if status == 429 else "The server had an error"
        self._json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": None}}
        )

    def _chat(self, status: int, body: Dict[str, Any], model: str, chunks: int) -> None:
        if status != 200:
            return self._openai_error(status)
        u = OPENAI_USAGE
        usage = {
            "prompt_tokens": u["input"],
            "completion_tokens": u["output"],
            "total_tokens": u["input"] + u["output"],
            "prompt_tokens_details": {"cached_tokens": u["cached"], "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u["reasoning"], "audio_tokens": 0},
        }
        created = int(time.time())
        parts = [self.text] if self.text else _text(chunks)
        response_id = "chatcmpl-" + uuid.uuid4().hex
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": response_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(parts)},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                },
            )
        self._sse_start()
        base = {"id": response_id, "object": "chat.completion.chunk", "created": created}
        base["model"] = model
        self._sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
        for part in parts:
            self._sse(
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}],
                }
            )
        self._sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._sse({**base, "choices": [], "usage": usage})
        self._sse("[DONE]")

    def _response_object(
        self, model: str, text: str, status: str, response_id: str
    ) -> Dict[str, Any]:
        u = OPENAI_USAGE
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "output": []
            if not text
            else [
                {
                    "type": "message",
                    "id": "msg_fake",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "temperature": 1.0,
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "usage": None
            if status != "completed"
            else {
                "input_tokens": u["input"],
                "input_tokens_details": {"cached_tokens": u["cached"]},
                "output_tokens": u["output"],
                "output_tokens_details": {"reasoning_tokens": u["reasoning"]},
                "total_tokens": u["input"] + u["output"],
            },
        }

    def _function_call(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The function call ``x-fake-tool-call`` asks for, unless the input answers it."""
        if not self.tool_call:
            return None
        name, _, arguments = self.tool_call.partition(" ")
        call_id = f"call_{name}"
        items = body.get("input") if isinstance(body.get("input"), list) else []
        answered = (
            isinstance(item, dict)
            and item.get("type") == "function_call_output"
            and item.get("call_id") == call_id
            for item in items
        )
        if any(answered):
            return None
        return {
            "type": "function_call",
            "id": f"fc_{name}",
            "call_id": call_id,
            "name": name,
            "arguments": arguments or "{}",
            "status": "completed",
        }

    def _responses(self, status: int, body: Dict[str, Any], model: str, chunks: int) -> None:
        if status != 200:
            return self._openai_error(status)
        parts = [self.text] if self.text else _text(chunks)
        response_id = "resp_" + uuid.uuid4().hex
        call = self._function_call(body)
        if call is not None and not body.get("stream"):
            answer = self._response_object(model, "", "completed", response_id)
            return self._json(200, {**answer, "output": [call]})
        if not body.get("stream"):
            return self._json(
                200, self._response_object(model, "".join(parts), "completed", response_id)
            )
        self._sse_start()
        seq = 0

        def send(event: Dict[str, Any]) -> None:
            nonlocal seq
            event["sequence_number"] = seq
            seq += 1
            self._sse(event, event["type"])

        in_progress = self._response_object(model, "", "in_progress", response_id)
        send({"type": "response.created", "response": in_progress})
        send({"type": "response.in_progress", "response": in_progress})
        item = {
            "type": "message",
            "id": "msg_fake",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        send({"type": "response.output_item.added", "output_index": 0, "item": item})
        where = {"item_id": "msg_fake", "output_index": 0, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        send({"type": "response.content_part.added", **where, "part": part})
        for piece in parts:
            send({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
        text = "".join(parts)
        send({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
        done_part = {**part, "text": text}
        send({"type": "response.content_part.done", **where, "part": done_part})
        done_item = {**item, "status": "completed", "content": [done_part]}
        send({"type": "response.output_item.done", "output_index": 0, "item": done_item})
        completed = self._response_object(model, text, "completed", response_id)
        send({"type": "response.completed", "response": completed})

    # -- Anthropic ---------------------------------------------------------------
    def _messages(self, status: int, body: Dict[str, Any], model: str, chunks: int) -> None:
        if status != 200:
            kind = "rate_limit_error" if status == 429 else "api_error"
            return self._json(
                status, {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
            )
        u = ANTHROPIC_USAGE
        parts = [self.text] if self.text else _text(chunks)
        usage = {
            "input_tokens": u["input"],
            "output_tokens": u["output"],
            "cache_read_input_tokens": u["cache_read"],
            "cache_creation_input_tokens": u["cache_write"],
        }
        message = {
            "id": "msg_" + uuid.uuid4().hex,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(parts)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return self._json(200, message)
        self._sse_start()
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        self._sse({"type": "message_start", "message": start}, "message_start")
        self._sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        )
        self._sse({"type": "ping"}, "ping")
        for part in parts:
            self._sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": part},
                },
                "content_block_delta",
            )
        self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self._sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": u["output"]},
            },
            "message_delta",
        )
        self._sse({"type": "message_stop"}, "message_stop")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lock: threading.Lock
    requests: List[Tuple[str, Dict[str, str], Dict[str, Any]]]


class FakeLLMServer:
    """The fake API, started on 127.0.0.1 (a free port) in a daemon thread.

    Use as a context manager; ``openai_base_url`` and ``anthropic_base_url`` are
    what the SDK clients take as ``base_url``.
    """

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.lock = threading.Lock()
        self._server.requests = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def requests(self) -> List[Tuple[str, Dict[str, str], Dict[str, Any]]]:
        with self._server.lock:
            return list(self._server.requests)

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
