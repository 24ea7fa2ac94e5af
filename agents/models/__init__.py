"""Model adapters, chosen by spec: `provider:name[?key=value&...]`."""

from __future__ import annotations

from agents.models.base import ModelAdapter, ModelReply, ModelSpec, ModelSpecError, Usage
from agents.models.sim import PROFILES, SimModel, SimParams, sim_params
from scenarios.model import Scenario

PROVIDERS = ("sim",)


def check_model(text: str) -> ModelSpec:
    """Parse and validate a spec before any run starts; raise `ModelSpecError`."""
    spec = ModelSpec.parse(text)
    if spec.provider == "sim":
        sim_params(spec)
        return spec
    raise ModelSpecError(
        f"model {text!r}: unknown provider {spec.provider!r}; "
        f"expected one of: {', '.join(PROVIDERS)}"
    )


def create_model(spec: ModelSpec, scenario: Scenario, seed: int) -> ModelAdapter:
    """A fresh adapter for one run."""
    if spec.provider == "sim":
        return SimModel(spec, scenario, seed)
    raise ModelSpecError(f"model {spec}: unknown provider {spec.provider!r}")


__all__ = [
    "PROFILES",
    "PROVIDERS",
    "ModelAdapter",
    "ModelReply",
    "ModelSpec",
    "ModelSpecError",
    "SimModel",
    "SimParams",
    "Usage",
    "check_model",
    "create_model",
    "sim_params",
]
