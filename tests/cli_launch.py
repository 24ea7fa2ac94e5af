"""Launching the pinned agent CLIs by hand against the scripted server (without the
runner): the environment, arguments and Codex configuration the server's own tests use."""

from __future__ import annotations

import os
from pathlib import Path

CLI_BIN = Path(__file__).resolve().parents[1] / ".agent-clis" / "node_modules" / ".bin"
CLAUDE_CODE = CLI_BIN / "claude"  # Claude Code 2.1.332
CODEX = CLI_BIN / "codex"  # Codex CLI 0.171.0 (a node wrapper around a native binary)

# Claude Code tries outside hosts at start without these.
CLAUDE_CODE_QUIET = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def _base_env(home: Path, repo: Path) -> dict[str, str]:
    """Only what a CLI needs: PATH (node for Codex's wrapper), a private HOME and TMPDIR
    (both CLIs leave folders under TMPDIR), PWD = the sandbox."""
    tmp = Path(home) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PWD": str(repo),
        "LANG": "C.UTF-8",
    }


def claude_code_env(home: Path, repo: Path, base_url: str, key: str = "sk-ant-scripted") -> dict:
    """The environment for one Claude Code run against `base_url` (`server.anthropic_url`)."""
    env = _base_env(home, repo) | CLAUDE_CODE_QUIET
    return env | {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": key}


def claude_code_args(
    prompt: str, session_id: str | None = None, model: str = "claude-sonnet-4-5"
) -> list[str]:
    """One non-interactive Claude Code turn; `session_id` (from the first turn's stdout)
    continues the conversation."""
    args = [str(CLAUDE_CODE), "-p", prompt, "--model", model]
    args += ["--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"]
    args += ["--allowedTools", "Bash Write Edit Read"]
    return args + (["--resume", session_id] if session_id else [])


CODEX_KEY_ENV = "SCRIPTED_CODEX_KEY"


def codex_config(
    base_url: str, sandbox_mode: str = "danger-full-access", model: str = "gpt-5.5"
) -> str:
    """`$CODEX_HOME/config.toml` for runs against `base_url` (`server.responses_url`).
    `workspace-write` keeps `.git` read-only (commits fail); `danger-full-access` lets the
    agent commit. `gpt-5.5` is in the bundled model catalog (an unknown name works too but
    adds a "model metadata not found" error item and drops the apply_patch tool)."""
    return f"""\
model = "{model}"
model_provider = "scripted"
approval_policy = "never"
sandbox_mode = "{sandbox_mode}"
check_for_update_on_startup = false
web_search = "disabled"

[features]
plugins = false
remote_plugin = false
plugin_sharing = false
apps = false

[analytics]
enabled = false

[otel]
exporter = "none"

[model_providers.scripted]
name = "scripted"
base_url = "{base_url}"
env_key = "{CODEX_KEY_ENV}"
wire_api = "responses"
"""


def codex_env(home: Path, codex_home: Path, repo: Path, key: str = "sk-scripted-codex") -> dict:
    """The environment for one Codex run; `codex_home` holds config.toml and the sessions."""
    return _base_env(home, repo) | {"CODEX_HOME": str(codex_home), CODEX_KEY_ENV: key}


def codex_args(prompt: str, thread_id: str | None = None) -> list[str]:
    """One non-interactive Codex turn; `thread_id` (from `thread.started`) continues it."""
    if thread_id:
        return [str(CODEX), "exec", "resume", "--json", thread_id, prompt]
    return [str(CODEX), "exec", "--json", prompt]
