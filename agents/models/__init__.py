"""Model adapters, chosen by spec: `provider:name[?key=value&...]`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from stickiness.agents.models.base import (
    ModelAdapter,
    ModelCallError,
    ModelReply,
    ModelSpec,
    ModelSpecError,
    Usage,
)
from stickiness.agents.models.cache import CachedModel, ResponseCache
from stickiness.agents.models.remote import CallOptions, check_reachable, resolve
from stickiness.agents.models.sim import PROFILES, SimModel, SimParams, sim_params
from stickiness.scenarios.model import Scenario

if TYPE_CHECKING:  # the module imports the loop, which imports this package
    from stickiness.agents.call_limits import CallLimits

PROVIDERS = ("sim", "openai", "anthropic", "claude-code", "codex", "acp")
AGENT_PROVIDERS = ("claude-code", "codex", "acp")


def check_model(
    text: str, options: CallOptions | None = None, *, reachability: bool = True
) -> ModelSpec:
    """Parse and validate a spec before any run starts: known provider, valid
    parameters, the key variable set, the server reachable. Raises `ModelSpecError`."""
    spec = ModelSpec.parse(text)
    if spec.provider == "sim":
        sim_params(spec)
    elif spec.provider in ("openai", "anthropic"):
        settings = resolve(spec, options or CallOptions())
        if reachability:
            check_reachable(settings)
    elif spec.provider in AGENT_PROVIDERS:
        from stickiness.agents.external import AGENTS

        agent = AGENTS[spec.provider](spec, options)  # the CLI, the key, the setup
        if reachability:
            check_reachable(agent.settings)
    else:
        raise ModelSpecError(
            f"model {text!r}: unknown provider {spec.provider!r}; "
            f"expected one of: {', '.join(PROVIDERS)}"
        )
    return spec


def create_model(
    spec: ModelSpec,
    scenario: Scenario,
    seed: int,
    options: CallOptions | None = None,
    cache: ResponseCache | None = None,
    limits: CallLimits | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ModelAdapter:
    """A fresh adapter for one run (real adapters share their SDK client). With
    `limits` (a `CallLimits`), each request sent holds a slot of its provider."""
    if spec.provider == "sim":
        return SimModel(spec, scenario, seed)
    if spec.provider in AGENT_PROVIDERS:
        from stickiness.agents.external import AGENTS

        return AGENTS[spec.provider](spec, options)
    settings = resolve(spec, options or CallOptions())
    if spec.provider == "openai":
        from stickiness.agents.models.openai_chat import OpenAIChatModel

        model = OpenAIChatModel(settings)
    elif spec.provider == "anthropic":
        from stickiness.agents.models.anthropic_messages import AnthropicMessagesModel

        model = AnthropicMessagesModel(settings)
    else:
        raise ModelSpecError(f"model {spec}: unknown provider {spec.provider!r}")
    if limits is not None and limits.limited(spec.provider):
        from stickiness.agents.call_limits import LimitedModel

        model = LimitedModel(model, spec.provider, limits, should_stop)
    return CachedModel(model, cache) if cache is not None else model


__all__ = [
    "PROFILES",
    "PROVIDERS",
    "CallOptions",
    "ModelAdapter",
    "ModelCallError",
    "ModelReply",
    "ModelSpec",
    "ModelSpecError",
    "ResponseCache",
    "SimModel",
    "SimParams",
    "Usage",
    "check_model",
    "create_model",
    "sim_params",
]
