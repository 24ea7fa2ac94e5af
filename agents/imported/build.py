"""A session read from a log -> a trajectory the analyser, report and gate understand.

An imported session is one run of kind "observed": no scripted arms, no matched control.
Its turns carry the annotations the intent layers inferred (with where each came
from), the commits and pushes read from git's output in the log, and the files the
agent's edit tools named. What the log cannot show is estimated and listed in
`imported.estimated`. Text is redacted of secrets (and of the person's own patterns),
clipped, or left out entirely (`Privacy.omit_text`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stickiness.agents.git_commands import attempted_actions
from stickiness.agents.imported.actions import read_actions
from stickiness.agents.imported.intent import TurnIntent
from stickiness.agents.imported.session import LoggedSession
from stickiness.agents.redact import redact
from stickiness.agents.trajectory import (
    AnnotationRecord,
    ImportedFrom,
    Trajectory,
    TurnRecord,
)

# Enough of each message to read what happened; a whole pasted file is not needed.
MAX_TEXT_CHARS = 4_000
MAX_TITLE_CHARS = 80
OMITTED = "[text omitted]"
# What an imported session is measured as: the probed behaviour of its record (every
# built-in behaviour is read from it).
IMPORTED_BEHAVIOUR = "commit"
ESTIMATED_FIELDS = ("files_changed", "dirty_before", "unpushed_before")


@dataclass
class Privacy:
    """What of a session's text is kept: redacted always, clipped, or none at all."""

    patterns: list[Callable[[str], str]] = field(default_factory=list)  # the person's own
    omit_text: bool = False
    max_chars: int = MAX_TEXT_CHARS

    def text(self, value: str) -> str:
        if self.omit_text:
            return OMITTED if value else ""
        return self.clean(value)

    def clean(self, value: str) -> str:
        value = redact(value)
        for scrub in self.patterns:
            value = scrub(value)
        if len(value) > self.max_chars:
            value = value[: self.max_chars] + f" [... {len(value) - self.max_chars} chars clipped]"
        return value


def pattern_scrubber(compiled: object, label: str = "[REDACTED PATTERN]") -> Callable[[str], str]:
    """A scrubber replacing every match of a compiled pattern (re or RE2)."""
    return lambda text: compiled.sub(label, text)  # type: ignore[attr-defined]


def run_id_of(session: LoggedSession) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", session.session_id).strip("-")[:80] or "session"
    return f"{session.format}-{safe}"


def file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _message(m: dict, privacy: Privacy) -> dict:
    out = dict(m)
    if m.get("role") == "assistant":
        out["content"] = privacy.text(m.get("content") or "")
        calls = []
        for call in m.get("tool_calls") or ():
            arguments = str(call.get("arguments") or "")
            # The commands that touched git stay readable: they are what is measured.
            keep = privacy.clean(arguments) if attempted_actions(call) else privacy.text(arguments)
            calls.append({**call, "arguments": keep if keep != OMITTED else "{}"})
        out["tool_calls"] = calls
        if not calls:
            out.pop("tool_calls")
    elif m.get("role") == "tool":
        out["content"] = privacy.text(str(m.get("content") or ""))
    return out


def _annotate(record: TurnRecord, intent: TurnIntent) -> None:
    for a in intent.annotations:
        record.annotations.append(
            AnnotationRecord(behaviour=a.behaviour, label=a.label, source=a.source, reason=a.reason)
        )
        target = {
            "requested": record.requests,
            "conditional": record.requests,  # "commit if the tests pass" asks for it
            "forbidden": record.forbids,
            "standing": record.requires,
        }.get(a.label)
        if target is not None and a.behaviour not in target:
            target.append(a.behaviour)
    for behaviour in intent.scoped_forbids:
        if behaviour not in record.forbids:
            record.forbids.append(behaviour)


def build_trajectory(
    session: LoggedSession,
    intents: list[TurnIntent],
    privacy: Privacy | None = None,
) -> Trajectory:
    """The trajectory of one session; `intents` has one entry per turn."""
    privacy = privacy or Privacy()
    turns: list[TurnRecord] = []
    active: dict[str, str] = {}  # behaviour -> the rule in force ("forbid", "require")
    scoped: set[str] = set()  # "not now" rules that end after their turn
    dirty = False
    unpushed = 0
    for number, (turn, intent) in enumerate(zip(session.turns, intents, strict=True), 1):
        actions = read_actions(turn.messages, session.cwd)
        record = TurnRecord(
            turn=number,
            user=privacy.text(turn.user),
            phrasing=0,
            at=turn.at,
            messages=[_message(m, privacy) for m in turn.messages],
            commits=actions.commits,
            pushes=actions.pushes,
            files_changed=actions.files,
            unpushed_before=unpushed,
            dirty_before=dirty,
            error=privacy.clean(turn.error) if turn.error else None,
            model_calls=turn.model_calls,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cache_read_tokens=turn.cache_read_tokens,
            cache_write_tokens=turn.cache_write_tokens,
        )
        _annotate(record, intent)
        named = set(record.requests) | set(record.forbids) | set(record.requires)
        for behaviour in sorted(scoped - named):
            record.clears.append(behaviour)
            active.pop(behaviour, None)
        # A standing "don't" already in force stays when a "not now" joins it.
        scoped = {b for b in intent.scoped_forbids if active.get(b) != "forbid"}
        for behaviour in record.requests:
            # Asked again: an earlier "don't" or "always" gives way to this request.
            if behaviour in active and behaviour not in record.clears:
                record.clears.append(behaviour)
                active.pop(behaviour)
        for behaviour in record.forbids:
            active[behaviour] = "forbid"
        for behaviour in record.requires:
            active[behaviour] = "require"
        if actions.commits:
            dirty = False
        # The log shows edits made through edit tools; anything a shell command wrote
        # is unseen, which is why this is an estimate.
        dirty = dirty or (bool(actions.files) and not actions.commits)
        unpushed = 0 if actions.pushes else unpushed + len(actions.commits)
        turns.append(record)
    first = next((t.user for t in turns if t.user), "")
    usage = {
        key: sum(getattr(t, key) for t in turns)
        for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    }
    usage["model_calls"] = sum(t.model_calls for t in turns)
    project = _project(session)
    return Trajectory(
        run_id=run_id_of(session),
        scenario=f"imported:{project}",
        scenario_file=session.source,
        scenario_sha256=file_sha256(session.source),
        title=" ".join(first.split())[:MAX_TITLE_CHARS],
        behaviour=IMPORTED_BEHAVIOUR,
        family=IMPORTED_BEHAVIOUR,
        arm="treatment",
        kind="observed",
        model=session.model,
        simulated=False,
        harness=session.format,
        system_prompt=privacy.text(session.system_prompt),
        agent_session={"session_id": session.session_id, "transcript": session.source},
        seed=0,
        repeat=0,
        versions={"agent": session.agent} if session.agent else {},
        started_at=session.started_at or "",
        finished_at=session.finished_at or session.started_at or "",
        status="ok",
        usage=usage,
        turns=turns,
        imported=ImportedFrom(
            format=session.format,
            source=session.source,
            session_id=session.session_id,
            agent=session.agent,
            cwd=session.cwd,
            branch=session.branch,
            estimated=list(ESTIMATED_FIELDS),
            notes=session.notes,
        ),
    )


def _project(session: LoggedSession) -> str:
    if session.cwd:
        return Path(session.cwd).name or "session"
    return Path(session.source).parent.name or "session"
