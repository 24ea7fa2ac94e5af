"""`acp:<agent>`: any agent that speaks the Agent Client Protocol (ACP: JSON-RPC 2.0 over
the agent's stdin and stdout, one JSON object per line), measured without an adapter of
its own.

One agent process per run, started at the first turn in the run's sandbox (a session and
process group of its own, cwd and PWD the workspace, the run's private home and only the
environment `environment()` builds, stderr to a file in the home), then `initialize` and
one `session/new`. Each user turn is one `session/prompt`, bounded by the turn's
deadline. At the deadline, or when the run is asked to stop, the turn is cancelled
(`session/cancel`); an agent that does not answer within `cancel_grace` seconds is killed
with its group, and the next turn starts it again and loads its session (if it can load
sessions; if not, that turn fails). `close()` kills the group and reaps it.

What the agent reports in `session/update` becomes the turn's messages, tokens and cost
(`acp_updates`). Permission requests are answered by the spec's policy. The client
offers no file system and no terminal, so the agent uses its own tools; a request for
them, or for any other method, is answered "method not found" (`acp_session`, which
keeps the session across the agent's processes). Every line exchanged is kept in the
home (`acp-transcript.jsonl`, keys redacted), the run's transcript (`acp_channel`).

Spec: `acp:<agent>[?model=M&permissions=allow|deny&command=CMD&base_url_env=VAR&
model_env=VAR]`, besides base_url, key_env, home, project, bin and isolate (bwrap: the
agent process under bubblewrap, as for the other agent CLIs). `<agent>` names an
agent of KNOWN_AGENTS (the npm package and version tested, the API it speaks, the
variable it reads its model from); `command=` runs any other ACP agent (a command line,
split as a shell would but run without one), which reads its server's address from
`base_url_env` and its key from `key_env` (by default Anthropic's variables) and its
model from `model_env`, if named. A model the agent offers as a session config option is
also chosen there. `permissions` (default allow) answers every permission request.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stickiness.agents.external.acp_channel import (
    AgentGone,
    Channel,
    DeadlinePassed,
    Logger,
    RpcError,
    StopRequested,
)
from stickiness.agents.external.acp_session import PROTOCOL_VERSION, TRANSCRIPT, AcpSession
from stickiness.agents.external.acp_updates import TurnLog
from stickiness.agents.external.base import (
    COMMON_PARAMS,
    AgentRunError,
    AgentTurn,
    Cli,
    ExternalAgent,
    cli_version,
    find_cli,
    isolation_of,
)
from stickiness.agents.external.process import (
    MAX_STDOUT_BYTES,
    STDERR_TAIL_BYTES,
    ProcessResult,
)
from stickiness.agents.external.setup import AgentSetup, agent_env
from stickiness.agents.loop import RunStopped
from stickiness.agents.models.base import ModelSpec, ModelSpecError
from stickiness.agents.models.remote import DEFAULTS, CallOptions, resolve
from stickiness.agents.redact import redact

CANCEL_GRACE = 10.0  # seconds an agent has to end a cancelled turn before it is killed
STOP_GRACE = 2.0  # the same when the run is asked to stop
STDERR = "acp-stderr.log"
PERMISSIONS = ("allow", "deny")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class KnownAgent:
    """An ACP agent tested with this version: its pinned CLI, the API it speaks (base URL
    variable, default URL, key variable, as in DEFAULTS) and where it reads its model."""

    cli: Cli
    api: tuple[str, str, str]
    model_env: str | None = None


CLAUDE_AGENT_ACP = KnownAgent(
    Cli("claude-agent-acp", "@agentclientprotocol/claude-agent-acp", "0.101.0", "claude-agent-acp"),
    DEFAULTS["anthropic"],
    # It runs the Claude Code CLI, which reads the model from here; the session's model
    # option then names it too.
    model_env="ANTHROPIC_MODEL",
)
KNOWN_AGENTS: dict[str, KnownAgent] = {"claude-agent-acp": CLAUDE_AGENT_ACP}


# -- the adapter ------------------------------------------------------------------------


class AcpAgent(ExternalAgent):
    extra_params = ("model", "permissions", "command", "base_url_env", "model_env")
    cancel_grace = CANCEL_GRACE

    def __init__(self, spec: ModelSpec, options: CallOptions | None = None) -> None:
        # The base's own __init__ is not used: the CLI and the API depend on the spec.
        self.model_spec = spec
        self.spec = str(spec)
        self.agent_name = spec.name
        self.known = KNOWN_AGENTS.get(spec.name)
        command = spec.param("command")
        if self.known is None and not command:
            raise ModelSpecError(
                f"model {spec}: unknown ACP agent {spec.name!r}; known: "
                f"{', '.join(KNOWN_AGENTS)}; for any other, give its command with "
                f"?command=PATH"
            )
        api = self.known.api if self.known else DEFAULTS["acp"]
        self.base_var = spec.param("base_url_env") or api[0]
        self.model = spec.param("model") or None
        self.model_env = spec.param("model_env") or (self.known.model_env if self.known else None)
        for key, value in (("base_url_env", self.base_var), ("model_env", self.model_env)):
            if value is not None and not _VARIABLE.match(value):
                raise ModelSpecError(f"model {spec}: {key}={value}: not a variable name")
        self.permissions = spec.param("permissions", "allow")
        if self.permissions not in PERMISSIONS:
            raise ModelSpecError(
                f"model {spec}: permissions={self.permissions}: expected one of "
                f"{', '.join(PERMISSIONS)}"
            )
        default_url = api[1] if self.base_var == api[0] else ""
        if not (default_url or spec.param("base_url") or os.environ.get(self.base_var)):
            raise ModelSpecError(
                f"model {spec}: no server: give ?base_url=URL or set {self.base_var}"
            )
        self.settings = resolve(
            spec,
            options or CallOptions(),
            params=COMMON_PARAMS + self.extra_params,
            defaults=(self.base_var, default_url, api[2]),
        )
        # The agent reads its key from its own variable (a known agent's) or the one
        # key_env names (any other); key_env says where ours is read from.
        self.agent_key_var = self.known.api[2] if self.known else (self.settings.key_env or api[2])
        self.setup = AgentSetup.from_spec(spec)
        if command:
            if spec.param("bin") is not None:
                raise ModelSpecError(f"model {spec}: give command= or bin=, not both")
            self.argv = self._command(command)
            self.binary = Path(self.argv[0])
            self.version = None  # the agent says it in `initialize` (agent_info)
        else:
            self.binary = find_cli(spec, self.known.cli)
            self.argv = [str(self.binary)]
            self.version = cli_version(self.binary)
        self.cli = self.known.cli if self.known else Cli(spec.name, "", "", self.argv[0])
        self.isolation = isolation_of(spec)
        self.home: Path | None = None
        self.workspace: Path | None = None
        self.turns = 0
        self.acp = AcpSession(self.permissions, self.model, self.model_env)
        # What happened, besides what the session keeps, for session().
        self.stop_reasons: list[str | None] = []
        self.turn_seconds: list[float] = []
        self._ended_calls: set[str] = set()

    def _command(self, command: str) -> list[str]:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ModelSpecError(f"model {self.spec}: command={command}: {exc}") from None
        if not argv:
            raise ModelSpecError(f"model {self.spec}: command= is empty")
        given = Path(argv[0]).expanduser()
        if "/" in argv[0]:
            found = given.resolve() if given.is_file() and os.access(given, os.X_OK) else None
        else:
            found = Path(p).resolve() if (p := shutil.which(argv[0])) else None
        if found is None:
            raise ModelSpecError(
                f"model {self.spec}: command={argv[0]}: not an executable file (nor on PATH)"
            )
        return [str(found), *argv[1:]]

    # -- what is recorded --------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        return self.acp.session_id

    @property
    def harness(self) -> str:
        return f"acp:{self.agent_name}"

    def describe(self) -> dict:
        return {
            "simulated": False,
            "agent": self.harness,
            "cli": str(self.binary),
            "cli_version": self.version,
            "command": self.argv,
            "model": self.model,
            "model_env": self.model_env,
            "base_url": self.settings.base_url,
            "base_url_env": self.base_var,
            "key_env": self.settings.key_env,
            "agent_key_env": self.agent_key_var,
            "setup": self.setup.describe(),
            "isolation": self.isolation,
            "protocol_version": PROTOCOL_VERSION,
            **self.mode(),
        }

    def mode(self) -> dict:
        return {"permissions": self.permissions}

    def session(self) -> dict:
        """Strings, as the trajectory keeps them: what the agent said it is, and how the
        session went (permission answers, methods refused, stop reasons, seconds per
        turn, processes started)."""
        acp = self.acp
        info = acp.agent_info or {}
        counts = acp.permission_counts
        return super().session() | {
            "agent_name": _text(info.get("name")),
            "agent_version": _text(info.get("version")),
            "protocol_version": _text(acp.protocol_version),
            "permissions": self.permissions,
            "permission_requests": ", ".join(f"{k} {v}" for k, v in counts.items()),
            "refused_methods": ", ".join(f"{k} x{v}" for k, v in acp.refused.items()) or None,
            "model_option": _text(acp.model_option),
            "stop_reasons": ", ".join(str(r) for r in self.stop_reasons) or None,
            "turn_seconds": ", ".join(f"{s:.2f}" for s in self.turn_seconds) or None,
            "starts": str(acp.starts),
            "lines_not_json": str(acp.not_json),
        }

    def transcript(self) -> Path | None:
        if self.home is None:
            return None
        path = self.home / TRANSCRIPT
        return path if path.is_file() else None

    def environment(self) -> dict[str, str]:
        extra = {self.base_var: self.settings.base_url, self.agent_key_var: self.settings.api_key}
        if self.model and self.model_env:
            extra[self.model_env] = self.model
        return agent_env(self.home, self.binary.parent, extra | self.extra_env())

    @property
    def key_var(self) -> str:
        return self.agent_key_var

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        self.acp.close()

    def _start(self, log: Logger) -> Channel:
        """The agent process, in the workspace, under bubblewrap if asked."""
        assert self.home is not None and self.workspace is not None
        try:
            return Channel(
                self.launchable(self.argv),
                self.workspace,
                self.environment(),
                self.home / STDERR,
                log,
            )
        except OSError as exc:
            raise RpcError("starting the agent", f"{self.argv[0]}: {exc}") from None

    # -- one turn ----------------------------------------------------------------------
    def run_turn(
        self,
        text: str,
        deadline: float,
        should_stop: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> AgentTurn:
        if self.home is None or self.workspace is None:
            raise RuntimeError("AcpAgent.run_turn before prepare()")
        acp = self.acp
        acp.clock = clock
        started = clock()
        acp.drain()  # whatever came between turns, answered; late updates dropped
        log = acp.log = TurnLog(self._ended_calls)
        cost_before = acp.cost
        self.turns += 1
        prompt = None
        try:
            acp.open(self.home, self.workspace, self._start, deadline, should_stop)
            assert acp.channel is not None
            acp.channel.received = 0
            params = {"sessionId": acp.session_id, "prompt": [{"type": "text", "text": text}]}
            prompt = acp.channel.request("session/prompt", params)
            self._ended(log, acp.wait(prompt, deadline, should_stop))
        except DeadlinePassed:
            log.turn.time_limit_hit = True
            if prompt is None:
                acp.lose("the turn's time ran out while the agent started")
            else:
                self._cancel(log, prompt, self.cancel_grace)
        except StopRequested:
            if prompt is not None:
                self._cancel(log, prompt, min(self.cancel_grace, STOP_GRACE))
            raise RunStopped from None
        except AgentGone:
            log.turn.error = self._gone("session/prompt" if prompt else "its start")
        except RpcError as exc:
            log.turn.error = self._failure(str(exc))
            if prompt is None:
                acp.end()  # it did not start right: the next turn starts it again
        finally:
            acp.log = None
            self.turn_seconds.append(clock() - started)
        turn = log.finish()
        if acp.cost is not None and acp.cost != cost_before:
            turn.cost_usd = max(0.0, acp.cost - (cost_before or 0.0))
        return turn

    def _cancel(self, log: TurnLog, prompt: int, grace: float) -> None:
        result = self.acp.cancel(prompt, grace)
        if result is not None:
            self._ended(log, result)

    def _ended(self, log: TurnLog, result: dict) -> None:
        reason = result.get("stopReason")
        self.stop_reasons.append(reason if isinstance(reason, str) else None)
        usage = result.get("usage")
        if isinstance(usage, dict):
            log.usage(usage)

    # -- failures ----------------------------------------------------------------------
    def _gone(self, during: str) -> AgentRunError:
        channel = self.acp.channel
        assert channel is not None
        code = channel.exit_code(2.0)
        flooded = channel.flooded
        # Its group too: nothing it started survives it.
        self.acp.lose("the agent process ended")
        if flooded:
            how = f"wrote more than {MAX_STDOUT_BYTES:,} bytes in one turn and was killed"
        elif code is None:
            how = "closed its output"
        elif code < 0:
            how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        return self._failure(f"the agent process {how} during {during}", code)

    def _failure(self, what: str, code: int | None = None) -> AgentRunError:
        tail = ""
        if self.home is not None:
            with contextlib.suppress(OSError), open(self.home / STDERR, "rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - STDERR_TAIL_BYTES))
                tail = fh.read().decode("utf-8", "replace").strip()
        result = ProcessResult([], code, tail, False, False, 0.0)
        return self.failure(result, redact(what))


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:200]
