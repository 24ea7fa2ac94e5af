"""The agent loop: a LangGraph StateGraph alternating model and tool nodes."""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, NotRequired, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from stickiness.agents.harness import Harness
from stickiness.agents.models.base import ModelAdapter
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.tools import execute, tool_schemas

EMPTY_REPLY_NOTICE = (
    "[harness] Your last reply was empty: no text and no tool call. "
    "Reply with text, or call a tool."
)


class RunStopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM) before it finished."""


class AgentState(TypedDict):
    messages: Annotated[list[dict], operator.add]
    steps: int
    # Monotonic time at which the turn's wall-clock budget runs out.
    deadline: NotRequired[float]


def _never() -> bool:
    return False


def build_agent(
    model: ModelAdapter,
    box: Sandbox,
    harness: Harness,
    max_steps: int,
    *,
    should_stop: Callable[[], bool] = _never,
    clock: Callable[[], float] = time.monotonic,
) -> CompiledStateGraph:
    """Compile the loop for one run. One invoke() is one user turn.

    `should_stop` is asked before every model call and every batch of tool calls, so a
    stop request reaches a run in the middle of a turn; `clock` is compared with the
    state's `deadline` to end a turn whose time is up (after its tools ran, so every
    call in the transcript has a result)."""
    schemas = tool_schemas(list(harness.tools))
    allowed = list(harness.tools)

    def out_of_time(state: AgentState) -> bool:
        return clock() >= state.get("deadline", math.inf)

    def call_model(state: AgentState) -> dict:
        if should_stop():
            raise RunStopped
        reply = model.complete(state["messages"], schemas)
        message = reply.as_message() | {"usage": asdict(reply.usage)}
        if reply.cached:
            message["cached"] = True
        out = [message]
        if not reply.content and not reply.tool_calls:
            # An empty reply has no tool call to attach an error to; the model is told
            # in a marked harness message (recorded, never mistaken for the user's).
            out.append({"role": "user", "content": EMPTY_REPLY_NOTICE, "harness_notice": True})
        return {"messages": out, "steps": state["steps"] + 1}

    def run_tools(state: AgentState) -> dict:
        calls = state["messages"][-1]["tool_calls"]
        results = []
        for call in calls:
            if should_stop():
                raise RunStopped
            result = execute(box, call["name"], call["arguments"], allowed)
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "name": call["name"],
                    "content": result.content,
                    "is_error": result.is_error,
                }
            )
        return {"messages": results}

    def after_model(state: AgentState) -> str:
        last = state["messages"][-1]
        if last.get("harness_notice"):
            return "model" if state["steps"] < max_steps and not out_of_time(state) else END
        return "tools" if last.get("tool_calls") else END

    def after_tools(state: AgentState) -> str:
        # Tools always run before stopping, so every call in the transcript has a result.
        return END if state["steps"] >= max_steps or out_of_time(state) else "model"

    graph = StateGraph(AgentState)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", after_model, ["tools", "model", END])
    graph.add_conditional_edges("tools", after_tools, ["model", END])
    return graph.compile()


def recursion_limit(max_steps: int) -> int:
    """LangGraph counts node executions; a step is one model and one tool node."""
    return 2 * max_steps + 2
