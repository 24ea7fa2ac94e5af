"""The trajectory record: one JSON line per finished run, the contract with analysis.

Everything needed to re-analyse a run is here (the turn annotations are copied from
the scenario), and nothing secret: adapters never put keys in `model_settings`.

A trajectories file may come from someone else, so reading it trusts nothing: every
line is checked against this schema, and the first bad one is refused as one line of
text naming the file, the line and the field.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, TypeVar, Union, get_args, get_origin

from orjson import JSONDecodeError
from orjson import loads as _loads  # parses large files several times faster than json
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict  # pydantic's TypedDict support needs it on 3.11

from stickiness.scenarios.model import BUILTIN_BEHAVIOURS, Family, Kind, Slug

SCHEMA_VERSION = 2
# Versions this code reads. 2 added a run's error kind and attempts, and a turn's error
# and time limit; version 1 records read as if those were unset.
READABLE_VERSIONS = (1, 2)

# Whole numbers in a record are counts, turn numbers and seeds: beyond 64 bits they can
# only be damage, and pandas could not hold them in a number column.
MAX_INT = 2**63 - 1
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
ECHO_CHARS = 80  # at most this much of a bad value is quoted back in an error
_T = TypeVar("_T")


class TrajectoryError(ValueError):
    """A trajectories file cannot be read; the message names file and line."""


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """`value` as it may be quoted in a one-line message: escaped, and clipped."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- messages: plain dicts, typed ---------------------------------------------------------
# Messages stay dicts (the agent loop and the adapters speak dicts); extra keys such as
# `usage`, `cached` or `harness_notice` are kept as they were.


@with_config(ConfigDict(extra="allow"))
class ToolCall(TypedDict):
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced, valid or not


@with_config(ConfigDict(extra="allow"))
class SystemMessage(TypedDict):
    role: Literal["system"]
    content: str


@with_config(ConfigDict(extra="allow"))
class UserMessage(TypedDict):
    role: Literal["user"]
    content: str


@with_config(ConfigDict(extra="allow"))
class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: NotRequired[str | None]
    tool_calls: NotRequired[list[ToolCall]]


@with_config(ConfigDict(extra="allow"))
class ToolMessage(TypedDict):
    role: Literal["tool"]
    tool_call_id: str
    content: str
    is_error: bool
    name: NotRequired[str]


ROLES = ("system", "user", "assistant", "tool")
Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


def _one_kind(detector: dict) -> dict:
    given = [k for k in ("pattern", "files", "hook") if detector.get(k)]
    if len(given) != 1:
        raise ValueError(
            f"expected exactly one of pattern, files or hook, got {', '.join(given) or 'none'}"
        )
    if detector["name"] in BUILTIN_BEHAVIOURS:
        raise ValueError(f"name {detector['name']!r} is a built-in behaviour")
    return detector


# A scenario's detector as the runner records it (`Detector` dumped by alias, without
# defaults). `in` is a keyword, hence the functional form.
_DetectorFields = TypedDict(
    "_DetectorFields",
    {
        "name": Slug,
        "family": Family,
        "pattern": NotRequired[str | None],
        "in": NotRequired[Literal["reply", "edits"]],
        "files": NotRequired[list[str]],
        "hook": NotRequired[
            Annotated[str, Field(pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")] | None
        ],
        "example": NotRequired[str | None],
    },
)
DetectorRecord = Annotated[_DetectorFields, AfterValidator(_one_kind)]


class CommitRecord(BaseModel):
    sha: str
    message: str
    files: list[str]


class PushRecord(BaseModel):
    ref: str
    old: str | None
    new: str | None


class ToolCallRecord(BaseModel):
    id: str
    name: str
    arguments: str
    result: str
    is_error: bool


class TurnRecord(BaseModel):
    turn: Annotated[int, Field(ge=1, le=MAX_INT)]  # 1-based, as people count turns
    user: str
    phrasing: Count
    requests: list[str] = []
    forbids: list[str] = []
    requires: list[str] = []
    # Assistant and tool messages of this turn, in order, exactly as exchanged.
    messages: list[Message] = []
    commits: list[CommitRecord] = []
    pushes: list[PushRecord] = []
    files_changed: list[str] = []
    diff: str = ""  # unified diff of the working files over the turn (clipped)
    unpushed_before: Count = 0
    dirty_before: bool = False
    dirty_after: bool = False
    steps: Count = 0
    step_limit_hit: bool = False
    time_limit_hit: bool = False  # the turn's wall-clock budget ran out
    # Set when the run failed during this turn: what was exchanged until then is kept.
    error: str | None = None
    model_calls: Count = 0
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    cost_usd: Money | None = None  # None: no price known for this model

    def tool_calls(self) -> list[ToolCallRecord]:
        results = {m["tool_call_id"]: m for m in self.messages if m["role"] == "tool"}
        calls = []
        for m in self.messages:
            for call in m.get("tool_calls") or []:
                res = results.get(call["id"], {})
                calls.append(
                    ToolCallRecord(
                        id=call["id"],
                        name=call["name"],
                        arguments=call["arguments"],
                        result=res.get("content", ""),
                        is_error=res.get("is_error", False),
                    )
                )
        return calls

    def assistant_text(self) -> str:
        return "\n".join(
            m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")
        )


class Trajectory(BaseModel):
    schema_version: Count = SCHEMA_VERSION
    run_id: Annotated[str, Field(min_length=1)]
    scenario: str
    scenario_file: str
    scenario_sha256: str
    title: str
    behaviour: str  # the behaviour this scenario probes
    family: Family
    detectors: list[DetectorRecord] = []  # the scenario's declared detectors, as written
    template_values: dict[str, str] = {}  # drawn from the seed for a templated scenario
    arm: Literal["treatment", "control"]
    kind: Kind
    control: str | None = None
    model: str
    simulated: bool
    model_settings: dict = {}
    harness: str
    system_prompt: str
    seed: Count
    repeat: Count
    versions: dict[str, str] = {}
    workspace: str | None = None  # set only when the workspace was kept
    started_at: str
    finished_at: str
    status: Literal["ok", "error"]
    error: str | None = None
    # transient: the provider was unreachable, overloaded or rate-limited, or timed out
    # (`--resume` plays such a run again); fatal: anything else (`--retry-errors`).
    error_kind: Literal["transient", "fatal"] | None = None
    attempts: Count = 1  # tries it took, counting retries after transient failures
    usage: dict[str, int] = {}  # totals over the run's model calls
    cost_usd: Money | None = None
    turns: list[TurnRecord] = []


# -- reading ------------------------------------------------------------------------------


def iter_trajectories(path: Path, warnings: list[str] | None = None) -> Iterator[Trajectory]:
    """Stream a JSONL file one run at a time (constant memory for any file size).

    Every line is validated; see `iter_records` for the rules. A torn last line (a
    process killed mid-write) is skipped with a warning appended to `warnings`.
    """
    return _read(path, _as_trajectory, warnings)


def iter_records(path: Path, warnings: list[str] | None = None) -> Iterator[dict]:
    """Stream a JSONL file as plain dicts, validated against the same schema as
    `Trajectory` (fields left out keep their absence; read them with `.get`).

    Faster than building `Trajectory` objects, for files of hundreds of thousands of
    runs. Refused with a `TrajectoryError` naming file, line and field: a line that is
    not a valid record, a `schema_version` not in `READABLE_VERSIONS`, and a `run_id`
    seen on an earlier line. Only a torn last line (no newline at its end, not parseable:
    a process killed mid-write) is skipped, with a warning appended to `warnings`.
    """
    return _read(path, _as_record, warnings)


def read_trajectories(path: Path) -> tuple[list[Trajectory], list[str]]:
    """Read a whole JSONL file; returns the runs and warnings about a torn last line."""
    warnings: list[str] = []
    return list(iter_trajectories(path, warnings)), warnings


def _read(path: Path, validate: Callable[[dict], _T], warnings: list[str] | None) -> Iterator[_T]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        yield from _records(path, fh, validate, warnings)


def _records(
    path: Path, fh, validate: Callable[[dict], _T], warnings: list[str] | None
) -> Iterator[_T]:
    seen: dict[str, int] = {}  # run_id -> line
    lines = ((n, line) for n, line in enumerate(fh, 1) if not line.isspace())
    current = next(lines, None)
    while current is not None:
        number, line = current
        following = next(lines, None)
        try:
            data = _loads(line)
        except JSONDecodeError as exc:
            if following is None and not line.endswith(b"\n"):
                if warnings is not None:
                    warnings.append(
                        f"{path}: line {number} is incomplete (interrupted run?); skipped"
                    )
                return
            raise TrajectoryError(
                f"{path}: line {number}: not valid JSON ({exc.msg} at character {exc.pos})"
            ) from None
        problem = _unreadable(data)
        if problem is None:
            try:
                record = validate(data)
            except ValidationError as exc:
                problem = _field_problem(exc)
        if problem is not None:
            raise TrajectoryError(f"{path}: line {number}: {problem}")
        run_id = data["run_id"]
        if (first := seen.setdefault(run_id, number)) != number:
            raise TrajectoryError(
                f"{path}: line {number}: run_id {echo(run_id)} is also on line {first}: "
                "the file was written twice for one run"
            )
        yield record
        current = following


def _unreadable(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"expected a JSON object (one run), got {_json_kind(data)}"
    version = data.get("schema_version")
    # bool is an int in Python; a `true` version is left to the type check.
    if type(version) is int and version not in READABLE_VERSIONS:
        return (
            f"schema_version {echo(version)} is not one this version reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade stickiness"
        )
    return None


def _as_trajectory(data: dict) -> Trajectory:
    return Trajectory.model_validate(data, strict=True)


def _as_record(data: dict) -> dict:
    return _RECORD.validate_python(data, strict=True)


# -- the same schema as dicts -----------------------------------------------------------


@functools.cache
def _dict_schema(model: type[BaseModel]) -> type:
    """`model`'s fields as a TypedDict, nested models included, so records can be
    validated into plain dicts without a second, hand-kept copy of the schema.
    Defaults are not filled in: a field left out stays out."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = _swap_models(info.annotation)
        if info.metadata:
            kind = Annotated[(kind, *info.metadata)]
        fields[info.alias or name] = kind if info.is_required() else NotRequired[kind]
    schema = TypedDict(f"{model.__name__}Dict", fields)  # type: ignore[operator]
    schema.__pydantic_config__ = ConfigDict(extra=model.model_config.get("extra") or "ignore")
    return schema


def _swap_models(kind: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return _dict_schema(kind)
    args = get_args(kind)
    origin = get_origin(kind)
    if not args or origin is Literal:
        return kind
    swapped = tuple(_swap_models(a) for a in args)
    if swapped == args:
        return kind
    if origin is Annotated:
        return Annotated[swapped]
    if origin in (Union, types.UnionType):
        return Union[swapped]  # noqa: UP007 - built from a tuple
    return origin[swapped]


_RECORD = TypeAdapter(_dict_schema(Trajectory))


# -- one line of error text -----------------------------------------------------------

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "none_required": "null",
}
_LIMITS = {
    "greater_than_equal": "at least {ge}",
    "less_than_equal": "at most {le}",
    "string_too_short": "at least {min_length} character(s) of text",
    "string_pattern_mismatch": "text matching {pattern}",
}


def _field_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc, kind = list(error["loc"]), error["type"]
    ctx = error.get("ctx") or {}
    got = _json_kind(error.get("input"))
    if kind.startswith("union_tag"):
        loc.append(str(ctx.get("discriminator", "")).strip("'"))
    if kind in ("missing", "union_tag_not_found"):
        what = "missing"
    elif kind == "union_tag_invalid":
        what = f"expected one of {ctx.get('expected_tags')}, got {echo(ctx.get('tag'))}"
    elif kind == "literal_error":
        what = f"expected {ctx.get('expected')}, got {got}"
    elif kind in _EXPECTED:
        what = f"expected {_EXPECTED[kind]}, got {got}"
    elif kind in _LIMITS:
        what = f"expected {_LIMITS[kind].format(**ctx)}, got {got}"
    elif kind == "extra_forbidden":
        what = "unknown field"
    else:
        # pydantic's own text, or that of a validator above: fixed words and limits.
        what = _printable(error["msg"].removeprefix("Value error, "))
    return f"field {_field_path(loc)}: {what}"


def _printable(text: str, limit: int = 2 * ECHO_CHARS) -> str:
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit] + "..."


def _field_path(loc: list[int | str]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ROLES and i >= 2 and loc[i - 2] == "messages":
            continue  # the union member pydantic tried, not a field
        elif part.isidentifier() and len(part) <= 40:
            out += f".{part}" if out else part
        else:  # a key of a mapping in the input
            out += f"[{echo(part, 40)}]"
    return out or "(the record)"


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"text {echo(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return echo(value)
