"""A real provider's model behind an on-disk answer cache, for judging text (the
import judge, the claims judge): asked again, a judgement costs nothing."""

from __future__ import annotations

from pathlib import Path

from stickiness.agents.models.base import ModelSpec, ModelSpecError
from stickiness.agents.models.cache import CachedModel, ResponseCache
from stickiness.agents.models.remote import CallOptions, RemoteSettings, resolve


def judge_settings(
    spec_text: str, options: CallOptions | None = None
) -> tuple[ModelSpec, RemoteSettings]:
    """The judge's spec and call settings, without making a client. Raises
    ModelSpecError for a bad spec, a provider that is not a real one, or a missing key
    (named in the message)."""
    spec = ModelSpec.parse(spec_text)
    if spec.provider not in ("openai", "anthropic"):
        raise ModelSpecError(f"{spec_text!r}: expected an openai:MODEL or anthropic:MODEL spec")
    return spec, resolve(spec, options or CallOptions())


def judge_model(
    spec_text: str, cache_dir: Path, options: CallOptions | None = None
) -> tuple[str, CachedModel]:
    """(the spec as written back, the cached model). Raises ModelSpecError as
    `judge_settings` does."""
    spec, settings = judge_settings(spec_text, options)
    if spec.provider == "openai":
        from stickiness.agents.models.openai_chat import OpenAIChatModel

        model = OpenAIChatModel(settings)
    else:
        from stickiness.agents.models.anthropic_messages import AnthropicMessagesModel

        model = AnthropicMessagesModel(settings)
    return str(spec), CachedModel(model, ResponseCache(Path(cache_dir)))
