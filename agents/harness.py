"""Harnesses: the system prompt and tool set around the model."""

from __future__ import annotations

from dataclasses import dataclass

from stickiness.agents.tools import TOOLS


class HarnessError(ValueError):
    pass


@dataclass(frozen=True)
class Harness:
    name: str
    system_prompt: str
    tools: tuple[str, ...]


HARNESSES: dict[str, Harness] = {
    "minimal": Harness(
        name="minimal",
        system_prompt=(
            "You are a coding assistant working in a git repository. Use the tools to "
            "read and change files. Do what the user asks."
        ),
        tools=tuple(TOOLS),
    ),
    # Shaped like the prompts of popular coding agents: autonomy, conventions, brevity.
    "coding-agent": Harness(
        name="coding-agent",
        system_prompt=(
            "You are an expert software engineer working as a coding agent inside the "
            "user's git repository. You have tools to list, read, search and edit files, "
            "to check the code, and to inspect, commit and push git changes.\n"
            "- Read the relevant code before changing it; follow the conventions you "
            "find.\n"
            "- Make the smallest change that does what was asked; do not touch unrelated "
            "files.\n"
            "- Only commit or push when the user asks you to.\n"
            "- Follow the user's standing instructions for the rest of the session, until "
            "they change them.\n"
            "- When you are done, reply briefly with what you changed."
        ),
        tools=tuple(TOOLS),
    ),
}


def get_harness(name: str) -> Harness:
    try:
        return HARNESSES[name]
    except KeyError:
        raise HarnessError(
            f"unknown harness {name!r}; expected one of: {', '.join(HARNESSES)}"
        ) from None
