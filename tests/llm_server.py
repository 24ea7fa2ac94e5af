"""A small HTTP server on 127.0.0.1 speaking the OpenAI Chat Completions and Anthropic
Messages wire formats, scripted per test, recording every request it receives.

The official SDKs talk to it exactly as to the real services (they use httpx2, which
request-mocking libraries do not see). Also used by the concurrency benchmark.
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

OPENAI, ANTHROPIC = "openai", "anthropic"
PATHS = {"/v1/chat/completions": OPENAI, "/v1/messages": ANTHROPIC}


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
) -> Reply:
    content = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in uses]
    return Reply(
        body={
            "id": "msg_test",
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
        if status == 529 and api == OPENAI:
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
        self.requests: list[dict] = []  # {"api", "path", "headers", "body"}
        self._script: dict[str, deque[Reply]] = {OPENAI: deque(), ANTHROPIC: deque()}
        self._lock = threading.Lock()
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

    def _next(self, api: str, body: dict, headers: dict) -> Reply:
        with self._lock:
            self.requests.append({"api": api, "body": body, "headers": headers})
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

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                api = PATHS.get(self.path.split("?")[0])
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if api is None:
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                else:
                    body = json.loads(raw)
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    reply = server._next(api, body, headers)
                    if callable(reply.body):  # a reply built from the request (an echo)
                        reply = Reply(reply.status, reply.body(headers), reply.headers)
                if reply.delay or server.latency:
                    time.sleep(reply.delay or server.latency)
                data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = data.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
