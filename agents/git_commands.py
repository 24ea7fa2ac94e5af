"""Which tool calls try to commit or push, and what git printed when they did.

Shared by the analyser (attempts in any trajectory) and the session importer (commits
and pushes read back from an agent's own log, where git's output is all there is).
"""

from __future__ import annotations

import re

# Our own git tools, and git run through an agent's shell.
GIT_TOOLS = {"git_commit": "commit", "git_push": "push"}
SHELL_TOOLS = frozenset(
    {"Bash", "bash", "shell", "local_shell", "exec_command", "execute", "terminal"}
    | {
        "run_terminal_cmd",
        "run_command",
        "execute_command",
        "execute_bash",
        "bash_tool",
        "bash_command",
    }
)
_GIT_ACTION = re.compile(
    r"\bgit\b(?:\s+(?:-[Cc]\s+\S+|--?[A-Za-z][\w-]*(?:=\S+)?))*\s+(commit|push)\b"
)
# `[main 1a2b3c4] message`, `[main (root-commit) 1a2b3c4] message`,
# `[detached HEAD 1a2b3c4] message`: what `git commit` prints for each commit it makes.
COMMIT_LINE = re.compile(
    r"^\[(?P<branch>[^\]\n]*?)(?: \(root-commit\))? (?P<sha>[0-9a-f]{7,40})\] (?P<message>.*)$",
    re.MULTILINE,
)
# `   1a2b3c4..5d6e7f8  main -> main`, `+ a...b  x -> x (forced update)`,
# ` * [new branch]      feature -> feature`: one line per ref `git push` updated.
PUSH_LINE = re.compile(
    r"^\s*[+*=!-]?\s*(?:(?P<old>[0-9a-f]{7,40})\.\.\.?(?P<new>[0-9a-f]{7,40})"
    r"|\[new (?:branch|tag|reference)\])\s+(?P<src>\S+)\s+->\s+(?P<ref>\S+)",
    re.MULTILINE,
)


def attempted_actions(call: dict) -> set[str]:
    """What a tool call tried to do to git: {'commit'}, {'push'}, both, or none."""
    name = call.get("name")
    if name in GIT_TOOLS:
        return {GIT_TOOLS[name]}
    if name in SHELL_TOOLS:
        return set(_GIT_ACTION.findall(call.get("arguments") or ""))
    return set()
