"""The user's agent setup, copied into a private home per run, and the environment an
agent process gets.

A setup is a folder laid out like a home directory (for Claude Code `.claude/` with
settings.json, CLAUDE.md, skills/, and `.claude.json` or `.mcp.json`; for Codex
`.codex/config.toml` and AGENTS.md) and, apart, files for the project itself (CLAUDE.md,
AGENTS.md, .mcp.json at the repository's root). Each run gets a fresh copy, so runs
never share state and the user's real home is never read or written. Its digest is
recorded, so two setups of one model can be told apart and compared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stickiness.agents.models.base import ModelSpec, ModelSpecError

MAX_SETUP_BYTES = 50 << 20
AGENT_NAME = "Stickiness Agent"
AGENT_EMAIL = "agent@stickiness.invalid"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Settings that make a CLI reach for hosts other than its model server at start.
QUIET = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DO_NOT_TRACK": "1",
    "NO_UPDATE_NOTIFIER": "1",
}


@dataclass(frozen=True)
class AgentSetup:
    home: Path | None = None  # copied into the run's private HOME
    project: Path | None = None  # copied into the workspace before the first turn

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> AgentSetup:
        found = {}
        for key in ("home", "project"):
            value = spec.param(key)
            if value is None:
                continue
            path = Path(value).expanduser()
            if not path.is_dir():
                raise ModelSpecError(f"model {spec}: {key}={value}: expected a folder")
            size = _size(path)
            if size > MAX_SETUP_BYTES:
                raise ModelSpecError(
                    f"model {spec}: {key}={value} holds {size:,} bytes; at most "
                    f"{MAX_SETUP_BYTES:,} are copied into every run"
                )
            found[key] = path.resolve()
        return cls(**found)

    def digest(self) -> str | None:
        """sha256 over every file's relative path and bytes, both folders."""
        if self.home is None and self.project is None:
            return None
        h = hashlib.sha256()
        for label, folder in (("home", self.home), ("project", self.project)):
            for path in _files(folder):
                h.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
                h.update(path.read_bytes())
        return h.hexdigest()

    def describe(self) -> dict:
        return {
            "home": None if self.home is None else str(self.home),
            "project": None if self.project is None else str(self.project),
            "sha256": self.digest(),
        }


def _files(folder: Path | None) -> list[Path]:
    if folder is None:
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in _files(folder))


def prepare_home(base: Path, setup: AgentSetup) -> Path:
    """A fresh private home under `base`: the user's setup copied in (links followed,
    so nothing in it points back into the real home), plus a git config that names the
    agent and runs no hooks."""
    home = base / "agent-home"
    if setup.home is not None:
        shutil.copytree(setup.home, home, symlinks=False, ignore_dangling_symlinks=True)
    home.mkdir(exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    gitconfig = home / ".gitconfig"
    own = gitconfig.read_text(encoding="utf-8") if gitconfig.is_file() else ""
    # Last wins in git config: identity and safety after whatever the setup brought.
    gitconfig.write_text(
        own
        + f"\n[user]\n\tname = {AGENT_NAME}\n\temail = {AGENT_EMAIL}\n"
        + "[core]\n\thooksPath = /dev/null\n\tfsmonitor = false\n"
        + "[commit]\n\tgpgSign = false\n[init]\n\tdefaultBranch = main\n",
        encoding="utf-8",
    )
    return home


def copy_project_files(setup: AgentSetup, workspace: Path) -> bool:
    """Copy the setup's project files into the workspace; True if any were copied."""
    if setup.project is None:
        return False
    shutil.copytree(
        setup.project, workspace, symlinks=False, ignore_dangling_symlinks=True, dirs_exist_ok=True
    )
    return True


def agent_env(home: Path, cli_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The whole environment of an agent process: nothing from ours but what is named
    here (no keys but the one its spec names, which the caller adds in `extra`)."""
    return {
        "PATH": f"{cli_dir}:{SYSTEM_PATH}",
        "HOME": str(home),
        "USER": "agent",
        "LOGNAME": "agent",
        "SHELL": "/bin/bash",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "TMPDIR": str(home / "tmp"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        **QUIET,
        **extra,
    }
