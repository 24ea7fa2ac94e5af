"""Read scenario YAML files into validated `Scenario` objects with clear errors."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from stickiness.scenarios.errors import (
    ScenarioError,
    problem_text,
    problems,
    report,
    shown,
    shown_path,
)
from stickiness.scenarios.git_env import read_only_git_env
from stickiness.scenarios.model import Scenario
from stickiness.scenarios.repo_spec import repo_kind
from stickiness.scenarios.yaml_limits import LIMITS, YamlError, load_yaml

__all__ = ["ScenarioError", "builtin_scenario_dir", "load_scenario", "load_scenarios"]

# Asking git whether a folder is a repository takes milliseconds; more means a stuck
# file system.
_GIT_CHECK_TIMEOUT_S = 20.0
_MAX_GIT_WORDS = 200


def builtin_scenario_dir() -> Path:
    """The scenarios shipped with the package (this folder)."""
    return Path(__file__).resolve().parent


def _read(path: Path) -> bytes:
    """The file's bytes, refused past the size limit before more is read."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block or never end
            raise ScenarioError(f"{shown_path(path)}: not a regular file")
        with open(path, "rb") as f:
            return f.read(LIMITS.max_bytes + 1)
    except OSError as exc:
        raise ScenarioError(f"{shown_path(path)}: cannot read file: {exc.strerror}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate one scenario file; raise `ScenarioError` on any problem."""
    path = Path(path)
    raw = _read(path)
    try:
        data = load_yaml(raw)
    except YamlError as exc:
        raise ScenarioError(report(path, [str(exc)])) from None
    if not isinstance(data, dict):
        expected = "expected a mapping with id, title, behaviour, arm, kind, turns"
        raise ScenarioError(report(path, [f"{expected}; got {type(data).__name__}"]))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [problem_text(*p) for p in problems(exc)]
        raise ScenarioError(report(path, lines, exc.error_count())) from None
    # Template values are checked here, not only when a run draws them.
    wrong, total = scenario.template_problems()
    if wrong:
        raise ScenarioError(report(path, wrong, total))
    scenario._source = str(path)
    scenario._sha256 = hashlib.sha256(raw).hexdigest()
    if (repo := scenario.workspace.repo) is not None:
        # A URL is only read here (its scheme and form): nothing is fetched until a run.
        location = scenario.workspace.repo_location(path.parent.resolve())
        if repo_kind(repo) == "path" and (problem := _repository_problem(Path(location))):
            line = f"field workspace.repo: {shown(repo)} ({shown_path(location)}) {problem}"
            raise ScenarioError(report(path, [line]))
        scenario._repo = location
    return scenario


def _repository_problem(folder: Path) -> str | None:
    """Why `folder` is not the top of a git repository (a work tree or a bare
    repository), or None when it is. git reads it without changing anything, with
    none of the user's git configuration and no hooks."""
    if not folder.exists():
        return "does not exist; expected a git repository"
    if not folder.is_dir():
        return "is not a folder; expected a git repository"
    # git looks no higher than the folder itself: a folder inside a repository is not one.
    env = read_only_git_env(GIT_CEILING_DIRECTORIES=str(folder.parent))
    cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]
    try:
        done = subprocess.run(
            [*cmd, "rev-parse", "--git-dir"],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"could not be read by git within {_GIT_CHECK_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"could not be checked: git did not start ({exc.strerror})"
    if done.returncode == 0:
        return None
    words = " ".join(done.stderr.decode("utf-8", "replace").split())
    if len(words) > _MAX_GIT_WORDS:
        words = words[: _MAX_GIT_WORDS - 3] + "..."
    return (
        "is not a git repository; expected the top folder of a repository or a bare "
        f"repository (git: {words or 'no reason given'})"
    )


def _scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError(f"{shown_path(p)}: no scenario files (*.yaml) in this folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioError(f"{shown_path(p)}: no such file or folder")
    return files


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load every scenario under the given files/folders and check cross-references."""
    scenarios = [load_scenario(f) for f in _scenario_files(paths)]
    by_id: dict[str, Scenario] = {}
    for s in scenarios:
        if s.id in by_id:
            raise ScenarioError(
                f"{shown_path(s.source)}: field id: {shown(s.id)} is already used by "
                f"{shown_path(by_id[s.id].source)}; expected a unique id"
            )
        by_id[s.id] = s
    for s in scenarios:
        if s.control is None:
            continue
        ctrl = by_id.get(s.control)
        if ctrl is None:
            raise ScenarioError(
                f"{shown_path(s.source)}: field control: no scenario with id "
                f"{shown(s.control)} was loaded; expected the id of a control scenario"
            )
        if ctrl.arm != "control" or ctrl.behaviour != s.behaviour:
            raise ScenarioError(
                f"{shown_path(s.source)}: field control: {shown(s.control)} is not a "
                f"{shown(s.behaviour)} control (it is arm {ctrl.arm!r}, behaviour "
                f"{shown(ctrl.behaviour)})"
            )
    return scenarios
