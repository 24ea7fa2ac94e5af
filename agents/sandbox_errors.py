"""What a sandbox raises, and how its messages quote what they echo.

Paths come from a model and repositories and commits from a scenario, so a message
quotes them escaped and short.
"""

from __future__ import annotations


class PathOutsideWorkspace(ValueError):
    """A path given by the agent would reach outside the workspace."""


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


def quoted(value: str) -> str:
    """A path (or repository, or commit) for an error message: quoted, control
    characters escaped, and short."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...' ({len(value):,} characters)"
