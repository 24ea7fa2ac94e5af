"""The Inspect AI side of benchmarks/vs_inspect.py: the same conversations as one Inspect
task, with this project's ten tools written as Inspect tools.

Imported only in the process that measures Inspect, so that process loads Inspect and
nothing of this project: the tool schemas and the system prompt arrive as plain data.

Each sample gets Inspect's `local` sandbox (a temporary folder of its own); the sample's
files and setup script make it a git repository with a bare `origin` beside it, as this
project's Sandbox does, and the tools act on it through `sandbox()`: file reads and
writes in-process, git and everything else as subprocesses.
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import PurePosixPath

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageTool, ChatMessageUser
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.tool import ToolDef, ToolError, ToolParams
from inspect_ai.util import sandbox

WORKSPACE = "workspace"
# The same identity and isolation from the machine's git set-up as this project's Sandbox,
# so git does the same work on both sides.
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Bench Agent",
    "GIT_AUTHOR_EMAIL": "agent@bench.invalid",
    "GIT_COMMITTER_NAME": "Bench Agent",
    "GIT_COMMITTER_EMAIL": "agent@bench.invalid",
    "LC_ALL": "C",
}
GIT_CONFIG = ("core.hooksPath=/dev/null", "commit.gpgSign=false", "init.defaultBranch=main")

# What the samples did, read by the measuring process once the eval returns: with sample
# logging off, the returned logs do not hold the conversations.
COUNTS: Counter[str] = Counter()


def _git_command(*args: str) -> list[str]:
    cmd = ["git"]
    for item in GIT_CONFIG:
        cmd += ["-c", item]
    return [*cmd, *args]


def setup_script() -> str:
    """The sample's setup: the same six git commands as this project's Sandbox."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in GIT_ENV.items())
    git = shlex.join(_git_command())
    return (
        "#!/bin/bash\nset -e\n"
        + exports
        + f"cd {WORKSPACE}\n"
        + f"{git} init --quiet --template=\n"
        + f"{git} init --quiet --bare --template= ../origin.git\n"
        + f"{git} remote add origin ../origin.git\n"
        + f"{git} add --all\n"
        + f'{git} commit --quiet --allow-empty -m "Initial state"\n'
        + f"{git} push --quiet origin HEAD:refs/heads/main\n"
    )


def _path(rel: str) -> str:
    pure = PurePosixPath(rel)
    if not rel.strip() or pure.is_absolute() or ".." in pure.parts or ".git" in pure.parts:
        raise ToolError(f"{rel!r}: expected a path inside the workspace")
    return f"{WORKSPACE}/{pure}"


async def _run(*cmd: str) -> str:
    result = await sandbox().exec(list(cmd), cwd=WORKSPACE, env=GIT_ENV, timeout=60)
    if not result.success:
        raise ToolError((result.stderr or result.stdout).strip() or f"{cmd[0]} failed")
    return result.stdout


async def _git(*args: str) -> str:
    return await _run(*_git_command(*args))


async def list_files(path: str = ".") -> str:
    out = await _git("ls-files", "--cached", "--others", "--exclude-standard", "--", path)
    return out.strip() or "(no files)"


async def read_file(path: str) -> str:
    try:
        return await sandbox().read_file(_path(path))
    except FileNotFoundError:
        raise ToolError(f"{path}: no such file") from None


async def write_file(path: str, content: str) -> str:
    await sandbox().write_file(_path(path), content)
    return f"wrote {path} ({len(content)} characters)"


async def edit_file(path: str, old: str, new: str) -> str:
    text = await read_file(path)
    count = text.count(old) if old else 0
    if count != 1:
        raise ToolError(f"{path}: 'old' must occur exactly once, found {count} times")
    await sandbox().write_file(_path(path), text.replace(old, new, 1))
    return f"edited {path}"


async def search(pattern: str, path: str = ".") -> str:
    result = await sandbox().exec(
        ["grep", "-rnE", "--exclude-dir=.git", "--", pattern, path], cwd=WORKSPACE, timeout=60
    )
    return result.stdout.strip() or "(no matches)"


async def git_status() -> str:
    return (await _git("status", "--short", "--untracked-files=all")).rstrip() or (
        "nothing to commit"
    )


async def git_diff() -> str:
    return (await _git("diff", "HEAD")).strip() or "(no changes)"


async def git_commit(message: str) -> str:
    await _git("add", "--all")
    await _git("commit", "--quiet", "-m", message)
    return (await _git("log", "-1", "--format=%h %s", "--name-only")).strip()


async def git_push() -> str:
    await _git("push", "--quiet", "origin", "HEAD:refs/heads/main")
    return "pushed to origin/main"


async def run_tests() -> str:
    await _run("python3", "-m", "compileall", "-q", ".")
    return "static check passed"


IMPLEMENTATIONS = {
    f.__name__: f
    for f in (
        list_files,
        read_file,
        write_file,
        edit_file,
        search,
        git_status,
        git_diff,
        git_commit,
        git_push,
        run_tests,
    )
}


def tools_from(schemas: list[dict]) -> list:
    """Inspect tools carrying this project's names, descriptions and JSON schemas."""
    return [
        ToolDef(
            IMPLEMENTATIONS[s["name"]],
            name=s["name"],
            description=s["description"],
            parameters=ToolParams.model_validate(s["parameters"]),
        ).as_tool()
        for s in schemas
    ]


@solver
def play_turns(turns: list[str], schemas: list[dict]):
    """The user's later turns, each played by `generate` with the tools until the model
    stops calling them (the first turn is the sample's input)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.tools = tools_from(schemas)
        for index, text in enumerate(turns):
            if index:
                state.messages.append(ChatMessageUser(content=text))
            state = await generate(state, tool_calls="loop")
        results = [m for m in state.messages if isinstance(m, ChatMessageTool)]
        COUNTS["conversations"] += 1
        COUNTS["tool_ok"] += sum(m.error is None for m in results)
        COUNTS["tool_errors"] += sum(m.error is not None for m in results)
        COUNTS["commits"] += sum(m.error is None and m.function == "git_commit" for m in results)
        return state

    return solve


def build_task(
    conversations: int, turns: list[str], system_prompt: str, files: dict, schemas: list[dict]
) -> Task:
    samples = [
        Sample(
            id=i,
            input=[ChatMessageSystem(content=system_prompt), ChatMessageUser(content=turns[0])],
            files={f"{WORKSPACE}/{k}": v for k, v in files.items()},
            setup=setup_script(),
        )
        for i in range(conversations)
    ]
    return Task(
        dataset=MemoryDataset(samples),
        solver=play_turns(turns, schemas),
        sandbox="local",
        scorer=None,
        name="vs_inspect",
    )
