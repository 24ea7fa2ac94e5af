"""Inspect AI logs: `.eval` (a zip) and the older `.json` (one object).

A `.eval` holds `header.json` (or, for a run that did not finish, `_journal/start.json`)
with `version`, `status`, `eval` (`eval_id`, `run_id`, `task`, `model`, `solver`,
`packages`) and `stats` (`started_at`, `completed_at`), and one `samples/<id>_epoch_<n>.json`
per sample and epoch. The `.json` log is the same record in one object, samples inline.
A sample has `id`, `epoch`, `uuid`, `started_at`, `completed_at`, `error`, `limit`,
`attachments` (long text moved out of messages, referred to as `attachment://<hash>`),
`events` and `messages`: `role` system, user, assistant or tool; `content` a string or
parts (`{type: "text", text}`, reasoning, images); an assistant's `tool_calls`
`[{id, function, arguments: object, parse_error}]` and `model`; a tool message's
`tool_call_id`, `function` and `error` (`{type, message}`, null on success). A `model`
event is one model call: its `output.choices[0].message.id` is the reply's message id
and `output.usage` its `input_tokens` (cache excluded), `output_tokens`,
`input_tokens_cache_read` and `input_tokens_cache_write`.
(Fields from UKGovernmentBEIS/inspect_ai at 499e615, Aug 2026: src/inspect_ai/log/
{_log.py, _condense.py, _recorders/eval.py}, model/{_chat_message.py, _model_output.py},
tool/_tool_call.py, event/_model.py, _util/content.py.)

Inspect's own `bash` tool answers a failed command with its output and no error: only
errors Inspect raised (timeout, parsing, approval...) mark a result as failed here.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from stickiness.agents.imported.jsonl import MAX_LOG_BYTES, check_size
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn

_SAMPLE = re.compile(r"^samples/(.+)_epoch_(\d+)\.json$")
_REFERENCES = ("attachment://", "tc://")  # tc:// is the older spelling
# What a damaged or unusual zip raises as it is read.
_ZIP_ERRORS = (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def _text(content: object) -> str:
    """A message's text, as Inspect's `ChatMessage.text` gives it: the text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _resolve(value: object, attachments: dict, depth: int = 0) -> object:
    if isinstance(value, str) and value.startswith(_REFERENCES):
        return attachments.get(value.split("://", 1)[1], value)
    if depth > 32:  # references sit a few levels into a message, never deeper
        return value
    if isinstance(value, list):
        return [_resolve(v, attachments, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, attachments, depth + 1) for k, v in value.items()}
    return value


def _member(archive: zipfile.ZipFile, name: str, where: str) -> object:
    info = archive.getinfo(name)
    if info.file_size > MAX_LOG_BYTES:
        raise LogError(f"{where}: {name} unpacks to more than {MAX_LOG_BYTES // 2**20} MiB")
    try:
        return json.loads(archive.read(info))
    except (ValueError, *_ZIP_ERRORS) as exc:
        raise LogError(f"{where}: {name}: not readable JSON ({exc})") from None


def _read_eval(path: Path) -> Iterator[tuple[dict, str, object]]:
    """(header, member, sample) for each sample of a `.eval` zip, read one at a time: a
    log's samples together can be far larger than any one of them."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = list(dict.fromkeys(archive.namelist()))  # a re-logged sample repeats
            head = next((n for n in ("header.json", "_journal/start.json") if n in names), None)
            if head is None:
                raise LogError(
                    f"{path}: a zip but not an Inspect log (no header.json or _journal/start.json)"
                )
            header = _member(archive, head, str(path))
            if not isinstance(header, dict) or not isinstance(header.get("eval"), dict):
                raise LogError(f"{path}: {head}: expected an object with `eval`")
            for name in sorted((n for n in names if _SAMPLE.match(n)), key=_order):
                yield header, name, _member(archive, name, str(path))
    except _ZIP_ERRORS as exc:
        raise LogError(f"{path}: not a readable .eval zip ({exc})") from None


def _read_json(path: Path) -> list[tuple[dict, str, object]]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise LogError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("eval"), dict):
        raise LogError(f"{path}: not an Inspect log (expected an object with `eval`)")
    samples = data.get("samples") or []
    if not isinstance(samples, list):
        raise LogError(f"{path}: `samples` is not a list")
    return [(data, f"samples[{i}]", sample) for i, sample in enumerate(samples)]


def _usage_by_reply(events: object) -> dict[str, tuple[str, dict]]:
    """Reply message id -> (model, usage) of the model call that wrote it."""
    out: dict[str, tuple[str, dict]] = {}
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or event.get("event") != "model":
            continue
        output = _dict(event.get("output"))
        choices = output.get("choices") if isinstance(output.get("choices"), list) else [{}]
        reply = _dict(_dict(choices[0] if choices else {}).get("message"))
        if isinstance(reply.get("id"), str):
            model = str(event.get("model") or output.get("model") or "")
            out[reply["id"]] = (model, _dict(output.get("usage")))
    return out


def _add_usage(turn: LoggedTurn, usage: dict) -> None:
    turn.input_tokens += _int(usage.get("input_tokens"))
    turn.output_tokens += _int(usage.get("output_tokens"))
    turn.cache_read_tokens += _int(usage.get("input_tokens_cache_read"))
    turn.cache_write_tokens += _int(usage.get("input_tokens_cache_write"))


def _call(call: object, where: str) -> dict:
    if not isinstance(call, dict) or not isinstance(call.get("function"), str):
        raise LogError(f"{where}: a tool call without a `function` name")
    args = call.get("arguments")
    if not isinstance(args, str):
        args = json.dumps(args if args is not None else {}, ensure_ascii=False)
    return {"id": str(call.get("id") or ""), "name": call["function"], "arguments": args}


def _result(message: dict, names: dict[str, str]) -> dict:
    error = message.get("error") if isinstance(message.get("error"), dict) else None
    call_id = str(message.get("tool_call_id") or "")
    text = _text(message.get("content"))
    result = {
        "role": "tool",
        "tool_call_id": call_id,
        "name": str(message.get("function") or names.get(call_id, "")),
        "content": text or (str(error.get("message") or "") if error else ""),
        "is_error": error is not None,
    }
    if error and error.get("type") == "approval":
        result["outcome"] = "denied"  # the approver (a person or a policy) refused it
    return result


def _turns(session: LoggedSession, messages: list, where: str, calls: dict) -> Counter:
    """Fills the session's turns from the sample's messages; the models that replied."""
    system, turn, models, names = [], None, Counter(), {}
    for number, message in enumerate(messages, 1):
        here = f"{where}: message {number}"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            raise LogError(f"{here}: expected a role of system, user, assistant or tool")
        if role == "system" and turn is None:
            system.append(_text(message.get("content")))
        elif role == "system":
            session.notes.append(
                f"message {number}: a system message after the first turn left out"
            )
        elif role == "user" and not message.get("tool_call_id"):
            # (A user message with a tool_call_id carries a tool's images back: not typed.)
            turn = LoggedTurn(user=_text(message.get("content")))
            session.turns.append(turn)
        elif role == "assistant":
            if turn is None:
                turn = LoggedTurn(user="")
                session.turns.append(turn)
            tool_calls = message.get("tool_calls") or []
            if not isinstance(tool_calls, list):
                raise LogError(f"{here}: `tool_calls` is not a list")
            out = [_call(call, here) for call in tool_calls]
            names.update((c["id"], c["name"]) for c in out)
            turn.messages.append(
                {"role": "assistant", "content": _text(message.get("content")), "tool_calls": out}
            )
            turn.model_calls += 1
            model, usage = calls.get(str(message.get("id")), (None, {}))
            _add_usage(turn, usage)
            models[model or _str(message.get("model")) or ""] += 1
        elif role == "tool" and turn is not None:
            turn.messages.append(_result(message, names))
    session.system_prompt = "\n\n".join(system)
    return models


def _session(path: Path, header: dict, member: str, sample: object) -> LoggedSession:
    where = f"{path}: {member}"
    if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
        raise LogError(f"{where}: expected a sample with a `messages` list")
    spec, stats = header["eval"], _dict(header.get("stats"))
    solver, version = spec.get("solver"), _dict(spec.get("packages")).get("inspect_ai")
    agent = " ".join(str(p) for p in ("inspect_ai", version, solver and f"({solver})") if p)
    run = spec.get("eval_id") or path.stem
    session = LoggedSession(
        source=str(path),
        format="inspect",
        session_id=str(sample.get("uuid") or f"{run}:{sample.get('id')}:{sample.get('epoch')}"),
        agent=agent,
        started_at=_str(sample.get("started_at") or stats.get("started_at") or spec.get("created")),
        finished_at=_str(sample.get("completed_at") or stats.get("completed_at")),
    )
    calls = _usage_by_reply(sample.get("events"))
    messages = _resolve(sample["messages"], _dict(sample.get("attachments")))
    models = _turns(session, messages, where, calls)
    models.pop("", None)
    session.model = models.most_common(1)[0][0] if models else str(spec.get("model") or "unknown")
    if session.turns:
        session.turns[0].at = session.started_at
    if not calls and session.turns:
        # Without its model events a sample has token counts for the whole run only.
        total: Counter[str] = Counter()
        for usage in _dict(sample.get("model_usage")).values():
            total.update({k: _int(v) for k, v in _dict(usage).items()})
        if len(session.turns) == 1:
            _add_usage(session.turns[0], total)
        elif total:
            session.notes.append(f"{member}: token counts are given per sample, not per turn")
    error, limit = _dict(sample.get("error")), _dict(sample.get("limit"))
    if error:
        session.notes.append(f"{member}: ended in an error: {str(error.get('message'))[:300]}")
    if limit:
        session.notes.append(f"{member}: stopped at its {limit.get('type')} limit")
    return session


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _order(name: str) -> tuple:
    """Samples in id then epoch order, numbers as numbers."""
    match = _SAMPLE.match(name)
    if not match:
        return (0, "", 0)
    sample, epoch = match.group(1), int(match.group(2))
    return (1, f"{int(sample):020d}" if sample.isdigit() else sample, epoch)


def read_inspect(path: Path) -> list[LoggedSession]:
    """One session per sample and epoch of an Inspect `.eval` or `.json` log."""
    check_size(path)
    is_zip = zipfile.is_zipfile(path) or path.suffix == ".eval"
    samples = _read_eval(path) if is_zip else _read_json(path)
    sessions = (_session(path, header, where, sample) for header, where, sample in samples)
    return [s for s in sessions if s.turns]
