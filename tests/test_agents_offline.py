"""With no network route at all (a network namespace holding only loopback), both agent
CLIs play a scenario end to end, and every connection any process of the run made went
to 127.0.0.1: nothing reached, or tried to reach, another host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_agent_clis import FOLDER, installed

from stickiness.agents.external.base import CLI_FOLDER_VAR
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.scenarios import builtin_scenario_dir

HERE = Path(__file__).resolve().parent
_ADDRESS = re.compile(
    r"connect\(\d+, \{sa_family=(AF_INET6?), (?:sin6?_port=htons\(\d+\), )?.*?"
    r"(?:inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6, \"([^\"]+)\")"
)


def _can_isolate() -> str | None:
    if os.geteuid() != 0:
        return "a network namespace needs root"
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode:
        return f"unshare -n is not allowed here: {probe.stderr.decode().strip()}"
    if not (installed("claude-code") and installed("codex")):
        return "agent CLIs not installed (stickiness agents install; .ci/run does)"
    return None


@pytest.mark.skipif(_can_isolate() is not None, reason=str(_can_isolate()))
def test_both_agent_clis_run_with_only_loopback_and_contact_only_it(tmp_path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    for sid in ("commit-then-revoke", "commit-never-then-edits"):
        shutil.copy(builtin_scenario_dir() / f"{sid}.yaml", scenarios)
    log = tmp_path / "connect.log"
    inner = (
        f"ip link set lo up && exec strace -f -qq -e trace=connect -o {log} "
        f"{sys.executable} {HERE / 'offline_agents.py'} {scenarios} {tmp_path / 'out'}"
    )
    env = os.environ | {CLI_FOLDER_VAR: str(FOLDER), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    runs, _ = read_trajectories(tmp_path / "out" / "trajectories.jsonl")
    assert {r.harness for r in runs} == {"claude-code", "codex"}
    assert all(r.status == "ok" for r in runs) and any(t.commits for r in runs for t in r.turns)
    trace = log.read_text()
    addresses = [(family, v4 or v6) for family, v4, v6 in _ADDRESS.findall(trace)]
    assert addresses, "strace saw no connection at all"
    elsewhere = sorted({a for _, a in addresses if a not in ("127.0.0.1", "::1")})
    assert elsewhere == [], f"connections to other hosts: {elsewhere}"
