"""Reading trajectories files: every line checked against the record schema, and the
first bad one refused as one line of text naming the file, the line and the field.

A trajectories file may come from someone else, so reading it trusts nothing. Records
are read either as `Trajectory` objects or, faster, as plain dicts validated against
the same schema; `record_chunks` reads the parts of a large file in several processes
with the line rules of `numbered_records`.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import (
    Annotated,
    Any,
    BinaryIO,
    Literal,
    NotRequired,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from orjson import JSONDecodeError
from orjson import loads as _loads  # parses large files several times faster than json
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic's TypedDict support needs it on 3.11

from stickiness.agents.trajectory import (
    READABLE_VERSIONS,
    ROLES,
    Trajectory,
    TrajectoryError,
)
from stickiness.scenarios.errors import MAX_SHOWN_CHARS, printable, shown

_T = TypeVar("_T")
_BUFFER = 1 << 20


def iter_trajectories(path: Path, warnings: list[str] | None = None) -> Iterator[Trajectory]:
    """Stream a JSONL file one run at a time (constant memory for any file size).

    Every line is validated; see `iter_records` for the rules. A torn last line (a
    process killed mid-write) is skipped with a warning appended to `warnings`.
    """
    return _read(path, _as_trajectory, warnings)


def iter_records(path: Path, warnings: list[str] | None = None) -> RecordStream:
    """Stream a JSONL file as plain dicts, validated against the same schema as
    `Trajectory` (fields left out keep their absence; read them with `.get`).

    Faster than building `Trajectory` objects, for files of hundreds of thousands of
    runs. Refused with a `TrajectoryError` naming file, line and field: a line that is
    not a valid record, a `schema_version` not in `READABLE_VERSIONS`, and a `run_id`
    seen on an earlier line. Only a torn last line (no newline at its end, not parseable:
    a process killed mid-write) is skipped, with a warning appended to `warnings`.
    """
    return RecordStream(path, warnings)


class RecordStream(Iterator[dict]):
    """The validated records of one file, read on first use.

    Iterating reads the file line by line. A reader that needs only a summary of every
    record can instead hand the untouched stream to `record_chunks.map_records`, which
    reads parts of the file in several processes under the same rules.
    """

    def __init__(self, path: Path, warnings: list[str] | None = None) -> None:
        self.path = path
        self.warnings = warnings
        self._records: Iterator[dict] | None = None

    @property
    def started(self) -> bool:
        return self._records is not None

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> dict:
        if self._records is None:
            self._records = _read(self.path, as_record, self.warnings)
        return next(self._records)


def read_trajectories(path: Path) -> tuple[list[Trajectory], list[str]]:
    """Read a whole JSONL file; returns the runs and warnings about a torn last line."""
    warnings: list[str] = []
    return list(iter_trajectories(path, warnings)), warnings


def open_records(path: Path) -> BinaryIO:
    """The file opened for reading; a missing or unreadable one is a `TrajectoryError`."""
    try:
        # Lines of a few KB: the default buffer would take a read call for most of them.
        return open(path, "rb", buffering=_BUFFER)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc.strerror}") from None


def _read(path: Path, validate: Callable[[dict], _T], warnings: list[str] | None) -> Iterator[_T]:
    with open_records(path) as fh:
        yield from _records(path, fh, validate, warnings)


class LineRefused(Exception):
    """A line that is not a readable record: its number and what is wrong with it."""

    def __init__(self, number: int, problem: str) -> None:
        super().__init__(number, problem)
        self.number = number
        self.problem = problem


class TornLine(Exception):
    """The last line is cut short (no newline, not parseable): a run killed mid-write."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def numbered_records(
    lines: Iterable[bytes], validate: Callable[[dict], _T]
) -> Iterator[tuple[int, str, _T]]:
    """(line number, run_id, record) for each non-blank line of `lines` (numbered from 1).

    Raises `LineRefused` at the first line that is not a valid record, and `TornLine`
    at a torn last line. Run ids are not compared here: the caller knows the lines
    before (see `duplicate_text`)."""
    for number, line in enumerate(lines, 1):
        if line.isspace():
            continue
        try:
            data = _loads(line)
        except JSONDecodeError as exc:
            # Only the file's last line can lack its newline.
            if not line.endswith(b"\n"):
                raise TornLine(number) from None
            raise LineRefused(
                number, f"not valid JSON ({exc.msg} at character {exc.pos})"
            ) from None
        problem = _unreadable(data)
        if problem is None:
            try:
                record = validate(data)
            except ValidationError as exc:
                problem = _field_problem(exc)
        if problem is not None:
            raise LineRefused(number, problem)
        yield number, data["run_id"], record


def refusal_text(path: Path, refused: LineRefused) -> str:
    return f"{path}: line {refused.number}: {refused.problem}"


def duplicate_text(path: Path, number: int, run_id: str, first: int) -> str:
    return (
        f"{path}: line {number}: run_id {shown(run_id)} is also on line {first}: "
        "the file was written twice for one run"
    )


def torn_text(path: Path, number: int) -> str:
    return f"{path}: line {number} is incomplete (interrupted run?); skipped"


def _records(
    path: Path, fh: BinaryIO, validate: Callable[[dict], _T], warnings: list[str] | None
) -> Iterator[_T]:
    seen: dict[str, int] = {}  # run_id -> line
    try:
        for number, run_id, record in numbered_records(fh, validate):
            if (first := seen.setdefault(run_id, number)) != number:
                raise TrajectoryError(duplicate_text(path, number, run_id, first))
            yield record
    except TornLine as torn:
        if warnings is not None:
            warnings.append(torn_text(path, torn.number))
    except LineRefused as refused:
        raise TrajectoryError(refusal_text(path, refused)) from None


def _unreadable(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"expected a JSON object (one run), got {_json_kind(data)}"
    version = data.get("schema_version")
    # bool is an int in Python; a `true` version is left to the type check.
    if type(version) is int and version not in READABLE_VERSIONS:
        return (
            f"schema_version {shown(version)} is not one this version reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade stickiness"
        )
    return None


def _as_trajectory(data: dict) -> Trajectory:
    return Trajectory.model_validate(data, strict=True)


def as_record(data: dict) -> dict:
    """One parsed line validated as a record dict (see `iter_records`)."""
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
        what = f"expected one of {ctx.get('expected_tags')}, got {shown(ctx.get('tag'))}"
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


def _printable(text: str, limit: int = 2 * MAX_SHOWN_CHARS) -> str:
    text = printable(text)
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
            out += f"[{shown(part, 40)}]"
    return out or "(the record)"


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"text {shown(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return shown(value)
