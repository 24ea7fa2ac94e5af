"""The simulated agent: offline, seeded, with known persistence parameters.

It understands every request perfectly (it reads the scenario's annotations, which a
real model never sees) and acts only through the same tools a real model gets, so its
edits and commits are real. Whether it also does something *unrequested* is drawn from
its parameters, which makes it the ground truth the analyser is checked against.

For each behaviour at turn t, with L = turns since it was last requested:
  requested this turn        -> always
  required by a standing rule -> with probability 1 - forget
  forbidden by a rule        -> with probability revoke_ignore
  otherwise                  -> with probability 1 - (1 - base) * (1 - carry(L)),
                                carry(L) = persist * decay ** (L - 1), 0 if never asked,
                                plus `lift` at every lag once asked (capped at 1): a
                                profile whose excess is exactly `lift` above another's
One uniform draw per turn and behaviour, whatever the outcome, keeps the random
streams of two profiles on the same seed aligned, so they are directly comparable.

What the replies say (false claims at rate `overclaim`, made-up answers at rate
`bluff`) is drawn from a stream of its own: see `sim_truth`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Generator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import PurePosixPath

from stickiness.agents.models.base import ModelReply, ModelSpec, ModelSpecError
from stickiness.agents.models.sim_truth import (
    TruthStream,
    answer_text,
    bluff_text,
    false_claim,
)
from stickiness.scenarios.model import TRUTH_BEHAVIOURS, Scenario


@dataclass(frozen=True)
class SimParams:
    base: float = 0.02
    persist: float = 0.05
    decay: float = 0.5
    revoke_ignore: float = 0.0
    forget: float = 0.02
    lift: float = 0.0
    # Per turn: the reply holds one claim the sandbox contradicts.
    overclaim: float = 0.0
    # Per question: a made-up definite answer, without looking, instead of the truth.
    bluff: float = 0.0

    def carry(self, lag: int | None) -> float:
        if lag is None or lag < 1:
            return 0.0
        return self.persist * self.decay ** (lag - 1)

    def unrequested_probability(self, lag: int | None) -> float:
        p = 1.0 - (1.0 - self.base) * (1.0 - self.carry(lag))
        return min(1.0, p + self.lift) if lag is not None and lag >= 1 else p


PROFILES: dict[str, SimParams] = {
    # Does what it is told and little else.
    "steady": SimParams(base=0.01, persist=0.02, decay=0.5, revoke_ignore=0.0, forget=0.01),
    # Told once, keeps doing it; a revocation only partly sticks.
    "sticky": SimParams(base=0.02, persist=0.8, decay=0.85, revoke_ignore=0.3, forget=0.01),
    # Often does things unasked, whether or not it was ever asked: no carry-over.
    "eager": SimParams(base=0.4, persist=0.0, decay=0.5, revoke_ignore=0.05, forget=0.01),
    # Never sticky, but drops standing rules.
    "forgetful": SimParams(base=0.01, persist=0.0, decay=0.5, revoke_ignore=0.0, forget=0.5),
    # Steady in what it does, but says it did what it did not.
    "overclaim": SimParams(
        base=0.01, persist=0.02, decay=0.5, revoke_ignore=0.0, forget=0.01, overclaim=0.3
    ),
    # Steady in what it does, but answers questions it never looked up.
    "bluff": SimParams(
        base=0.01, persist=0.02, decay=0.5, revoke_ignore=0.0, forget=0.01, bluff=0.4
    ),
}


def sim_params(spec: ModelSpec) -> SimParams:
    """The profile named in the spec with any `?key=value` overrides applied."""
    if spec.name not in PROFILES:
        raise ModelSpecError(
            f"model {spec}: unknown simulated profile {spec.name!r}; "
            f"expected one of: {', '.join(PROFILES)}"
        )
    known = {f.name for f in fields(SimParams)}
    overrides: dict[str, float] = {}
    for key, value in spec.params:
        if key not in known:
            raise ModelSpecError(
                f"model {spec}: unknown parameter {key!r}; expected one of: {', '.join(known)}"
            )
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0.0 <= number <= 1.0:
            raise ModelSpecError(
                f"model {spec}: parameter {key} must be a number from 0 to 1, got {value!r}"
            )
        overrides[key] = number
    return replace(PROFILES[spec.name], **overrides)


_COMMENT = {".py": "# ", ".sh": "# ", ".yaml": "# ", ".yml": "# ", ".toml": "# ", ".md": ""}

Script = Generator[list[dict], list[str], str]


class SimModel:
    """A simulated agent for one run of one scenario."""

    simulated = True

    def __init__(self, spec: ModelSpec, scenario: Scenario, seed: int) -> None:
        self.spec = str(spec)
        self.params = sim_params(spec)
        self._scenario = scenario
        self._rng = random.Random(f"sim:{seed}")
        self._truth = TruthStream(seed)
        self._script: Script | None = None
        self._calls = 0

    def describe(self) -> dict:
        return {"simulated": True, "params": asdict(self.params)}

    # -- decisions -------------------------------------------------------------------
    def probability(self, behaviour: str, turn: int) -> float:
        """Chance of showing `behaviour` at 0-based `turn`, from the annotations."""
        sc = self._scenario
        if behaviour in sc.requested_behaviours(turn):
            return 1.0
        rule = None
        for t in sc.turns[: turn + 1]:
            if behaviour in t.forbids:
                rule = "forbid"
            if behaviour in t.requires:
                rule = "require"
        if rule == "require":
            return 1.0 - self.params.forget
        if rule == "forbid":
            return self.params.revoke_ignore
        asked = [i for i in range(turn) if behaviour in sc.requested_behaviours(i)]
        return self.params.unrequested_probability(turn - asked[-1] if asked else None)

    def _decide(self, turn: int) -> set[str]:
        # One draw per behaviour and turn, in a fixed order, whatever the outcome. What
        # the reply says is drawn apart (`sim_truth`), so the seeded outcomes of the
        # sticky behaviours do not depend on the truth behaviours.
        sticky = [b for b in self._scenario.behaviours() if b not in TRUTH_BEHAVIOURS]
        draws = {b: self._rng.random() for b in sticky}
        return {b for b, u in draws.items() if u < self.probability(b, turn)}

    # -- conversation ----------------------------------------------------------------
    def _call(self, name: str, **arguments: str) -> dict:
        self._calls += 1
        return {"id": f"sim_{self._calls}", "name": name, "arguments": json.dumps(arguments)}

    def _extra_files(self, turn: int, doing: set[str]) -> list[str]:
        """Files the simulated agent touches without being asked (scope, topic)."""
        sc = self._scenario
        asked = set(sc.turns[turn].edit_paths())
        extra: list[str] = []
        for d in sc.detectors:
            if d.files and d.name in doing:
                extra += [f for f in d.files if f not in asked][:1]
        if "edit_scope" in doing:
            fenced = asked | {f for d in sc.detectors for f in d.files}
            spare = [f for f in sorted(sc.workspace.files) if f not in fenced]
            extra.append(spare[0] if spare else "NOTES.md")
        return list(dict.fromkeys(extra))

    def _last_tool_request(self, turn: int) -> str:
        for t in reversed(self._scenario.turns[: turn + 1]):
            for action in reversed(t.requests):
                if action in {"search", "test"}:
                    return action
        return "search"

    def _answer(self, turn: int, bluffing: bool) -> Generator[list[dict], list[str], str | None]:
        """The reply to the turn's question (None without one), after reading the file
        the fact lives in unless bluffing."""
        question = self._scenario.turns[turn].asks
        if question is None:
            return None
        if bluffing:
            return bluff_text(self._truth.invented(question, turn))
        if question.where:
            yield [self._call("read_file", path=question.where)]
        return answer_text(question)

    def _turn_script(self, turn: int, user_text: str) -> Script:
        sc = self._scenario
        doing = self._decide(turn)
        truth = self._truth.draw()
        answer = yield from self._answer(turn, truth.bluff < self.params.bluff)
        done: list[str] = []
        committed = pushed = tested = False
        paths = [*sc.turns[turn].edit_paths(), *self._extra_files(turn, doing)]
        in_edits = [d for d in sc.detectors if d.pattern and d.where == "edits" and d.name in doing]
        if paths:
            originals = yield [self._call("read_file", path=p) for p in paths]
            note = " ".join(user_text.split())[:72]
            writes = []
            for path, text in zip(paths, originals, strict=True):
                text = "" if text.startswith("ERROR:") else text
                prefix = _COMMENT.get(PurePosixPath(path).suffix, "// ")
                body = text if text.endswith("\n") or not text else text + "\n"
                body += f"{prefix}turn {turn + 1}: {note}\n"
                body += "".join(f"{d.example or ''}\n" for d in in_edits)
                writes.append(self._call("write_file", path=path, content=body))
            yield writes
            done.append("edited " + ", ".join(paths))
        if "tool_overuse" in doing:
            if self._last_tool_request(turn) == "test":
                yield [self._call("run_tests")]
                tested = True
                done.append("ran the checks")
            else:
                stem = PurePosixPath(paths[0]).stem if paths else "TODO"
                yield [self._call("search", pattern=re.escape(stem))]
                done.append("searched the code")
        if "commit" in doing:
            (status,) = yield [self._call("git_status")]
            changed = [line[3:] for line in status.splitlines() if len(line) > 3 and line[2] == " "]
            if changed:
                (result,) = yield [self._call("git_commit", message="Update " + ", ".join(changed))]
                if not result.startswith("ERROR:"):
                    committed = True
                    done.append("committed the changes")
        if "push" in doing:
            (result,) = yield [self._call("git_push")]
            if result.startswith("pushed"):
                pushed = True
                done.append("pushed to origin")
        # "Nothing to change." only when no file was written (every write adds a line),
        # and never as the whole reply to a question.
        reply = ("Done: " + "; ".join(done) + ".") if done else "Nothing to change."
        if answer is not None:
            reply = f"{answer} {reply}" if done else answer
        if truth.claim < self.params.overclaim:
            reply += " " + false_claim(committed=committed, pushed=pushed, tested=tested)
        styles = [
            d.example
            for d in sc.detectors
            if d.pattern and d.where == "reply" and d.name in doing and d.example
        ]
        return "\n".join([*styles, reply]) if styles else reply

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        last = messages[-1]
        try:
            if last["role"] == "user":
                turn = (
                    sum(m["role"] == "user" and not m.get("harness_notice") for m in messages) - 1
                )
                self._script = self._turn_script(turn, last["content"])
                calls = next(self._script)
            else:
                results = []
                for m in reversed(messages):
                    if m["role"] != "tool":
                        break
                    prefix = "ERROR: " if m.get("is_error") else ""
                    results.append(prefix + m["content"])
                calls = self._script.send(list(reversed(results)))
        except StopIteration as stop:
            self._script = None
            return ModelReply(content=stop.value)
        return ModelReply(content="", tool_calls=calls)
