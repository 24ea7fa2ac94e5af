"""Settings shared by the real-model adapters: where the server is, which variable holds
the key, call timeout and retries; and the checks made before any run starts.

Spec parameters (all optional): `base_url`, `key_env` (the variable holding the key;
`none` for servers that need none), `temperature`, `max_tokens`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from stickiness.agents.models.base import ModelCallError, ModelSpec, ModelSpecError
from stickiness.agents.redact import redact, register_secret

PARAMS = ("base_url", "key_env", "temperature", "max_tokens")
# provider -> (base URL variable, default base URL, key variable)
DEFAULTS = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    # Agent CLIs speak one provider's API each.
    "claude-code": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "codex": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    # An ACP agent's own, unless its registry entry or spec names others.
    "acp": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
}
NO_KEY = "not-needed"  # sent to servers declared keyless (key_env=none)
# Worth another try later: timeout, conflict, rate limit (5xx and Anthropic's 529 too).
TRANSIENT_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class CallOptions:
    timeout: float = 120.0  # seconds per call
    max_retries: int = 4  # the SDK's own retries, with backoff honouring retry-after


@dataclass(frozen=True)
class RemoteSettings:
    spec: ModelSpec
    base_url: str
    key_env: str | None
    api_key: str  # never recorded anywhere
    temperature: float | None
    max_tokens: int | None  # None: the provider's default (Anthropic needs one: 4096)
    options: CallOptions

    def describe(self) -> dict:
        return {
            "provider": self.spec.provider,
            "model": self.spec.name,
            "base_url": self.base_url,
            "key_env": self.key_env,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.options.timeout,
            "max_retries": self.options.max_retries,
        }


def spec_variables(spec: ModelSpec, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables a spec reads, with their values here: its key variable
    and its provider's base-URL variable, those that are set. Nothing for `sim`."""
    if spec.provider not in DEFAULTS:
        return {}
    env = os.environ if env is None else env
    base_var, _, default_key_var = DEFAULTS[spec.provider]
    key_var = spec.param("key_env", default_key_var)
    names = [base_var] + ([] if key_var.lower() == "none" else [key_var])
    return {name: env[name] for name in names if env.get(name)}


def resolve(
    spec: ModelSpec,
    options: CallOptions,
    env: Mapping[str, str] | None = None,
    params: tuple[str, ...] = PARAMS,
    defaults: tuple[str, str, str] | None = None,
) -> RemoteSettings:
    """Settings for a real model; raise `ModelSpecError` naming the missing variable.
    `params` are the spec parameters the adapter takes; `defaults` replaces the
    provider's entry in DEFAULTS (an agent that speaks another provider's API)."""
    env = os.environ if env is None else env
    base_var, default_url, default_key_var = defaults or DEFAULTS[spec.provider]
    for key, _ in spec.params:
        if key not in params:
            raise ModelSpecError(
                f"model {spec}: unknown parameter {key!r}; expected one of: {', '.join(params)}"
            )
    key_env = spec.param("key_env", default_key_var)
    if key_env.lower() == "none":
        key_env, api_key = None, NO_KEY
    else:
        api_key = env.get(key_env, "")
        register_secret(api_key, key_env)
        if not api_key:
            raise ModelSpecError(
                f"model {spec}: the API key variable {key_env} is not set "
                f"(export it, or name another with ?key_env=VAR; key_env=none for a "
                f"server without keys)"
            )
    try:
        temperature = float(t) if (t := spec.param("temperature")) is not None else None
        max_tokens = int(m) if (m := spec.param("max_tokens")) is not None else None
    except ValueError:
        raise ModelSpecError(
            f"model {spec}: temperature must be a number and max_tokens an integer"
        ) from None
    base_url = spec.param("base_url") or env.get(base_var) or default_url
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ModelSpecError(f"model {spec}: base_url must be an http(s) URL, got {base_url!r}")
    return RemoteSettings(spec, base_url, key_env, api_key, temperature, max_tokens, options)


def check_reachable(settings: RemoteSettings, timeout: float = 3.0) -> None:
    """Open (and close) a TCP connection to the server, so an unreachable one fails
    before any run starts rather than in every run."""
    url = urlsplit(settings.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ModelSpecError(
            f"model {settings.spec}: cannot reach {settings.base_url} ({reason})"
        ) from None


class ClientPool:
    """One SDK client per server and settings, shared by the runs (clients are
    thread-safe and keep their connection pool)."""

    def __init__(self) -> None:
        self._clients: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def get(self, settings: RemoteSettings, make: Callable[[RemoteSettings], object]) -> object:
        key = (settings.spec.provider, settings.base_url, settings.key_env, settings.options)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make(settings)
            return self._clients[key]


CLIENTS = ClientPool()


class RemoteModel:
    """What the SDK adapters share: a pooled client, recorded settings, and SDK errors
    turned into one-line `ModelCallError`s naming the model and the server."""

    simulated = False
    # (status error, connection error, any API error) of the subclass's SDK
    sdk_errors: tuple[type[Exception], type[Exception], type[Exception]]

    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings
        self.spec = str(settings.spec)
        self._client = CLIENTS.get(settings, self.make_client)

    client_class: type  # the SDK's client class

    @classmethod
    def make_client(cls, settings: RemoteSettings) -> object:
        return cls.client_class(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.options.timeout,
            max_retries=settings.options.max_retries,
        )

    def describe(self) -> dict:
        return {"simulated": False, **self.settings.describe()}

    def send(self, call: Callable[[], object]) -> object:
        status_error, connection_error, api_error = self.sdk_errors
        try:
            return call()
        except status_error as exc:
            raise ModelCallError(
                redact(
                    f"{self.spec}: HTTP {exc.status_code} from {self.settings.base_url}: "
                    f"{_clip(str(exc.message))}"
                ),
                transient=exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500,
            ) from None
        except api_error as exc:
            # Connection refused or reset and timeouts are transient; a response that does
            # not parse is not.
            raise ModelCallError(
                redact(f"{self.spec}: {type(exc).__name__}: {_clip(str(exc))}"),
                transient=isinstance(exc, connection_error),
            ) from None


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit:,} more)"
