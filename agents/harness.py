"""Harnesses: the system prompt and tool set around the model."""

from __future__ import annotations

from dataclasses import dataclass

from agents.tools import TOOLS


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
}


def get_harness(name: str) -> Harness:
    try:
        return HARNESSES[name]
    except KeyError:
        raise HarnessError(
            f"unknown harness {name!r}; expected one of: {', '.join(HARNESSES)}"
        ) from None
