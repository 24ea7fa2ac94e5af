from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scenarios import builtin_scenario_dir, load_scenarios


@pytest.fixture(scope="session")
def builtin_scenarios():
    return {s.id: s for s in load_scenarios([builtin_scenario_dir()])}


@pytest.fixture
def scenario_copy(pytester: pytest.Pytester) -> Path:
    """The shipped scenarios folder (YAML files and the pytest entry) in pytester's dir."""
    target = pytester.path / "scenarios"
    target.mkdir()
    for f in builtin_scenario_dir().iterdir():
        if f.suffix in {".yaml", ".yml"} or f.name == "conftest.py":
            shutil.copy(f, target / f.name)
    return target
