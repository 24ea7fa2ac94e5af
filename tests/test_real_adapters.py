"""The openai and anthropic adapters, driven through the official SDKs against a local
server that speaks their wire formats. Checks what the SDK sent and what was recorded."""

from __future__ import annotations

import json

import pytest
from llm_server import (
    ANTHROPIC,
    OPENAI,
    FakeLLMServer,
    Reply,
    anthropic_reply,
    error_reply,
    openai_reply,
)

from stickiness.agents.models import CallOptions, ModelSpec, ModelSpecError, check_model
from stickiness.agents.models.anthropic_messages import to_anthropic
from stickiness.agents.pricing import Price, PriceTable
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.scenarios import load_scenarios

SCENARIO = """\
id: notes
title: Two notes
behaviour: commit
arm: control
kind: control
workspace:
  files:
    README.md: "# notes\\n"
turns:
  - user: "Write a note in notes.md."
    requests: [edit:notes.md]
  - user: "Write another note."
    requests: [edit:notes.md]
"""


@pytest.fixture
def scenario(tmp_path):
    (tmp_path / "notes.yaml").write_text(SCENARIO)
    return load_scenarios([tmp_path])[0]


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-anthropic")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def play(scenario, spec: str, **options):
    call = CallOptions(timeout=options.pop("timeout", 10), max_retries=options.pop("retries", 2))
    (run_spec,) = plan_runs([scenario], [ModelSpec.parse(spec)], 1)
    # Only the SDK's own retries here: these tests are about one call's outcome.
    options.setdefault("run_retries", 0)
    return run_one(run_spec, RunOptions(call=call, **options))


def test_openai_tool_loop_sends_schema_and_results_and_records_usage(server, scenario):
    spec = f"openai:gpt-4o?base_url={server.openai_url}"
    run = play(scenario, spec)
    assert run.status == "ok", run.error
    first, second = server.bodies(OPENAI)[:2]
    assert first["model"] == "gpt-4o"
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][1] == {"role": "user", "content": "Write a note in notes.md."}
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert {"write_file", "git_commit", "git_push", "search"} <= set(tools)
    assert tools["write_file"]["parameters"]["required"] == ["path", "content"]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "wrote notes.md (7 characters)",
    }
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-openai"
    turn = run.turns[0]
    assert turn.files_changed == ["notes.md"] and turn.model_calls == 2
    assert (turn.input_tokens, turn.output_tokens) == (24, 14)
    assert run.usage["model_calls"] == 4
    assert run.cost_usd == pytest.approx(4 * (12 * 2.5 + 7 * 10) / 1e6)
    assert "sk-test" not in run.model_dump_json()


def test_parallel_and_malformed_tool_calls_are_answered_in_order(server, scenario):
    server.queue(
        OPENAI,
        openai_reply(
            None,
            [
                ("a", "write_file", '{"path": "x.md", "content": "x"}'),
                ("b", "read_file", '{"path": "x.md"'),
                ("c", "teleport", "{}"),
            ],
        ),
        openai_reply("Done."),
    )
    run = play(scenario, f"openai:gpt-4o?base_url={server.openai_url}")
    results = server.bodies(OPENAI)[1]["messages"][-3:]
    assert [m["tool_call_id"] for m in results] == ["a", "b", "c"]
    assert "not valid JSON" in results[1]["content"]
    assert "unknown tool 'teleport'" in results[2]["content"]
    calls = run.turns[0].tool_calls()
    assert [c.is_error for c in calls] == [False, True, True]
    assert calls[1].arguments == '{"path": "x.md"'  # recorded as the model wrote it


def test_rate_limit_and_server_errors_are_retried_honouring_retry_after(server, scenario):
    server.queue(
        OPENAI,
        error_reply(429, "slow down", {"retry-after-ms": "5"}),
        error_reply(500, headers={"retry-after-ms": "1"}),
    )
    run = play(scenario, f"openai:gpt-4o?base_url={server.openai_url}")
    assert run.status == "ok"
    assert len(server.bodies(OPENAI)) == 2 + 4  # two failures retried, then 2 turns x 2


def test_a_call_that_keeps_failing_fails_the_run_with_its_cause(server, scenario):
    server.queue(OPENAI, *[error_reply(500, "boom", {"retry-after-ms": "1"})] * 3)
    run = play(scenario, f"openai:gpt-4o?base_url={server.openai_url}")
    assert run.status == "error"
    assert "HTTP 500" in run.error and "boom" in run.error


def test_a_reply_slower_than_the_timeout_fails_the_run(server, scenario):
    server.queue(OPENAI, Reply(body=openai_reply("late").body, delay=1.0))
    run = play(scenario, f"openai:gpt-4o?base_url={server.openai_url}", timeout=0.2, retries=0)
    assert run.status == "error" and "Timeout" in run.error


def test_anthropic_tool_use_with_cache_control_and_cache_usage(server, scenario):
    server.queue(
        ANTHROPIC,
        anthropic_reply(
            None, [("tu1", "write_file", {"path": "notes.md", "content": "n\n"})], cache_write=100
        ),
        anthropic_reply("Wrote it.", cache_read=100),
        error_reply(529, "overloaded", {"retry-after-ms": "5"}, api=ANTHROPIC),
    )
    prices = PriceTable({"house-model": Price(3.0, 15.0, 0.3, 3.75)})
    run = play(scenario, f"anthropic:house-model?base_url={server.anthropic_url}", prices=prices)
    assert run.status == "ok", run.error
    bodies = server.bodies(ANTHROPIC)
    first, second = bodies[0], bodies[1]
    assert first["max_tokens"] == 4096
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {"name", "description", "input_schema"} == set(first["tools"][0])
    results = second["messages"][-1]
    assert results["role"] == "user"
    assert results["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "tu1",
        "content": "wrote notes.md (2 characters)",
        "is_error": False,
        "cache_control": {"type": "ephemeral"},
    }
    turn2 = bodies[3]["messages"]  # bodies[2] was the 529, retried as bodies[3]
    assert [m["role"] for m in turn2] == ["user", "assistant", "user", "assistant", "user"]
    assert turn2[2]["content"][0]["type"] == "tool_result"
    assert "cache_control" not in turn2[2]["content"][0]  # only the last block is marked
    assert turn2[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    sent = server.requests[0]["headers"]
    assert "sk-test-anthropic" in (sent.get("x-api-key") or sent["authorization"])
    t1 = run.turns[0]
    assert (t1.cache_write_tokens, t1.cache_read_tokens) == (100, 100)
    assert t1.cost_usd == pytest.approx((40 * 3 + 18 * 15 + 100 * 3.75 + 100 * 0.3) / 1e6)


def test_responses_are_cached_on_disk_and_replayed_identically(server, scenario, tmp_path):
    from stickiness.agents.models import ResponseCache

    spec = f"openai:gpt-4o?base_url={server.openai_url}"
    first = play(scenario, spec, cache=ResponseCache(tmp_path / "cache"))
    sent = len(server.requests)
    second = play(scenario, spec, cache=ResponseCache(tmp_path / "cache"))
    assert len(server.requests) == sent  # nothing new reached the server
    volatile = {"started_at", "finished_at", "cost_usd", "turns"}
    assert first.model_dump(exclude=volatile) == second.model_dump(exclude=volatile)
    assert [t.files_changed for t in first.turns] == [t.files_changed for t in second.turns]
    assert second.cost_usd == 0
    assert all(
        m.get("cached") for t in second.turns for m in t.messages if m["role"] == "assistant"
    )


def test_preflight_names_the_missing_variable_or_the_unreachable_url(monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(
        ModelSpecError, match="openai:gpt-4o: the API key variable OPENAI_API_KEY is not set"
    ):
        check_model("openai:gpt-4o")
    with pytest.raises(ModelSpecError, match="MOONSHOT_KEY is not set"):
        check_model("openai:kimi?key_env=MOONSHOT_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ModelSpecError, match="ANTHROPIC_API_KEY is not set"):
        check_model("anthropic:house-model")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ModelSpecError, match=f"cannot reach http://127.0.0.1:{closed_port}"):
        check_model(f"openai:m?key_env=none&base_url=http://127.0.0.1:{closed_port}/v1")
    assert check_model(f"openai:m?key_env=none&base_url={server.openai_url}").name == "m"
    with pytest.raises(ModelSpecError, match="unknown parameter 'temprature'"):
        check_model(f"openai:m?key_env=none&temprature=0&base_url={server.openai_url}")


def test_environment_base_urls_are_honoured(monkeypatch, server, scenario):
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_url)
    assert play(scenario, "openai:gpt-4o").status == "ok"
    assert play(scenario, "anthropic:claude-haiku-4-5").status == "ok"
    assert {r["api"] for r in server.requests} == {OPENAI, ANTHROPIC}


def test_two_servers_in_one_run_via_spec_parameters(scenario, monkeypatch):
    monkeypatch.setenv("LOCAL_KEY", "local-secret")
    with FakeLLMServer() as a, FakeLLMServer() as b:
        play(scenario, f"openai:qwen?base_url={a.openai_url}&key_env=LOCAL_KEY")
        play(scenario, f"openai:kimi?base_url={b.openai_url}&key_env=none")
        assert a.requests[0]["headers"]["authorization"] == "Bearer local-secret"
        assert {r["body"]["model"] for r in a.requests} == {"qwen"}
        assert {r["body"]["model"] for r in b.requests} == {"kimi"}


def test_unpriced_models_record_no_cost(server, scenario):
    run = play(scenario, f"openai:mystery-model?base_url={server.openai_url}")
    assert run.status == "ok" and run.cost_usd is None
    assert json.loads(run.model_dump_json())["cost_usd"] is None


def test_anthropic_history_merges_tool_results_with_the_next_user_text():
    # A turn cut short by the step limit ends on tool results; the next user text must
    # join them in one user message, as the API requires alternation.
    system, messages = to_anthropic(
        [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "one"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "t1", "name": "read_file", "arguments": '{"path": "a"'}],
            },
            {
                "role": "tool",
                "tool_call_id": "t1",
                "name": "read_file",
                "content": "bad",
                "is_error": True,
            },
            {"role": "user", "content": "two"},
        ]
    )
    assert system == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["input"] == {"_unparsed_arguments": '{"path": "a"'}
    assert [b["type"] for b in messages[2]["content"]] == ["tool_result", "text"]
    assert messages[2]["content"][0]["is_error"] is True


def test_connection_refused_during_a_run_is_recorded_not_raised(scenario):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = play(
        scenario, f"openai:gpt-4o?key_env=none&base_url=http://127.0.0.1:{port}/v1", retries=0
    )
    assert run.status == "error" and "APIConnectionError" in run.error
    # A refused connection is transient: `--resume` plays the run again.
    assert run.error_kind == "transient"
    (first,) = run.turns  # the turn it failed in is kept, with the cause
    assert first.messages == [] and "APIConnectionError" in first.error


def test_price_table_is_extended_from_pyproject(tmp_path):
    from stickiness.agents.pricing import PriceError, load_prices

    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.stickiness.prices]\n"kimi-k2" = {input = 0.6, output = 2.5}\n')
    table = load_prices(path)
    assert table.lookup("openai", "kimi-k2").cost({"input_tokens": 1_000_000}) == 0.6
    assert table.lookup("anthropic", "claude-haiku-4-5-20251001").input == 1.0  # dated name
    assert table.lookup("sim", "sticky").cost({"output_tokens": 10**6}) == 0
    path.write_text('[tool.stickiness.prices]\n"x" = {input = "cheap"}\n')
    with pytest.raises(PriceError, match="tool.stickiness.prices.x: expected a table"):
        load_prices(path)
