"""What every agent CLI adapter shares: finding the pinned CLI, the key and the server,
the private home of a run, one process per turn, and the turn it hands back.

An external agent runs its own loop with its own tools. The runner gives it the user's
text for a turn and reads what it did from git, as for any model; the agent's event
stream becomes the turn's messages (text, tool calls with their results, denials),
usage and cost.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stickiness.agents.external.process import ProcessResult, isolated, run_agent_process
from stickiness.agents.external.setup import AgentSetup, agent_env, copy_project_files
from stickiness.agents.external.setup import prepare_home as _prepare_home
from stickiness.agents.loop import RunStopped
from stickiness.agents.models.base import ModelCallError, ModelSpec, ModelSpecError
from stickiness.agents.models.remote import DEFAULTS, CallOptions, RemoteSettings, resolve
from stickiness.agents.redact import redact

# The folder `stickiness agents install` fills with npm (`npm install --prefix`).
CLI_FOLDER_VAR = "STICKINESS_AGENT_CLIS"
DEFAULT_CLI_FOLDER = ".agent-clis"
COMMON_PARAMS = ("base_url", "key_env", "home", "project", "bin", "isolate")
ISOLATION = ("none", "bwrap")
# Words in an agent's error that say the provider, not the run, failed.
_TRANSIENT = re.compile(
    r"(?i)\b(overloaded|rate.?limit|429|5\d\d|timed? ?out|timeout|ECONNREFUSED|ECONNRESET|"
    r"connection (?:refused|reset|error)|temporarily unavailable)\b"
)


class AgentRunError(ModelCallError):
    """An agent process failed a turn; `transient` as for model calls."""


def isolation_of(spec: ModelSpec) -> str:
    """The spec's `isolate=` mode, checked (bubblewrap must be installed for bwrap)."""
    isolation = spec.param("isolate", "none")
    if isolation not in ISOLATION:
        raise ModelSpecError(
            f"model {spec}: isolate={isolation}: expected one of {', '.join(ISOLATION)}"
        )
    if isolation == "bwrap" and shutil.which("bwrap") is None:
        raise ModelSpecError(
            f"model {spec}: isolate=bwrap needs bubblewrap (Debian: apt-get install bubblewrap)"
        )
    return isolation


@dataclass(frozen=True)
class Cli:
    """A pinned agent CLI: the npm package and version tested, and its command."""

    provider: str
    package: str
    version: str
    command: str

    @property
    def npm_spec(self) -> str:
        return f"{self.package}@{self.version}"


def cli_folder() -> Path:
    return Path(os.environ.get(CLI_FOLDER_VAR) or DEFAULT_CLI_FOLDER).resolve()


def find_cli(spec: ModelSpec, cli: Cli) -> Path:
    """The CLI to run: `?bin=PATH`, else the project-local install, else PATH."""
    if (given := spec.param("bin")) is not None:
        path = Path(given).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ModelSpecError(f"model {spec}: bin={given}: not an executable file")
        return path.resolve()
    local = cli_folder() / "node_modules" / ".bin" / cli.command
    if local.is_file():
        return local
    found = shutil.which(cli.command)
    if found:
        return Path(found).resolve()
    raise ModelSpecError(
        f"model {spec}: the {cli.provider} CLI ({cli.command}) is not installed; install the "
        f"tested version with `stickiness agents install {cli.provider}` (npm, into "
        f"{DEFAULT_CLI_FOLDER}/), or name it with ?bin=PATH"
    )


def installation_folder(binary: Path) -> Path:
    """The folder holding everything a CLI runs from: its npm prefix when it has one."""
    real = binary.resolve()
    for folder in (binary, *binary.parents):
        if folder.name == "node_modules":
            return folder.parent
    return real.parent


@functools.cache
def cli_version(binary: Path) -> str:
    """What the CLI says its version is (asked once per binary)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={"PATH": f"{binary.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    return (out.stdout or out.stderr).strip().splitlines()[0][:80] if out.stdout else "unknown"


@dataclass
class AgentTurn:
    """What one turn of an agent produced, in the trajectory's terms."""

    messages: list[dict] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model_calls: int = 0
    cost_usd: float | None = None  # as the CLI reports it; None: price it from the table
    error: AgentRunError | None = None
    time_limit_hit: bool = False


class ExternalAgent:
    """Base of the CLI adapters: one instance per run, one process per turn."""

    simulated = False
    cli: Cli
    extra_params: tuple[str, ...] = ()

    def __init__(self, spec: ModelSpec, options: CallOptions | None = None) -> None:
        self.model_spec = spec
        self.spec = str(spec)
        self.settings: RemoteSettings = resolve(
            spec, options or CallOptions(), params=COMMON_PARAMS + self.extra_params
        )
        self.setup = AgentSetup.from_spec(spec)
        self.binary = find_cli(spec, self.cli)
        self.version = cli_version(self.binary)
        self.isolation = isolation_of(spec)
        self.home: Path | None = None
        self.workspace: Path | None = None
        self.session_id: str | None = None
        self.turns = 0

    # -- what is recorded ------------------------------------------------------------
    @property
    def harness(self) -> str:
        return self.cli.provider

    def describe(self) -> dict:
        return {
            "simulated": False,
            "agent": self.cli.provider,
            "cli": str(self.binary),
            "cli_version": self.version,
            "model": self.model_spec.name,
            "base_url": self.settings.base_url,
            "key_env": self.settings.key_env,
            "setup": self.setup.describe(),
            "isolation": self.isolation,
            **self.mode(),
        }

    def mode(self) -> dict:
        """The permission mode or sandbox the agent runs in."""
        return {}

    def session(self) -> dict:
        """The agent's own session: id and transcript (set once turns ran)."""
        transcript = self.transcript()
        return {
            "session_id": self.session_id,
            "transcript": None if transcript is None else str(transcript),
        }

    def transcript(self) -> Path | None:
        return None

    # -- lifecycle -------------------------------------------------------------------
    def prepare(self, workspace: Path, base: Path) -> bool:
        """Make the run's private home under `base`; copy the setup's project files into
        the workspace (True if any, for the caller to commit into the initial state)."""
        self.workspace = workspace
        self.home = _prepare_home(base, self.setup)
        self.configure(self.home)
        return copy_project_files(self.setup, workspace)

    def configure(self, home: Path) -> None:
        """Write the CLI's own configuration into the private home."""

    def close(self) -> None:
        """End whatever outlives a turn (a long-lived agent process); called once, when
        the run ends however it ends."""

    def environment(self) -> dict[str, str]:
        """The key travels only in the variable the spec names (or the provider's own,
        for a keyless server), next to the server's address."""
        base_var = DEFAULTS[self.cli.provider][0]
        extra = {base_var: self.settings.base_url, self.key_var: self.settings.api_key}
        return agent_env(self.home, self.binary.parent, extra | self.extra_env())

    @property
    def key_var(self) -> str:
        return self.settings.key_env or DEFAULTS[self.cli.provider][2]

    def extra_env(self) -> dict[str, str]:
        return {}

    def launchable(self, argv: list[str]) -> list[str]:
        """`argv` as it is started: under bubblewrap when the spec asks for isolation,
        with the run's own folder writable and the CLI's installation readable."""
        if self.isolation != "bwrap" or self.home is None:
            return argv
        readable = [installation_folder(self.binary)]
        return isolated(argv, writable=self.home.parent, readable=readable)

    # -- one turn --------------------------------------------------------------------
    def command(self, text: str) -> list[str]:
        raise NotImplementedError

    def parse(self, result: ProcessResult) -> AgentTurn:
        raise NotImplementedError

    def run_turn(
        self,
        text: str,
        deadline: float,
        should_stop: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> AgentTurn:
        if self.home is None or self.workspace is None:
            raise RuntimeError("ExternalAgent.run_turn before prepare()")
        result = run_agent_process(
            self.launchable(self.command(text)),
            workspace=self.workspace,
            env=self.environment(),
            deadline=deadline,
            should_stop=should_stop,
            stderr_path=self.home / f"stderr-turn-{self.turns + 1}.log",
            clock=clock,
        )
        return self.turn_from(result)

    def turn_from(self, result: ProcessResult) -> AgentTurn:
        """The turn a process's output makes, however the process was run."""
        self.turns += 1
        if result.stopped:
            raise RunStopped
        turn = self.parse(result)
        turn.time_limit_hit = result.timed_out
        if turn.error is None and result.returncode not in (0, None):
            turn.error = self.failure(result, f"exited with code {result.returncode}")
        return turn

    def failure(self, result: ProcessResult, what: str) -> AgentRunError:
        tail = redact(result.stderr_tail[-600:]) if result.stderr_tail else "no output on stderr"
        message = f"{self.cli.provider}: {what}: {tail}"
        return AgentRunError(message, transient=bool(_TRANSIENT.search(message)))
