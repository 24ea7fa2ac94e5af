"""The git tools: status, diff, commit and push of the sandbox's repository."""

from __future__ import annotations

from stickiness.agents.sandbox import GitError, Sandbox
from stickiness.agents.tool_args import CommitArgs, NoArgs
from stickiness.agents.tool_base import ToolFailure, encode

MAX_COMMIT_MESSAGE_CHARS = 20_000


def git_status(box: Sandbox, _: NoArgs) -> str:
    return box.git("status", "--short", "--untracked-files=all").rstrip() or "nothing to commit"


def git_diff(box: Sandbox, _: NoArgs) -> str:
    # Diff against a snapshot tree so new files show up without touching the index.
    return box.git("diff", "HEAD", box.snapshot()).strip() or "(no changes)"


def git_commit(box: Sandbox, a: CommitArgs) -> str:
    if "\0" in a.message:
        raise ToolFailure("the commit message contains a NUL character, which git cannot store")
    if len(a.message) > MAX_COMMIT_MESSAGE_CHARS:
        raise ToolFailure(
            f"the commit message has {len(a.message):,} characters; "
            f"at most {MAX_COMMIT_MESSAGE_CHARS:,} are allowed"
        )
    encode(a.message, "the commit message")
    box.git("add", "--all")
    try:
        box.git("commit", "--quiet", "-m", a.message)
    except GitError as exc:
        if "nothing to commit" in str(exc) or "nothing added" in str(exc):
            raise ToolFailure("nothing to commit: the working tree has no changes") from None
        raise
    return box.git("log", "-1", "--format=%h %s", "--name-only").strip()


def git_push(box: Sandbox, _: NoArgs) -> str:
    before = box.remote_refs().get("refs/heads/main")
    box.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
    after = box.remote_refs().get("refs/heads/main")
    if before == after:
        return "Everything up-to-date"
    return f"pushed {after[:7]} to origin/main"
