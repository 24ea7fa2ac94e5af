"""ATIF, the Agent Trajectory Interchange Format: Harbor's `trajectory.json`.

Root: `schema_version` ("ATIF-v1.0" to "v1.6"), `session_id`, `agent` (`name`, `version`,
`model_name`), `steps`, `notes`, `final_metrics` (`total_prompt_tokens`, ...,
`total_steps`), `continued_trajectory_ref`, `extra`. A step: `step_id` (1, 2, ...),
`timestamp`, `source` (system, user or agent), `model_name`, `message` (a string, or
since v1.6 parts `{type: "text", text}` / `{type: "image", source}`), `reasoning_content`,
`tool_calls` (`[{tool_call_id, function_name, arguments: object}]`), `observation`
(`{results: [{source_call_id, content}]}`), `metrics` (`prompt_tokens`, cached ones
included, `completion_tokens`, `cached_tokens`, `cost_usd`, `extra`), `is_copied_context`
(v1.5) and `extra`. Only agent steps may carry a model, tool calls or metrics, and every
object forbids keys of its own, so anything else goes under an `extra`. (Harbor's
pydantic models, laude-institute/harbor src/harbor/models/trajectories/*.py, ATIF-v1.6,
as vendored in refreshdotdev/harbor-trajectories at 22dafa6; RFC 0001, v1.4.)

ATIF has no error flag on a result and no exit codes: `to_atif` keeps them, and this
tool's own facts (the scenario, commits, pushes, annotations), under `extra.stickiness`,
which `read_atif` reads back. Results written without a `source_call_id` (Harbor's
Terminus-2 does that) are matched to the step's unanswered calls in order.
"""

from __future__ import annotations

import json
from itertools import accumulate
from pathlib import Path

from stickiness.agents.imported.jsonl import check_size
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn
from stickiness.agents.trajectory import Trajectory, TurnRecord

SCHEMA_VERSION = "ATIF-v1.6"
_KEY = "stickiness"  # this tool's key under each `extra`
# Result facts ATIF has no field for, kept per result in the step's extra.
_RESULT_FACTS = ("is_error", "exit_code", "outcome")
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_COUNTS = ("model_calls", *_TOKENS)


def _text(value: object) -> str:
    if not isinstance(value, list):
        return value if isinstance(value, str) else ""
    parts = [p for p in value if isinstance(p, dict)]  # content parts (v1.6)
    return "\n".join(
        str(p.get("text") or "")
        if p.get("type") != "image"
        # An image is named, not shown: the analysis reads text.
        else f"[image: {_dict(p.get('source')).get('path', '')}]"
        for p in parts
    )


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _load(path: Path) -> dict:
    check_size(path)
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise LogError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LogError(f"{path}: expected an ATIF trajectory object, got {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, str) or not version.startswith("ATIF-"):
        raise LogError(f'{path}: not an ATIF trajectory (`schema_version` "ATIF-v1.x" missing)')
    if not isinstance(data.get("steps"), list):
        raise LogError(f"{path}: `steps` is missing or not a list")
    if not isinstance(data.get("agent", {}), dict):
        raise LogError(f"{path}: `agent` is not an object")
    return data


def _agent_step(
    turn: LoggedTurn, step: dict, where: str, unmatched: list[int], *, count: bool
) -> None:
    calls = step.get("tool_calls") or []
    if not isinstance(calls, list):
        raise LogError(f"{where}: `tool_calls` is not a list")
    ours = _dict(_dict(step.get("extra")).get(_KEY))
    raw = _dict(ours.get("arguments"))
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("function_name"), str):
            raise LogError(f"{where}: a tool call without a `function_name`")
        call_id = str(call.get("tool_call_id") or f"call-{len(turn.messages)}-{len(out)}")
        args = call.get("arguments", {})
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        text = raw[call_id] if isinstance(raw.get(call_id), str) else text
        out.append({"id": call_id, "name": call["function_name"], "arguments": text})
    message = {"role": "assistant", "content": _text(step.get("message")), "tool_calls": out}
    if isinstance(step.get("reasoning_content"), str):
        message["reasoning"] = step["reasoning_content"]
    turn.messages.append(message)
    if count:
        metrics = _dict(step.get("metrics"))
        read = _int(metrics.get("cached_tokens"))
        write = _int(_dict(metrics.get("extra")).get("cache_creation_input_tokens"))
        turn.model_calls += 1
        turn.input_tokens += max(0, _int(metrics.get("prompt_tokens")) - read - write)
        turn.output_tokens += _int(metrics.get("completion_tokens"))
        turn.cache_read_tokens += read
        turn.cache_write_tokens += write
    results = _dict(step.get("observation")).get("results") or []
    if not isinstance(results, list):
        raise LogError(f"{where}: `observation.results` is not a list")
    facts = ours.get("results") if isinstance(ours.get("results"), list) else []
    waiting = list(out)
    for number, result in enumerate(results):
        if not isinstance(result, dict):
            raise LogError(f"{where}: an observation result is not an object")
        fact = _dict(facts[number]) if number < len(facts) else {}
        call_id = str(fact.get("tool_call_id") or result.get("source_call_id") or "") or None
        call = next((c for c in waiting if c["id"] == call_id), None)
        if call is None and call_id is None:
            if not waiting:
                unmatched[1] += 1
                continue
            call, unmatched[0] = waiting[0], unmatched[0] + 1
        if call is not None:
            waiting.remove(call)
        message = {
            "role": "tool",
            "tool_call_id": call["id"] if call else call_id,
            "name": call["name"] if call else str(fact.get("name") or ""),
            "content": _text(result.get("content")),
            "is_error": bool(fact.get("is_error")),
        }
        message |= {"exit_code": fact["exit_code"]} if type(fact.get("exit_code")) is int else {}
        message |= {"outcome": "denied"} if fact.get("outcome") == "denied" else {}
        turn.messages.append(message)


def read_atif(path: Path) -> list[LoggedSession]:
    """The session an ATIF `trajectory.json` holds."""
    data = _load(path)
    agent = _dict(data.get("agent"))
    session = LoggedSession(
        source=str(path),
        format="atif",
        session_id=str(data.get("session_id") or data.get("trajectory_id") or path.stem),
        model=str(agent.get("model_name") or "unknown"),
        agent=" ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)),
    )
    system, turn, unmatched, models, exact = [], None, [0, 0], {}, False
    for number, step in enumerate(data["steps"], 1):
        where = f"{path}: step {number}"
        if not isinstance(step, dict) or step.get("source") not in ("system", "user", "agent"):
            raise LogError(f"{where}: expected a step with `source` system, user or agent")
        if step.get("is_copied_context"):
            continue  # repeated from an earlier trajectory for context, not done here
        stamp = step.get("timestamp") if isinstance(step.get("timestamp"), str) else None
        session.started_at = session.started_at or stamp
        session.finished_at = stamp or session.finished_at
        if step["source"] == "system" and turn is None:
            system.append(_text(step.get("message")))
        elif step["source"] == "user":
            turn = LoggedTurn(user=_text(step.get("message")), at=stamp)
            session.turns.append(turn)
            # A turn this tool exported has its own counts: a step's metrics are a share.
            ours = _dict(_dict(step.get("extra")).get(_KEY))
            exact = any(key in ours for key in _COUNTS)
            for key in _COUNTS:
                setattr(turn, key, _int(ours.get(key)))
        elif step["source"] == "agent":
            if turn is None:
                turn, exact = LoggedTurn(user="", at=stamp), False
                session.turns.append(turn)
            _agent_step(turn, step, where, unmatched, count=not exact)
            model = step.get("model_name")
            if isinstance(model, str) and model:
                models[model] = models.get(model, 0) + 1
    session.system_prompt = "\n\n".join(system)
    session.model = max(models, key=models.__getitem__) if models else session.model
    notes = ("{} result(s) named no call: matched in order", "{} result(s) of no call left out")
    session.notes += [note.format(n) for note, n in zip(notes, unmatched, strict=True) if n]
    if data.get("continued_trajectory_ref"):
        session.notes.append(f"continued in {data['continued_trajectory_ref']} (not read)")
    return [session] if session.turns else []


def _arguments(text: str) -> tuple[dict, bool]:
    """The call's arguments as the object ATIF wants, and whether that object gives back
    the exact text."""
    # Deep nesting stays text: some JSON writers refuse it (orjson past 255 levels).
    nesting = max(accumulate((c in "[{") - (c in "]}") for c in text), default=0)
    try:
        value = json.loads(text) if nesting <= 64 else None
        exact = isinstance(value, dict) and json.dumps(value, ensure_ascii=False) == text
    except ValueError:  # a model's text: anything at all
        value, exact = None, False
    return (value, exact) if isinstance(value, dict) else ({"raw_arguments": text}, False)


def _metrics(turn: TurnRecord) -> dict:
    """The turn's counts in ATIF's terms: its prompt count includes cached tokens."""
    read, write = turn.cache_read_tokens, turn.cache_write_tokens
    metrics: dict = {
        "prompt_tokens": turn.input_tokens + read + write,
        "completion_tokens": turn.output_tokens,
        "cached_tokens": read,
    }
    if turn.cost_usd is not None:
        metrics["cost_usd"] = turn.cost_usd
    if write:
        metrics["extra"] = {"cache_creation_input_tokens": write}
    return metrics


def _reply_step(message: dict, results: list[dict], metrics: dict | None) -> dict:
    """An assistant message as an agent step, with its calls' results as the observation."""
    calls = message.get("tool_calls") or []
    ids = {call["id"] for call in calls}
    step: dict = {"source": "agent", "message": message.get("content") or ""}
    if isinstance(message.get("reasoning"), str):
        step["reasoning_content"] = message["reasoning"]
    ours: dict = {}
    for call in calls:
        arguments, exact = _arguments(call["arguments"])
        step.setdefault("tool_calls", []).append(
            {"tool_call_id": call["id"], "function_name": call["name"], "arguments": arguments}
        )
        if not exact:
            ours.setdefault("arguments", {})[call["id"]] = call["arguments"]
    observed, facts = [], []
    for result in results:
        known = result["tool_call_id"] in ids  # else the call is not this step's to name
        source = result["tool_call_id"] if known else None
        observed.append({"source_call_id": source, "content": result["content"]})
        facts.append({"tool_call_id": result["tool_call_id"], "name": result.get("name", "")})
        facts[-1].update({k: result[k] for k in _RESULT_FACTS if k in result})
    if observed:
        step["observation"] = {"results": observed}
    if metrics:
        step["metrics"] = metrics
    if any(f.get("is_error") or len(f) > 3 or f["tool_call_id"] not in ids for f in facts):
        ours["results"] = facts
    if ours:
        step["extra"] = {_KEY: ours}
    return step


def _turn_steps(turn: TurnRecord) -> list[dict]:
    """A turn as ATIF steps: the person's message, then a step per assistant message."""
    facts = turn.model_dump(mode="json", exclude={"user", "messages"})
    steps: list[dict] = [{"source": "user", "message": turn.user, "extra": {_KEY: facts}}]
    replies: list[tuple[dict, list[dict]]] = []
    owner: dict[str, int] = {}  # call id -> the reply that made it
    for message in turn.messages:
        if message["role"] == "assistant":
            replies.append((message, []))
            owner.update((call["id"], len(replies) - 1) for call in message.get("tool_calls") or [])
        elif message["role"] == "tool" and replies:
            # A result whose call is not in this turn goes with the last reply.
            replies[owner.pop(message["tool_call_id"], -1)][1].append(message)
    metrics = _metrics(turn) if any(_metrics(turn).values()) else None
    for number, (message, results) in enumerate(replies):
        # The whole turn's counts go on its first reply: the log has no finer split.
        steps.append(_reply_step(message, results, metrics if number == 0 else None))
    return steps


def to_atif(trajectory: Trajectory) -> dict:
    """One of this project's trajectories as an ATIF document (`trajectory.json`)."""
    t = trajectory
    steps: list[dict] = []
    if t.system_prompt or not t.turns:  # ATIF wants at least one step
        steps.append({"source": "system", "message": t.system_prompt})
    for turn in t.turns:
        steps += _turn_steps(turn)
    steps = [{"step_id": n, **step} for n, step in enumerate(steps, 1)]
    totals = [_metrics(turn) for turn in t.turns]
    final: dict = {
        f"total_{key}": sum(m[key] for m in totals)
        for key in ("prompt_tokens", "completion_tokens", "cached_tokens")
    }
    final["total_steps"] = len(steps)
    if t.cost_usd is not None:
        final["total_cost_usd"] = t.cost_usd
    version = t.versions.get("stickiness", "unknown")
    return {
        "schema_version": SCHEMA_VERSION,
        "session_id": t.run_id,
        "agent": {"name": t.harness, "version": version, "model_name": t.model},
        "steps": steps,
        "notes": (
            "Each turn's token counts are on its first agent step and cover the whole turn. "
            "Result errors, exit codes and refusals, and the run's scenario, commits, pushes "
            "and annotations, are under extra.stickiness."
        ),
        "final_metrics": final,
        "extra": {_KEY: t.model_dump(mode="json", exclude={"turns", "system_prompt"})},
    }
