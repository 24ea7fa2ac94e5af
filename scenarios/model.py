"""Pydantic schema of a scenario file."""

from __future__ import annotations

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

# Behaviour families the analyser can observe today; a scenario may only probe these.
FAMILIES: tuple[str, ...] = ("commit",)
Family = Literal["commit"]

Arm = Literal["treatment", "control"]
Kind = Literal["one-off", "revoke", "supersede", "standing", "control"]

# Action kinds a turn may request, and whether they take a path argument.
ACTION_KINDS: dict[str, bool] = {"commit": False, "edit": True}
ACTION_HELP = "commit or edit:PATH"

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


def _check_relative_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or ".git" in pure.parts:
        raise ValueError(
            f"expected a relative path inside the workspace (no '..', no leading '/', "
            f"nothing under .git), got {path!r}"
        )
    return path


def _check_action(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an action ({ACTION_HELP}), got {value!r}")
    kind, sep, arg = value.partition(":")
    if kind not in ACTION_KINDS:
        raise ValueError(f"unknown action {value!r}; expected {ACTION_HELP}")
    takes_path = ACTION_KINDS[kind]
    if takes_path and not arg:
        raise ValueError(f"action {kind!r} needs a path, as in {kind}:src/app.py")
    if not takes_path and sep:
        raise ValueError(f"action {kind!r} takes no argument, got {value!r}")
    if takes_path:
        _check_relative_path(arg)
    return value


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


Action = Annotated[str, AfterValidator(_check_action)]
RelativePath = Annotated[str, AfterValidator(_check_relative_path)]
Phrasing = Annotated[str, Field(min_length=1)]


class Turn(BaseModel):
    """One user message (several phrasings, one drawn per run) and its annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[list[Phrasing], BeforeValidator(_as_list), Field(min_length=1)]
    requests: list[Action] = []
    # A forbid or require starts a rule that holds for this and every later turn.
    forbids: list[Family] = []
    requires: list[Family] = []

    def requested_kinds(self) -> set[str]:
        return {a.partition(":")[0] for a in self.requests}

    def edit_paths(self) -> list[str]:
        return [a.partition(":")[2] for a in self.requests if a.startswith("edit:")]


class Workspace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[RelativePath, str] = {}


class Scenario(BaseModel):
    """A validated scenario. `source` and `sha256` are set by the loader."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    title: Annotated[str, Field(min_length=1)]
    behaviour: Family
    arm: Arm
    kind: Kind
    control: Annotated[str, Field(pattern=_ID_PATTERN)] | None = None
    workspace: Workspace = Workspace()
    turns: Annotated[list[Turn], Field(min_length=1)]

    _source: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _arm_matches_kind(self) -> Scenario:
        if (self.arm == "control") != (self.kind == "control"):
            raise ValueError(
                f"arm {self.arm!r} does not fit kind {self.kind!r}: "
                "expected arm 'control' exactly when kind is 'control'"
            )
        if self.arm == "control" and self.control:
            raise ValueError("a control scenario names no control of its own; remove 'control'")
        if any(re.fullmatch(r"\s*", p) for t in self.turns for p in t.user):
            raise ValueError("every phrasing of a user turn needs some text")
        return self

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str:
        return self._sha256
