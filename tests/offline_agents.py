"""Play a scenario through both agent CLIs against the scripted server, in this process's
network namespace: run by tests/test_agents_offline.py inside `unshare -n` (loopback
only) and under strace, which lists every address any process of the run connected to.

    python tests/offline_agents.py SCENARIO_FOLDER OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_server import FakeLLMServer  # noqa: E402
from scripted_agents import both_agents  # noqa: E402

from stickiness.reports.cli import main  # noqa: E402


def run(scenarios: str, out: str) -> int:
    with FakeLLMServer(default=both_agents("sticky", "sticky")) as server:
        models = [
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}",
            f"codex:gpt-5.5?key_env=none&base_url={server.openai_url}&sandbox=danger-full-access",
        ]
        args = ["run", "--scenarios", scenarios, "--repeats", "1", "--out", out, "--draws", "200"]
        code = main([*args, "--model", models[0], "--model", models[1]])
        print(f"requests served: {len(server.requests)}")
        return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2]))
