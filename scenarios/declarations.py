"""The vocabulary of scenario files and what a scenario declares beside its turns.

Families and built-in behaviours, the checked field types (workspace paths, RE2
patterns, hook references, template values), and the declarations: detectors, claim
phrasings and the truth of a question. `model` builds the scenario from them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from stickiness.scenarios.errors import shown
from stickiness.scenarios.patterns import PatternError, compile_pattern
from stickiness.scenarios.templates import PLACEHOLDER

Family = Literal[
    "commit",
    "push",
    "edit_scope",
    "tool_overuse",
    "style",
    "topic",
    "false_claim",
    "confident_wrong",
]
FAMILIES: tuple[str, ...] = get_args(Family)

# Behaviours observed without any declaration: their family has the same name.
BUILTIN_BEHAVIOURS: tuple[str, ...] = (
    "commit",
    "push",
    "edit_scope",
    "tool_overuse",
    "false_claim",
    "confident_wrong",
)
# The second axis: what the agent said, checked against what the sandbox shows.
TRUTH_BEHAVIOURS: tuple[str, ...] = ("false_claim", "confident_wrong")
# What a reply can claim the agent did, each checked against the turn's record.
ClaimKind = Literal[
    "committed", "pushed", "ran_tests", "tests_pass", "edited", "created", "nothing_to_change"
]
CLAIM_KINDS: tuple[str, ...] = get_args(ClaimKind)

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

# Template values: a var has at most this many values, and every one of them is
# rendered into the scenario and checked when it is loaded, which costs time in
# proportion to the renderings times their size: that product is bounded (in JSON
# characters, the vars at their longest values; about half a second of checks).
MAX_VAR_VALUES = 100
MAX_CHECKED_CHARS = 8 << 20

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOOK = re.compile(r"([^:]+\.py):([A-Za-z_][A-Za-z0-9_]*)")
Slug = Annotated[str, Field(pattern=_ID_PATTERN)]


def _is_relative_path(path: str) -> bool:
    # PurePosixPath's reading of a path, by string operations: this runs for every
    # path of every rendering a template is checked with.
    parts = [p for p in path.split("/") if p and p != "."]
    return bool(
        parts
        and not path.startswith("/")
        and ".." not in parts
        and ".git" not in parts
        and not _CONTROL.search(path)
    )


def check_relative_path(path: str) -> str:
    if not _is_relative_path(path):
        raise ValueError(
            "expected a relative path inside the workspace (no '..', no leading '/', "
            f"nothing under .git, no control characters), got {shown(path)}"
        )
    return path


def _check_pattern(pattern: str) -> str:
    # The analyser matches with RE2, so the pattern is checked by RE2 too.
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        raise ValueError(f"{exc}: {shown(pattern)}") from None
    return pattern


def _check_hook(hook: str) -> str:
    match = _HOOK.fullmatch(hook)
    if not match or not _is_relative_path(match.group(1)):
        raise ValueError(
            "expected FILE.py:FUNCTION, FILE.py a relative path from the scenario file "
            f"(no '..', no leading '/', no control characters), got {shown(hook)}"
        )
    return hook


def check_var_value(value: str) -> str:
    if PLACEHOLDER.search(value):
        raise ValueError(
            f"a value is put in as it is, so it cannot use ${{...}} itself; got {shown(value)}"
        )
    return value


def as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


RelativePath = Annotated[str, AfterValidator(check_relative_path)]
Phrasing = Annotated[str, Field(min_length=1)]


class Detector(BaseModel):
    """A behaviour declared by the scenario: a text pattern, a set of files, or a hook.

    - `pattern` (+ `in: reply|edits`): the regex is found in the assistant's reply, or
      in the lines the turn added to files; RE2 syntax (Python's without lookaround or
      backreferences), as the analyser matches with RE2;
    - `files`: the turn edited one of these files without being asked to (the previous
      task's files, for topic carry-over);
    - `hook: file.py:function`: a Python function (path relative to the scenario file,
      never leaving its folder) given the turn record, returning True when the behaviour
      happened.
    `example` is what the simulated agent writes when it shows a pattern behaviour.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Slug
    family: Family
    pattern: Annotated[str, AfterValidator(_check_pattern)] | None = None
    where: Literal["reply", "edits"] = Field("reply", alias="in")
    files: list[RelativePath] = []
    hook: Annotated[str, AfterValidator(_check_hook)] | None = None
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
            raise ValueError(f"detector name {shown(self.name)} is a built-in behaviour; rename it")
        return self


class ClaimPattern(BaseModel):
    """A phrasing the built-in claim patterns do not know ("landed the change", a reply
    in another language), read as a claim of `kind` in this scenario's replies. RE2
    syntax; a match governed by a negation or a plan ("not yet landed") is not a claim,
    as with the built-in patterns, and for edited/created the path after it is the
    target. `example`, if given, is a reply the pattern must match (checked on load)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClaimKind
    pattern: Annotated[str, AfterValidator(_check_pattern)]
    example: str | None = None

    @model_validator(mode="after")
    def _matches_example(self) -> ClaimPattern:
        if self.example is not None and not compile_pattern(self.pattern).search(self.example):
            raise ValueError(
                f"the pattern {shown(self.pattern)} does not match its example "
                f"{shown(self.example)}; expected a pattern that finds the example"
            )
        return self


class Question(BaseModel):
    """What a turn asks and what the workspace holds: the fact (`answer`, found in a
    correct reply as a whole phrase, any case) or nothing (`unknowable: true`: the right
    reply says it is not there). `where` is the file the fact lives in, or would: an
    agent that read or searched it looked before answering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    unknowable: bool = False
    where: RelativePath | None = None

    @model_validator(mode="after")
    def _one_truth(self) -> Question:
        if (self.answer is None) == (not self.unknowable):
            raise ValueError(
                "expected exactly one of answer (the fact the workspace holds) and "
                "unknowable: true (it holds none)"
            )
        return self
