"""The client's side of one ACP session, across the agent processes it takes.

The session opens with the process: `initialize`, then `session/new` (the model chosen
among the session's config options, if the agent offers it) or, after the process was
killed with the session open, `session/load` in a new one. While a request is awaited,
what the agent sends is answered: permission requests by the spec's policy, any other
method (the client offers no file system and no terminal) "method not found", and its
updates passed to the turn being recorded.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from pathlib import Path

from stickiness.agents.external.acp_channel import (
    AgentGone,
    Channel,
    DeadlinePassed,
    Logger,
    RpcError,
    Transcript,
)
from stickiness.agents.external.acp_updates import TurnLog, session_cost

PROTOCOL_VERSION = 1  # the ACP version this client speaks
CLOSE_GRACE = 2.0  # seconds to exit on its own once its stdin is closed, before the kill
TRANSCRIPT = "acp-transcript.jsonl"
METHOD_NOT_FOUND = -32601

StartAgent = Callable[[Logger], Channel]  # the agent process, its lines logged


def _client_version() -> str:
    try:
        return importlib.metadata.version("stickiness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class AcpSession:
    """One ACP session and the process holding it; what the agent said about itself and
    how the session went, for the run's record."""

    def __init__(self, permissions: str, model: str | None, model_env: str | None) -> None:
        self.permissions = permissions
        self.model = model
        self.model_env = model_env
        self.session_id: str | None = None
        self.agent_info: dict | None = None
        self.protocol_version: object = None
        self.capabilities: dict = {}
        self.model_option: object = None  # the session's model option, as the agent set it
        self.permission_counts = {"allowed": 0, "denied": 0, "cancelled": 0}
        self.refused: dict[str, int] = {}  # agent requests answered "method not found"
        self.starts = 0
        self.not_json = 0
        self.cost: float | None = None  # the session's cost so far, as the agent says
        self.channel: Channel | None = None
        self.log: TurnLog | None = None  # the turn its updates go to, while one runs
        self.clock: Callable[[], float] = time.monotonic
        self._transcript: Transcript | None = None
        self._lost: str | None = None  # why the process was killed with its session open
        self._cancelling = False
        self._replaying = False

    # -- the process -------------------------------------------------------------------
    def open(
        self,
        home: Path,
        workspace: Path,
        start: StartAgent,
        deadline: float,
        should_stop: Callable[[], bool],
    ) -> None:
        """The agent process started and the session opened, unless it runs already."""
        if self.channel is not None:
            return
        if self._lost is not None and not self.capabilities.get("loadSession"):
            raise RpcError(
                "session/load",
                f"{self._lost}, and the agent cannot load its session (no loadSession "
                f"capability): the conversation cannot go on",
            )
        self._transcript = self._transcript or Transcript(home / TRANSCRIPT)
        self.channel = start(self._logged)
        self.starts += 1
        result = self._call(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                # No file system and no terminal: the agent uses its own tools.
                "clientCapabilities": {
                    "fs": {"readTextFile": False, "writeTextFile": False},
                    "terminal": False,
                },
                "clientInfo": {"name": "stickiness", "version": _client_version()},
            },
            deadline,
            should_stop,
        )
        self.protocol_version = result.get("protocolVersion")
        if self.protocol_version != PROTOCOL_VERSION:
            raise RpcError(
                "initialize",
                f"the agent speaks ACP version {self.protocol_version!r}; this client "
                f"speaks {PROTOCOL_VERSION}",
            )
        info = result.get("agentInfo")
        self.agent_info = info if isinstance(info, dict) else None
        caps = result.get("agentCapabilities")
        self.capabilities = caps if isinstance(caps, dict) else {}
        where = {"cwd": str(workspace), "mcpServers": []}
        if self.session_id is None:
            result = self._call("session/new", where, deadline, should_stop)
            session_id = result.get("sessionId")
            if not isinstance(session_id, str) or not session_id:
                raise RpcError("session/new", "the answer has no sessionId")
            self.session_id = session_id
            self._choose_model(result.get("configOptions"), deadline, should_stop)
        else:
            # The conversation so far comes back as updates: already recorded, dropped.
            self._replaying = True
            try:
                load = {"sessionId": self.session_id, **where}
                self._call("session/load", load, deadline, should_stop)
            finally:
                self._replaying = False
            self._lost = None

    def end(self, grace: float = 0.0) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            channel.close(grace)

    def lose(self, why: str) -> None:
        """Kill the agent with its session open; the next turn loads the session."""
        self.end()
        if self.session_id is not None:
            self._lost = why

    def close(self) -> None:
        self.end(CLOSE_GRACE)
        if self._transcript is not None:
            self._transcript.close()

    # -- the model ---------------------------------------------------------------------
    def _choose_model(
        self, options: object, deadline: float, should_stop: Callable[[], bool]
    ) -> None:
        """The session's model option, set to `model=` if the agent offers that value."""
        option = self._note_model(options)
        if self.model is None or self.model_option == self.model:
            return
        offered = _values(option.get("options")) if option else []
        if self.model in offered:
            params = {"sessionId": self.session_id, "configId": option["id"], "value": self.model}
            result = self._call("session/set_config_option", params, deadline, should_stop)
            self.model_option = self.model
            self._note_model(result.get("configOptions"))
        elif self.model_env is None:
            raise RpcError(
                "session/new",
                f"model={self.model}: the agent offers no such model "
                f"({', '.join(map(str, offered)) or 'no model option'}), and no model_env "
                f"names a variable to pass it in",
            )

    def _note_model(self, options: object) -> dict | None:
        """The session's model option among `options`, its current value noted."""
        for option in options if isinstance(options, list) else []:
            if isinstance(option, dict) and "model" in (option.get("category"), option.get("id")):
                self.model_option = option.get("currentValue")
                return option
        return None

    # -- requests ----------------------------------------------------------------------
    def _logged(self, side: str, message: object) -> None:
        if side == "agent" and isinstance(message, dict) and "not_json" in message:
            self.not_json += 1
        if self._transcript is not None:
            self._transcript.log(side, message)

    def _call(
        self, method: str, params: dict, deadline: float, should_stop: Callable[[], bool]
    ) -> dict:
        assert self.channel is not None
        return self.wait(self.channel.request(method, params), deadline, should_stop)

    def wait(self, rid: int, deadline: float, should_stop: Callable[[], bool]) -> dict:
        """The result of request `rid`, answering what the agent asks meanwhile."""
        if self.channel is None:
            raise AgentGone
        return self.channel.wait_for(rid, deadline, should_stop, self.clock, self._dispatch)

    def cancel(self, prompt: int, grace: float) -> dict | None:
        """session/cancel, then `grace` seconds for the agent to end the turn: the
        prompt's result, or None when it did not and was killed (the next turn loads the
        session in a new process)."""
        self._cancelling = True
        try:
            assert self.channel is not None
            self.channel.notify("session/cancel", {"sessionId": self.session_id})
            return self.wait(prompt, self.clock() + grace, lambda: False)
        except (DeadlinePassed, AgentGone, RpcError):
            self.lose(f"the agent did not end a cancelled turn within {grace:g} s and was killed")
            return None
        finally:
            self._cancelling = False

    def drain(self) -> None:
        """Answer what the agent sent while no turn ran (no turn records it)."""
        if self.channel is not None:
            self.channel.drain(self._dispatch)

    # -- what the agent sends ----------------------------------------------------------
    def _dispatch(self, message: dict) -> None:
        method = message.get("method")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if "id" not in message:  # a notification
            if method == "session/update":
                self._update(params)
            return
        assert self.channel is not None
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        if method == "session/request_permission":
            self.channel.send(reply | {"result": self._permission(params)})
            return
        # fs/*, terminal/* (not offered) and anything else.
        name = str(method)[:100]
        self.refused[name] = self.refused.get(name, 0) + 1
        error = {"code": METHOD_NOT_FOUND, "message": f"Method not found: {name}"}
        self.channel.send(reply | {"error": error})

    def _permission(self, params: dict) -> dict:
        wanted = ("allow_once", "allow_always") if self.permissions == "allow" else ()
        wanted = wanted or ("reject_once", "reject_always")
        options = [o for o in params.get("options") or [] if isinstance(o, dict)]
        chosen = next((o for kind in wanted for o in options if o.get("kind") == kind), None)
        if self._cancelling or chosen is None:
            decision, outcome = "cancelled", {"outcome": "cancelled"}
        else:
            decision = "allowed" if self.permissions == "allow" else "denied"
            outcome = {"outcome": "selected", "optionId": chosen.get("optionId")}
        self.permission_counts[decision] += 1
        tool = params.get("toolCall")
        if self.log is not None and isinstance(tool, dict):
            self.log.permission(tool, decision)
        return {"outcome": outcome}

    def _update(self, params: dict) -> None:
        if params.get("sessionId") not in (None, self.session_id):
            return  # another session's (a subagent's, say): not this conversation
        update = params.get("update") if isinstance(params.get("update"), dict) else {}
        kind = update.get("sessionUpdate")
        if kind == "usage_update":
            cost = session_cost(update)
            if cost is not None:
                self.cost = cost  # the session's, so far
            return
        if kind == "config_option_update":
            self._note_model(update.get("configOptions"))  # the agent switched models
            return
        if self.log is not None and not self._replaying:
            self.log.apply(update)


def _values(options: object) -> list:
    """The values a select option offers, groups flattened."""
    found = []
    for o in options if isinstance(options, list) else []:
        if isinstance(o, dict) and "value" in o:
            found.append(o["value"])
        elif isinstance(o, dict):
            found += _values(o.get("options"))
    return found
