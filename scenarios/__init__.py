"""Scenario files and their schema: the top of the pipeline.

A scenario is a scripted conversation with a coding agent plus ground-truth annotations
(what each turn asks for, forbids or requires). Real models see only the user text;
the analyser and the simulated models read the annotations.
"""

from stickiness.scenarios.loader import (
    ScenarioError,
    builtin_scenario_dir,
    load_scenario,
    load_scenarios,
)
from stickiness.scenarios.model import BUILTIN_BEHAVIOURS, FAMILIES, Detector, Scenario, Turn

__all__ = [
    "BUILTIN_BEHAVIOURS",
    "FAMILIES",
    "Detector",
    "Scenario",
    "ScenarioError",
    "Turn",
    "builtin_scenario_dir",
    "load_scenario",
    "load_scenarios",
]
