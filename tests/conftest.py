from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stickiness.scenarios import builtin_scenario_dir, load_scenarios

# The commit family of the library: small enough for tests that play every scenario.
COMMIT_SCENARIOS = (
    "commit-never-then-edits",
    "commit-once-then-edits",
    "commit-then-revoke",
    "commit-standing",
)


@pytest.fixture(scope="session")
def builtin_scenarios():
    return {s.id: s for s in load_scenarios([builtin_scenario_dir()])}


@pytest.fixture(scope="session")
def commit_scenarios(builtin_scenarios):
    return {sid: builtin_scenarios[sid] for sid in COMMIT_SCENARIOS}


@pytest.fixture
def commit_folder(tmp_path: Path) -> Path:
    """A folder holding only the commit scenarios, for command-line runs."""
    target = tmp_path / "commit-scenarios"
    target.mkdir()
    for sid in COMMIT_SCENARIOS:
        shutil.copy(builtin_scenario_dir() / f"{sid}.yaml", target)
    return target


@pytest.fixture
def scenario_copy(pytester: pytest.Pytester) -> Path:
    """A user's `scenarios/` folder: the commit scenarios and the pytest entry."""
    target = pytester.path / "scenarios"
    target.mkdir()
    for sid in COMMIT_SCENARIOS:
        shutil.copy(builtin_scenario_dir() / f"{sid}.yaml", target)
    shutil.copy(builtin_scenario_dir() / "conftest.py", target)
    return target
