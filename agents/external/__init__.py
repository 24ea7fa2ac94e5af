"""Agent CLIs as models: the real coding agents people run, measured in the sandbox."""

from __future__ import annotations

from stickiness.agents.external.acp import KNOWN_AGENTS, AcpAgent
from stickiness.agents.external.base import AgentRunError, AgentTurn, Cli, ExternalAgent
from stickiness.agents.external.claude_code import CLAUDE_CODE, ClaudeCodeAgent
from stickiness.agents.external.codex import CODEX, CodexAgent

AGENTS: dict[str, type[ExternalAgent]] = {
    "claude-code": ClaudeCodeAgent,
    "codex": CodexAgent,
    "acp": AcpAgent,  # any ACP agent; KNOWN_AGENTS are the tested ones
}
# What `stickiness agents install` installs: the CLIs, then the tested ACP agents.
CLIS: dict[str, Cli] = {
    c.provider: c for c in (CLAUDE_CODE, CODEX, *(a.cli for a in KNOWN_AGENTS.values()))
}

__all__ = ["AGENTS", "CLIS", "AgentRunError", "AgentTurn", "ExternalAgent"]
