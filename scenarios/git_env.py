"""How git is run on someone's own repository when only reading it."""

from __future__ import annotations

import os


def read_only_git_env(**extra: str) -> dict[str, str]:
    """An environment holding none of the user's git configuration, keys or agents."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",  # reading never takes the index lock
        **extra,
    }
