"""Read scenario YAML files into validated `Scenario` objects with clear errors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from stickiness.scenarios.model import Scenario


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file and field."""


def builtin_scenario_dir() -> Path:
    """The scenarios shipped with the package (this folder)."""
    return Path(__file__).resolve().parent


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: dict) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    msg = error["msg"]
    # pydantic prefixes messages raised in validators with "Value error, ".
    msg = msg.removeprefix("Value error, ")
    if kind in {"literal_error", "string_pattern_mismatch", "string_type", "list_type"}:
        msg = f"{msg} (got {error.get('input')!r})"
    return msg


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        if error["loc"]:
            lines.append(f"{path}: field {_field_path(error['loc'])}: {_describe(error)}")
        else:  # whole-scenario checks name their field themselves
            lines.append(f"{path}: {_describe(error)}")
    return "\n".join(lines)


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate one scenario file; raise `ScenarioError` on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: {where}invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: expected UTF-8 text") from None
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: expected a mapping with id, title, behaviour, arm, kind, turns; "
            f"got {type(data).__name__}"
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(path, exc)) from None
    scenario._source = str(path)
    scenario._sha256 = hashlib.sha256(raw).hexdigest()
    return scenario


def _scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError(f"{p}: no scenario files (*.yaml) in this folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioError(f"{p}: no such file or folder")
    return files


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load every scenario under the given files/folders and check cross-references."""
    scenarios = [load_scenario(f) for f in _scenario_files(paths)]
    by_id: dict[str, Scenario] = {}
    for s in scenarios:
        if s.id in by_id:
            raise ScenarioError(
                f"{s.source}: field id: {s.id!r} is already used by {by_id[s.id].source}; "
                "expected a unique id"
            )
        by_id[s.id] = s
    for s in scenarios:
        if s.control is None:
            continue
        ctrl = by_id.get(s.control)
        if ctrl is None:
            raise ScenarioError(
                f"{s.source}: field control: no scenario with id {s.control!r} was loaded; "
                "expected the id of a control scenario"
            )
        if ctrl.arm != "control" or ctrl.behaviour != s.behaviour:
            raise ScenarioError(
                f"{s.source}: field control: {s.control!r} is not a {s.behaviour} control "
                f"(it is arm {ctrl.arm!r}, behaviour {ctrl.behaviour!r})"
            )
    return scenarios
