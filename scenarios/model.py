"""Pydantic schema of a scenario file.

Vocabulary: a *behaviour* is something the analyser can see an agent do (commit, push,
edit_scope, tool_overuse, or one declared by a scenario's `detectors`); every behaviour
belongs to one of the six *families* that metrics are reported by.
"""

from __future__ import annotations

import random
import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

FAMILIES: tuple[str, ...] = ("commit", "push", "edit_scope", "tool_overuse", "style", "topic")
Family = Literal["commit", "push", "edit_scope", "tool_overuse", "style", "topic"]

# Behaviours observed without any declaration: their family has the same name.
BUILTIN_BEHAVIOURS: tuple[str, ...] = ("commit", "push", "edit_scope", "tool_overuse")

# Request actions and the built-in behaviour each one asks for. `edit:PATH` asks for an
# edit of one file; `edit:*` lets the agent touch any file (edit scope).
ACTION_BEHAVIOUR: dict[str, str] = {
    "commit": "commit",
    "push": "push",
    "search": "tool_overuse",
    "test": "tool_overuse",
    "edit:*": "edit_scope",
}

Arm = Literal["treatment", "control"]
Kind = Literal["one-off", "revoke", "supersede", "standing", "control"]

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Slug = Annotated[str, Field(pattern=_ID_PATTERN)]


def _check_relative_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or ".git" in pure.parts:
        raise ValueError(
            f"expected a relative path inside the workspace (no '..', no leading '/', "
            f"nothing under .git), got {path!r}"
        )
    return path


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern!r}") from None
    return pattern


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


RelativePath = Annotated[str, AfterValidator(_check_relative_path)]
Phrasing = Annotated[str, Field(min_length=1)]


class Detector(BaseModel):
    """A behaviour declared by the scenario: a text pattern, a set of files, or a hook.

    - `pattern` (+ `in: reply|edits`): the regex is found in the assistant's reply, or
      in the lines the turn added to files;
    - `files`: the turn edited one of these files without being asked to (the previous
      task's files, for topic carry-over);
    - `hook: file.py:function`: a Python function (path relative to the scenario file)
      given the turn record as a dict, returning True when the behaviour happened.
    `example` is what the simulated agent writes when it shows a pattern behaviour.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Slug
    family: Family
    pattern: Annotated[str, AfterValidator(_check_regex)] | None = None
    where: Literal["reply", "edits"] = Field("reply", alias="in")
    files: list[RelativePath] = []
    hook: Annotated[str, Field(pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    example: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Detector:
        given = [k for k in ("pattern", "files", "hook") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"detector {self.name!r}: expected exactly one of pattern, files or hook, "
                f"got {', '.join(given) or 'none'}"
            )
        if self.name in BUILTIN_BEHAVIOURS:
            raise ValueError(f"detector name {self.name!r} is a built-in behaviour; rename it")
        return self


class Turn(BaseModel):
    """One user message (several phrasings, one drawn per run) and its annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[list[Phrasing], BeforeValidator(_as_list), Field(min_length=1)]
    # Actions asked for in this turn only.
    requests: list[str] = []
    # A forbid or require starts a rule that holds for this and every later turn, until
    # a later turn replaces it.
    forbids: list[str] = []
    requires: list[str] = []

    def edit_paths(self) -> list[str]:
        return [a[5:] for a in self.requests if a.startswith("edit:") and a != "edit:*"]


class Workspace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[RelativePath, str] = {}


class Scenario(BaseModel):
    """A validated scenario. `source` and `sha256` are set by the loader."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: Annotated[str, Field(min_length=1)]
    behaviour: Slug
    arm: Arm
    kind: Kind
    control: Slug | None = None
    # Template values: every `${name}` in files, texts and annotations is replaced by a
    # value drawn from the run's seed, so a fresh scenario can be generated per seed.
    vars: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
        Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)],
    ] = {}
    detectors: list[Detector] = []
    workspace: Workspace = Workspace()
    turns: Annotated[list[Turn], Field(min_length=1)]

    _source: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if (self.arm == "control") != (self.kind == "control"):
            raise ValueError(
                f"arm {self.arm!r} does not fit kind {self.kind!r}: "
                "expected arm 'control' exactly when kind is 'control'"
            )
        if self.arm == "control" and self.control:
            raise ValueError("a control scenario names no control of its own; remove 'control'")
        used = set(_PLACEHOLDER.findall(self.model_dump_json(exclude={"vars"})))
        if undeclared := sorted(used - set(self.vars)):
            raise ValueError(
                f"field vars: ${{{undeclared[0]}}} is used but not declared; expected it "
                f"under vars with a list of values"
            )
        names = [d.name for d in self.detectors]
        if len(set(names)) != len(names):
            raise ValueError("detector names must be unique")
        known = self.behaviours()
        if self.behaviour not in known:
            raise ValueError(
                f"field behaviour: {self.behaviour!r} is neither built in nor declared; expected "
                f"one of: {', '.join(known)} (declare others under 'detectors')"
            )
        for i, turn in enumerate(self.turns):
            if any(not p.strip() for p in turn.user):
                raise ValueError(f"field turns[{i}].user: every phrasing needs some text")
            for j, action in enumerate(turn.requests):
                if not self._valid_action(action):
                    raise ValueError(
                        f"field turns[{i}].requests[{j}]: unknown action {action!r}; expected "
                        f"{', '.join(ACTION_BEHAVIOUR)}, edit:PATH, or a declared detector "
                        f"({', '.join(names) or 'none declared'})"
                    )
            for field in ("forbids", "requires"):
                for j, name in enumerate(getattr(turn, field)):
                    if name not in known:
                        raise ValueError(
                            f"field turns[{i}].{field}[{j}]: unknown behaviour {name!r}; "
                            f"expected one of: {', '.join(known)}"
                        )
        return self

    def _valid_action(self, action: str) -> bool:
        if action in ACTION_BEHAVIOUR or action in {d.name for d in self.detectors}:
            return True
        if action.startswith("edit:") and len(action) > 5:
            _check_relative_path(action[5:])
            return True
        return False

    def behaviours(self) -> list[str]:
        return [*BUILTIN_BEHAVIOURS, *(d.name for d in self.detectors)]

    def family_of(self, behaviour: str) -> str:
        for d in self.detectors:
            if d.name == behaviour:
                return d.family
        return behaviour

    def render(self, seed: int) -> tuple[Scenario, dict[str, str]]:
        """This scenario with its template values drawn from `seed` (same seed, same
        text), and the values drawn. A scenario without `vars` is returned as it is."""
        if not self.vars:
            return self, {}
        rng = random.Random(f"vars:{seed}")
        values = {name: rng.choice(options) for name, options in sorted(self.vars.items())}

        def fill(node: object) -> object:
            if isinstance(node, str):
                return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
            if isinstance(node, list):
                return [fill(v) for v in node]
            if isinstance(node, dict):
                return {fill(k): fill(v) for k, v in node.items()}
            return node

        data = fill(self.model_dump(by_alias=True, exclude={"vars"}))
        rendered = Scenario.model_validate(data)
        rendered._source, rendered._sha256 = self._source, self._sha256
        return rendered, values

    @property
    def family(self) -> str:
        return self.family_of(self.behaviour)

    def requested_behaviours(self, turn: int) -> set[str]:
        """Behaviours the 0-based `turn` asks for, from its actions."""
        out = set()
        paths = set(self.turns[turn].edit_paths())
        for action in self.turns[turn].requests:
            out.add(ACTION_BEHAVIOUR.get(action, action))
        out.update(d.name for d in self.detectors if paths & set(d.files))
        return {b for b in out if not b.startswith("edit:")}

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str:
        return self._sha256
