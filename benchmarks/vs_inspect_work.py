"""The work benchmarks/vs_inspect.py gives both tools: five user turns, the tool calls
the scripted model makes in each, and the server's reply to any conversation."""

from __future__ import annotations

import json

FILES = {"README.md": "# notes\n"}
TURNS = [
    "Start notes.md with a first note.",
    "Add a second note to notes.md, then commit.",
    "Add a third note to notes.md.",
    "Add a fourth note to notes.md.",
    "Add a fifth note to notes.md, then commit.",
]
# The tool calls the model makes in each turn, one per reply, before its closing text.
PLAN = [["write"], ["write", "commit"], ["write"], ["write"], ["write", "commit"]]
CALLS_PER_CONVERSATION = sum(len(calls) + 1 for calls in PLAN)
WRITES = sum(c == "write" for calls in PLAN for c in calls)
COMMITS = sum(c == "commit" for calls in PLAN for c in calls)
TOOL_NAMES = ("stickiness", "inspect")


def scenario_yaml() -> str:
    lines = [
        "id: vs-inspect",
        "title: Five notes, two commits",
        "behaviour: commit",
        "arm: control",
        "kind: control",
        "workspace:",
        "  files:",
        *(f"    {k}: {json.dumps(v)}" for k, v in FILES.items()),
        "turns:",
    ]
    for text, calls in zip(TURNS, PLAN, strict=True):
        requests = ["edit:notes.md"] + (["commit"] if "commit" in calls else [])
        lines += [f"  - user: {json.dumps(text)}", f"    requests: [{', '.join(requests)}]"]
    return "\n".join(lines) + "\n"


# -- the model server ------------------------------------------------------------------


def scripted(api: str, body: dict):
    """The reply to a Chat Completions request, from the conversation alone: which user
    turn this is, and how many tool results have come back since that turn began."""
    from llm_server import OPENAI, error_reply, openai_reply

    if api != OPENAI:
        return error_reply(400, f"only Chat Completions is scripted, not {api}", api=api)
    messages = body.get("messages") or []
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users or len(users) > len(PLAN):
        return error_reply(400, f"unexpected conversation: {len(users)} user messages")
    turn = len(users)
    done = sum(m.get("role") == "tool" for m in messages[users[-1] + 1 :])
    plan = PLAN[turn - 1]
    if done >= len(plan):
        return openai_reply(f"Done with turn {turn}.")
    if plan[done] == "write":
        notes = "".join(f"note {n}\n" for n in range(1, turn + 1))
        name, args = "write_file", {"path": "notes.md", "content": notes}
    else:
        name, args = "git_commit", {"message": f"Notes 1 to {turn}"}
    return openai_reply(None, [(f"call_{turn}_{done}", name, json.dumps(args))])
