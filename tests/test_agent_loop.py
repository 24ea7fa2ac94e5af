"""The LangGraph loop with a scripted model double: errors go back to the model."""

from __future__ import annotations

from stickiness.agents.harness import get_harness
from stickiness.agents.loop import build_agent, recursion_limit
from stickiness.agents.models.base import ModelReply, Usage
from stickiness.agents.sandbox import Sandbox


class ScriptedModel:
    """Replays fixed replies and remembers what it was shown."""

    spec = "scripted:test"
    simulated = True

    def __init__(self, replies: list[ModelReply]) -> None:
        self.replies = list(replies)
        self.seen: list[list[dict]] = []

    def describe(self) -> dict:
        return {}

    def complete(self, messages, tools):
        self.seen.append(list(messages))
        return self.replies.pop(0) if self.replies else ModelReply(content="done")


def call(i: int, name: str, arguments: str) -> dict:
    return {"id": f"c{i}", "name": name, "arguments": arguments}


def run(model, max_steps=10):
    with Sandbox({"a.txt": "alpha\n"}) as box:
        agent = build_agent(model, box, get_harness("minimal"), max_steps)
        state = agent.invoke(
            {"messages": [{"role": "user", "content": "go"}], "steps": 0},
            config={"recursion_limit": recursion_limit(max_steps)},
        )
        return state, box.git("log", "--format=%s").splitlines()


def test_malformed_and_unknown_calls_are_fed_back_as_tool_errors():
    model = ScriptedModel(
        [
            ModelReply(
                tool_calls=[call(1, "read_file", '{"path": "a.txt"'), call(2, "teleport", "{}")],
                usage=Usage(10, 5),
            ),
            ModelReply(tool_calls=[call(3, "write_file", '{"path": "a.txt", "content": "b"}')]),
            ModelReply(tool_calls=[call(4, "git_commit", '{"message": "Write b"}')]),
            ModelReply(content="All done."),
        ]
    )
    state, log = run(model)
    tool_msgs = [m for m in state["messages"] if m["role"] == "tool"]
    assert [m["is_error"] for m in tool_msgs] == [True, True, False, False]
    assert "not valid JSON" in tool_msgs[0]["content"]
    assert "unknown tool 'teleport'" in tool_msgs[1]["content"]
    # The model saw both errors before its next move.
    assert [m["tool_call_id"] for m in model.seen[1] if m["role"] == "tool"] == ["c1", "c2"]
    assert state["messages"][-1]["content"] == "All done."
    assert state["messages"][1]["usage"]["input_tokens"] == 10
    assert log == ["Write b", "Initial state"]


def test_step_limit_stops_a_model_that_never_finishes():
    forever = ScriptedModel(
        [ModelReply(tool_calls=[call(i, "list_files", "{}")]) for i in range(100)]
    )
    state, _ = run(forever, max_steps=3)
    assert state["steps"] == 3
    assert state["messages"][-1]["role"] == "tool"  # every call got its result
    assert len(forever.seen) == 3


def test_an_empty_reply_is_answered_with_a_marked_harness_notice():
    model = ScriptedModel([ModelReply(content=""), ModelReply(content="Sorry, done now.")])
    state, _ = run(model)
    notice = [m for m in state["messages"] if m.get("harness_notice")]
    assert len(notice) == 1 and "empty" in notice[0]["content"]
    assert state["messages"][-1]["content"] == "Sorry, done now."
    assert state["steps"] == 2
