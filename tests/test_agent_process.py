"""An agent CLI process: its environment, its deadline, a stop request, and nothing of
its process group outliving the turn."""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from processes import gone

from stickiness.agents.external.process import run_agent_process
from stickiness.agents.external.setup import AgentSetup, agent_env, prepare_home

# A stand-in agent: prints its environment, starts a child that would outlive it, then
# sleeps as long as it is told (or exits at once).
AGENT = """\
import json, os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("child.pid", "w").write(str(child.pid))
print(json.dumps({"cwd": os.getcwd(), "pwd": os.environ.get("PWD"), "env": dict(os.environ)}))
sys.stdout.flush()
time.sleep(float(sys.argv[1]))
"""


def start(tmp_path: Path, seconds: float, **kwargs):
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    home = prepare_home(tmp_path, AgentSetup())
    env = agent_env(home, Path(sys.executable).parent, {"ANTHROPIC_API_KEY": "sk-only-this"})
    result = run_agent_process(
        [sys.executable, str(script), str(seconds)],
        workspace=workspace,
        env=env,
        stderr_path=tmp_path / "stderr.log",
        **({"deadline": time.monotonic() + 60, "should_stop": lambda: False} | kwargs),
    )
    return result, int((workspace / "child.pid").read_text())


def test_the_agent_sees_only_its_environment_and_its_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-agent")
    result, child = start(tmp_path, 0)
    seen = json.loads(result.lines[0])
    workspace = str(tmp_path / "workspace")
    assert seen["cwd"] == workspace and seen["pwd"] == workspace
    assert (
        "OPENAI_API_KEY" not in seen["env"] and seen["env"]["ANTHROPIC_API_KEY"] == "sk-only-this"
    )
    assert seen["env"]["HOME"] == str(tmp_path / "agent-home")
    assert seen["env"]["DISABLE_TELEMETRY"] == "1" and seen["env"]["DISABLE_AUTOUPDATER"] == "1"
    assert result.returncode == 0 and not result.timed_out
    assert gone(child)  # its child went with the group, though the agent left it running


def test_a_turn_past_its_deadline_is_killed_with_everything_it_started(tmp_path):
    ticks = itertools.count()  # a fake clock: one second per reading
    clock = lambda: float(next(ticks))  # noqa: E731
    result, child = start(tmp_path, 120, deadline=5.0, clock=clock)
    assert result.timed_out and result.returncode is None
    assert gone(child)


def test_a_stop_request_ends_the_agent_and_its_children(tmp_path):
    asked = itertools.count()
    result, child = start(tmp_path, 120, should_stop=lambda: next(asked) > 3)
    assert result.stopped and result.returncode is None and gone(child)
