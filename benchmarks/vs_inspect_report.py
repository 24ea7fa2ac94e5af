"""What benchmarks/vs_inspect.py prints: the medians per tool and concurrency as one
table, and the list of what differs between the two set-ups."""

from __future__ import annotations

import json
import os
import statistics

from vs_inspect_work import CALLS_PER_CONVERSATION, COMMITS, TOOL_NAMES, TURNS, WRITES


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summarise(results: dict, runs: int, latency: float) -> list[dict]:
    expected = runs * CALLS_PER_CONVERSATION
    out = []
    for (tool, concurrency), rows in results.items():
        good = [r for r in rows if "error" not in r]
        calls = sorted({sum(r["server"]["calls"].values()) for r in rows})
        row = {"tool": tool, "concurrency": concurrency, "calls": calls, "expected": expected}
        if good:
            wall, cpu = _median(good, "wall"), _median(good, "cpu")
            # C above N cannot help: at most N conversations are ever in flight.
            ideal = runs * CALLS_PER_CONVERSATION * latency / min(concurrency, runs)
            row |= {
                "wall": wall,
                "ideal": ideal,
                "ratio": wall / ideal if ideal else float("nan"),
                "rate": runs / wall,
                "cpu": cpu,
                "cpu_per_call": cpu / max(1, calls[-1]),
                "startup_cpu": _median(good, "startup_cpu"),
                "rss": _median(good, "rss"),
                "conversations": min(r["conversations"] for r in good),
                "tool_ok": min(r["tool_ok"] for r in good),
                "tool_errors": max(r["tool_errors"] for r in good),
                "commits": min(r["commits"] for r in good),
                "server_cpu": _median([r["server"] for r in good], "cpu"),
            }
        out.append(row)
    return out


def print_table(rows: list[dict], runs: int, latency: float, repeats: int) -> None:
    from importlib.metadata import version

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"stickiness {version('stickiness')} and Inspect AI {version('inspect-ai')}: "
            f"{runs} conversations x {len(TURNS)} turns ({CALLS_PER_CONVERSATION} model calls, "
            f"{WRITES} writes, {COMMITS} commits each), {latency * 1000:.0f} ms per reply; "
            f"median of {repeats}"
        )
    )
    for name, justify in [
        ("tool", "left"),
        ("C", "right"),
        ("wall s", "right"),
        ("ideal s", "right"),
        ("x ideal", "right"),
        ("conv/s", "right"),
        ("CPU s", "right"),
        ("CPU ms/call", "right"),
        ("startup CPU s", "right"),
        ("peak RSS MiB", "right"),
        ("calls (server)", "right"),
        ("conv ok", "right"),
        ("tool results ok/err", "right"),
        ("commits", "right"),
    ]:
        table.add_column(name, justify=justify)
    for r in rows:
        calls = "/".join(str(c) for c in r["calls"])
        calls += " ✓" if r["calls"] == [r["expected"]] else f" ✗ (expected {r['expected']})"
        if "wall" not in r:
            table.add_row(r["tool"], str(r["concurrency"]), "failed", *[""] * 7, calls)
            continue
        table.add_row(
            r["tool"],
            str(r["concurrency"]),
            f"{r['wall']:.1f}",
            f"{r['ideal']:.1f}",
            f"{r['ratio']:.2f}" if r["ideal"] else "-",
            f"{r['rate']:.2f}",
            f"{r['cpu']:.1f}",
            f"{r['cpu_per_call'] * 1000:.1f}",
            f"{r['startup_cpu']:.1f}",
            f"{r['rss']:.0f}",
            calls,
            f"{r['conversations']}/{runs}",
            f"{r['tool_ok']}/{r['tool_errors']}",
            f"{r['commits']}",
        )
    Console(width=200).print(table)
    print(
        f"ideal = conversations x {CALLS_PER_CONVERSATION} calls x latency / min(C, "
        "conversations). CPU: the measuring process and its children (git; for Inspect also "
        "its setup scripts) during the run; CPU ms/call: that over the calls the server "
        "counted; startup CPU: imports, building the run and the warm-up before it. "
        f"{os.cpu_count()} cores. At C=1 a process sleeps through every reply, and each "
        "wake-up costs CPU that depends on the machine's other load, on both sides alike."
    )


def observed_differences(results: dict) -> list[str]:
    """What the server saw that was not the same from both tools."""
    seen: dict[str, dict[str, set]] = {t: {} for t in TOOL_NAMES}
    for (tool, _), rows in results.items():
        for r in rows:
            for key in ("tools", "fields", "roles"):
                seen[tool].setdefault(key, set()).update(r["server"].get(key, {}))
    a, b = (seen[t] for t in TOOL_NAMES)
    notes = []
    if a.get("tools") == b.get("tools"):
        notes.append("The tool list sent with every call was the same JSON on both sides.")
    else:
        notes.append(_tool_schema_difference(a.get("tools", set()), b.get("tools", set())))
    if a.get("fields") != b.get("fields"):
        notes.append(
            "Request fields: this project sends "
            + "; ".join(sorted(a.get("fields", set())))
            + ", Inspect sends "
            + "; ".join(sorted(b.get("fields", set())))
            + "."
        )
    ours, theirs = a.get("roles", set()), b.get("roles", set())
    as_system = {r.replace("developer", "system") for r in theirs}
    if ours == theirs:
        notes.append(
            f"Every call carried the same sequence of message roles on both sides "
            f"({len(ours)} distinct sequences, one per call of a conversation)."
        )
    elif ours == as_system:
        notes.append(
            "Inspect sends the system prompt with role 'developer', this project with role "
            "'system'; otherwise every call carried the same sequence of message roles "
            f"({len(ours)} distinct sequences, one per call of a conversation)."
        )
    else:
        notes.append(
            "The sequences of message roles differed: this project "
            + " | ".join(sorted(ours))
            + "; Inspect "
            + " | ".join(sorted(theirs))
        )
    return notes


def _json_diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(a.keys() | b.keys()):
            where = f"{path}.{key}" if path else key
            if key not in a:
                out.append(f"{where} added ({json.dumps(b[key])})")
            elif key not in b:
                out.append(f"{where} dropped (was {json.dumps(a[key])})")
            else:
                out += _json_diff(a[key], b[key], where)
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)} -> {json.dumps(b)}"]


def _tool_schema_difference(ours: set[str], theirs: set[str]) -> str:
    def by_name(variants: set[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for variant in variants:
            for tool in json.loads(variant) or []:
                out[tool.get("function", tool).get("name", "?")] = tool
        return out

    a, b = by_name(ours), by_name(theirs)
    changes: dict[str, list[str]] = {}
    for name in sorted(a.keys() | b.keys()):
        if name not in a or name not in b:
            changes.setdefault("only one side has the tool", []).append(name)
            continue
        for change in _json_diff(a[name], b[name]):
            changes.setdefault(change.removeprefix("function."), []).append(name)
    parts = [f"{change} in {', '.join(names)}" for change, names in changes.items()]
    return (
        "The tool schemas as sent differ, Inspect's against this project's: "
        + "; ".join(parts)
        + ". Otherwise the same names, descriptions and parameters."
    )


def setup_differences(git: dict[str, float]) -> list[str]:
    counted = ", ".join(f"{tool} {n:g}" for tool, n in git.items())
    return [
        "Per-turn observation: this project reads the repository after every turn (HEAD, a "
        "snapshot of the working files, origin's refs, the turn's diff and commits) to "
        "record what the agent did, in-process through libgit2 where it can; the Inspect "
        "solver only plays the turns.",
        "Sandbox set-up: this project makes each starting repository in-process (libgit2, "
        "falling back to git); Inspect's local sandbox writes the sample's files, copies the "
        "setup script to /tmp and runs chmod, bash (git init, init --bare, remote add, add, "
        "commit, push) and rm. Both commit with real git (add, commit, log). git processes "
        f"per conversation, counted in an untimed pass through a wrapper on PATH: {counted}.",
        "Records: this project writes one JSON line per finished conversation (the "
        "trajectory: every message, diff and commit); Inspect runs with display='none', "
        "log_level='error', log_samples=False, log_realtime=False, log_model_api=False, no "
        "scorer, and its trace log at error level in a temporary folder: it still builds its "
        "in-memory transcript of events per sample and writes one .eval log (header and "
        "summary) per run.",
        "Tool execution: this project's tools are synchronous Python, run in one thread per "
        "conversation, with its full argument validation, path checks and size budgets; the "
        "Inspect tools are async functions that Inspect validates against the same JSON "
        "schema (jsonschema), writing files through sandbox().write_file and running git "
        "through sandbox().exec, with lighter path checks.",
        "Concurrency: this project runs C conversations on C threads, each with a synchronous "
        "openai client; Inspect runs C samples (max_samples = max_connections = C) as async "
        "tasks on one event loop with the async openai client, its subprocesses limited to "
        "max(C, cores).",
        "Retries and timeouts: each keeps its own policy (this project: SDK retries, then "
        "backoff and replay of a run; Inspect: its own retry loop around the SDK). The server "
        "never fails, so no call was retried: the server's counts show it.",
    ]
