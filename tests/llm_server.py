"""A small HTTP server on 127.0.0.1 speaking the OpenAI Chat Completions, OpenAI Responses
and Anthropic Messages wire formats, scripted per test, recording every request it receives.

The official SDKs talk to it exactly as to the real services (they use httpx2, which
request-mocking libraries do not see). Also used by the concurrency benchmark, and by the
real agent CLIs (Claude Code, Codex CLI; see tests/scripted_agents.py).

Streaming: a request with `"stream": true` gets the reply as server-sent events, encoded
from the same scripted body a non-streamed request gets (`anthropic_reply`,
`openai_reply`, `responses_reply`), so one scripted reply serves both. An error reply
(status >= 400) is sent as JSON either way, as the real services do. A `str` body is sent
as it is (with an event-stream content type when the request asked for a stream), for
malformed replies.

Recorded: `server.requests` holds every API call ({"api", "method", "path", "headers",
"body"}); `server.probes` holds the other requests (`HEAD /`, unknown routes), which get
an empty 200 (HEAD, GET /) or a 404.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sse_streams import anthropic_events, openai_chunks, responses_events

OPENAI, ANTHROPIC, RESPONSES = "openai", "anthropic", "responses"
PATHS = {"/v1/chat/completions": OPENAI, "/v1/messages": ANTHROPIC, "/v1/responses": RESPONSES}


@dataclass
class Reply:
    status: int = 200
    body: dict | str | Callable[[dict], dict] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow server)


def openai_reply(
    content: str | None = None,
    calls: list[tuple[str, str, str]] = (),
    prompt: int = 12,
    completion: int = 7,
    cached: int = 0,
) -> Reply:
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "test",
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }
    )


def anthropic_reply(
    text: str | None = None,
    uses: list[tuple[str, str, dict]] = (),
    tokens_in: int = 20,
    tokens_out: int = 9,
    cache_read: int = 0,
    cache_write: int = 0,
    message_id: str = "msg_test",
) -> Reply:
    """A Messages API reply: `text` (if any), then one tool_use block per (id, name, input).
    Give each reply of a conversation its own `message_id` when a client keeps history:
    Claude Code joins consecutive assistant messages that share an id into one."""
    content = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in uses]
    return Reply(
        body={
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": "test",
            "content": content,
            "stop_reason": "tool_use" if uses else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
            },
        }
    )


def responses_reply(
    text: str | None = None,
    calls: list[tuple[str, str, str]] = (),
    tokens_in: int = 30,
    tokens_out: int = 11,
    cached: int = 0,
    reasoning: int = 0,
    items: list[dict] = (),
    response_id: str = "resp_test",
) -> Reply:
    """A finished OpenAI Responses API reply: an assistant `message` with `text` (if any),
    then one `function_call` item per (call_id, name, arguments_json), then any raw
    `items` (for item types not built here). The body is the non-streamed response
    object; streamed requests get it as events (`responses_events`)."""
    output: list[dict] = []
    if text:
        output.append(
            {
                "id": f"msg_{response_id}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    output += [
        {
            "id": f"fc_{call_id}",
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
        for call_id, name, arguments in calls
    ]
    output += list(items)
    return Reply(
        body={
            "id": response_id,
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": "test",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "usage": {
                "input_tokens": tokens_in,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": tokens_out,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": tokens_in + tokens_out,
            },
        }
    )


def error_reply(
    status: int, message: str = "try later", headers: dict | None = None, api: str = OPENAI
) -> Reply:
    if api == ANTHROPIC:
        kind = "overloaded_error" if status == 529 else "api_error"
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": "server_error", "code": None}}
    return Reply(status=status, body=body, headers=headers or {})


def simple_agent(api: str, body: dict) -> Reply:
    """A well-behaved model: writes a note for each user turn, then says it is done."""
    if api == RESPONSES:
        items = [i for i in body["input"] if isinstance(i, dict)]
        if items and items[-1].get("type") == "function_call_output":
            return responses_reply("Done: wrote notes.md.")
        turn = sum(i.get("role") == "user" for i in items)
        args = json.dumps({"path": "notes.md", "content": f"note {turn}\n"})
        return responses_reply(None, [(f"call_{turn}", "write_file", args)])
    last = body["messages"][-1]
    if api == OPENAI:
        if last["role"] == "tool":
            return openai_reply("Done: wrote notes.md.")
        turn = sum(m["role"] == "user" for m in body["messages"])
        args = json.dumps({"path": "notes.md", "content": f"note {turn}\n"})
        return openai_reply(None, [(f"call_{turn}", "write_file", args)])
    blocks = last["content"]
    if isinstance(blocks, str):
        blocks = [{"type": "text", "text": blocks}]
    if any(b.get("type") == "tool_result" for b in blocks) and blocks[-1]["type"] != "text":
        return anthropic_reply("Done: wrote notes.md.")
    turn = sum(
        m["role"] == "user" and any(b["type"] == "text" for b in m["content"])
        for m in body["messages"]
    )
    return anthropic_reply(
        None, [(f"toolu_{turn}", "write_file", {"path": "notes.md", "content": f"note {turn}\n"})]
    )


def stream_of(api: str, body: dict, request: dict) -> str:
    """The scripted body of a reply as the stream `api` sends for it."""
    if api == ANTHROPIC:
        return anthropic_events(body)
    if api == RESPONSES:
        return responses_events(body)
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    return openai_chunks(body, include_usage)


@dataclass
class Faults:
    """Injected failures: each request fails with probability `rate`, drawn from a
    seeded stream, as a rate limit, a server error, an overload or a reply so slow the
    client gives up (`timeout_delay` must exceed the client's timeout)."""

    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = ("429", "500", "529", "timeout")
    timeout_delay: float = 2.0
    retry_after_ms: int = 5  # what a rate-limiting server asks the client to wait
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, api: str) -> Reply | None:
        if self._rng.random() >= self.rate:
            return None
        kind = self._rng.choice(self.kinds)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "timeout":
            return simple_reply_after(self.timeout_delay)
        status = int(kind)
        if status == 529 and api != ANTHROPIC:
            status = 503  # OpenAI-compatible servers say overloaded with 503
        headers = {"retry-after-ms": str(self.retry_after_ms)} if status == 429 else {}
        return error_reply(status, f"injected {kind}", headers, api=api)


def simple_reply_after(delay: float) -> Reply:
    """A reply that arrives too late: the client has timed out by then."""
    return Reply(status=500, body={"error": {"message": "too late"}}, delay=delay)


def key_of(headers: dict) -> str:
    """The API key a request carried (either provider's header)."""
    auth = headers.get("authorization", "")
    return headers.get("x-api-key") or auth.removeprefix("Bearer ").strip()


class FakeLLMServer:
    def __init__(
        self,
        default: Callable[[str, dict], Reply] | None = simple_agent,
        latency: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        self.default = default
        self.latency = latency
        self.faults = faults
        self.requests: list[dict] = []  # {"api", "method", "path", "headers", "body"}
        self.probes: list[dict] = []  # other requests: {"method", "path", "headers", "body"}
        self._script: dict[str, deque[Reply]] = {api: deque() for api in PATHS.values()}
        self._lock = threading.Lock()
        self.in_flight = 0  # model requests being answered now
        self.peak_in_flight = 0  # the most at once, since the start
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def responses_url(self) -> str:
        """The base URL for Responses API clients (the openai SDK, Codex's `base_url`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, api: str, *replies: Reply) -> None:
        with self._lock:
            self._script[api].extend(replies)

    def bodies(self, api: str) -> list[dict]:
        return [r["body"] for r in self.requests if r["api"] == api]

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, api: str, body: dict, headers: dict, path: str = "") -> Reply:
        with self._lock:
            self.requests.append(
                {"api": api, "method": "POST", "path": path, "body": body, "headers": headers}
            )
            if self._script[api]:
                return self._script[api].popleft()
            fault = self.faults.draw(api) if self.faults else None
            if fault is not None:
                return fault
        if self.default is None:
            return error_reply(500, "no scripted reply left", api=api)
        return self.default(api, body)

    def _handler(server):  # noqa: N805 - closes over the server instance
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per reply

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _probe(self, body: bytes = b"") -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                text = body.decode(errors="replace")
                with server._lock:
                    seen = {"method": self.command, "path": self.path}
                    server.probes.append({**seen, "headers": headers, "body": text})

            def do_HEAD(self) -> None:  # noqa: N802 - Claude Code checks the host is there
                self._probe()
                self._send(Reply(200 if self.path == "/" else 404, ""), head=True)

            def do_GET(self) -> None:  # noqa: N802
                self._probe()
                self._send(Reply(200, "") if self.path == "/" else self._no_route())

            def _no_route(self) -> Reply:
                return Reply(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                api = PATHS.get(self.path.split("?")[0])
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if api is None:
                    self._probe(raw)
                    self._send(self._no_route())
                    return
                with server._lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._answer(api, json.loads(raw))
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, api: str, body) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server._next(api, body, headers, self.path)
                if callable(reply.body):  # a reply built from the request (an echo)
                    reply = Reply(reply.status, reply.body(headers), reply.headers, reply.delay)
                if reply.delay or server.latency:
                    time.sleep(reply.delay or server.latency)
                stream = body.get("stream") is True if isinstance(body, dict) else False
                self._send(reply, stream=stream, api=api, request=body)

            def _send(
                self,
                reply: Reply,
                stream: bool = False,
                api: str = "",
                request: dict | None = None,
                head: bool = False,
            ) -> None:
                kind = "application/json"
                if isinstance(reply.body, str):
                    data = reply.body
                    if stream:
                        kind = "text/event-stream"
                elif stream and reply.status < 400:
                    data, kind = stream_of(api, reply.body, request or {}), "text/event-stream"
                else:
                    data = json.dumps(reply.body)
                payload = data.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", kind)
                    self.send_header("content-length", str(len(payload)))
                    if kind == "text/event-stream":
                        self.send_header("cache-control", "no-cache")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if not head:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
