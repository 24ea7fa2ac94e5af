"""A sandbox's start from a real repository: a clone of it at one commit.

The repository is only read: it is cloned as git clones any remote, through git's own
transport, never by copying or linking its files, and nothing of its configuration or
hooks comes along. Submodules are not cloned and LFS files stay pointers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stickiness.agents.sandbox_errors import GitError, quoted

# Cloning a repository (and checking it out) may take longer than other git commands:
# a large one is slow.
CLONE_TIMEOUT_S = 600.0
MAX_CLONE_ERROR_CHARS = 500
# A clone may reach its repository over these; every other git command only local paths.
_CLONE_PROTOCOLS = "file:https:ssh"


@dataclass(frozen=True)
class WorkspaceSource:
    """Where a workspace came from, when it is a clone of a repository."""

    repo: str  # what was cloned: an absolute path or a URL
    commit: str  # the full sha checked out, before any scenario files
    ref: str  # the commit as it was asked for (a sha, tag or branch)


class RunsGit(Protocol):
    """A sandbox's way of running git in its workspace (`Sandbox.git`)."""

    def __call__(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | None = None,
    ) -> str: ...


def _clipped(text: str, limit: int = MAX_CLONE_ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clone_at_commit(
    git: RunsGit, remote: Path, repo: str, commit: str, timeout: float
) -> WorkspaceSource:
    """Make `remote` a bare clone of `repo` holding one branch, `main`, at `commit`,
    then the workspace `git` runs in a clone of `remote` with `main` checked out."""
    origin = str(remote)
    clone_env = {
        "GIT_ALLOW_PROTOCOL": _CLONE_PROTOCOLS,
        # No prompt for a password, passphrase or host key: fail instead.
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    try:
        # --no-local: through git's transport, never by copying or hard-linking the
        # repository's files; --template=: no hooks; no submodules, no checkout.
        git(
            "clone",
            "--quiet",
            "--bare",
            "--no-local",
            "--no-hardlinks",
            "--template=",
            "--",
            repo,
            origin,
            extra_env=clone_env,
            timeout=timeout,
        )
    except GitError as exc:
        raise GitError(f"cannot clone {quoted(repo)}: {_clipped(str(exc))}") from None
    bare = ("--git-dir", origin)
    try:
        sha = git(*bare, "rev-parse", "--verify", f"{commit}^{{commit}}").strip()
    except GitError as exc:
        raise GitError(
            f"commit {quoted(commit)} is not in {quoted(repo)}: expected a sha (full or "
            "abbreviated), a tag or a branch of it, reachable from its branches or tags "
            f"(git: {_clipped(str(exc), 200)})"
        ) from None
    # origin keeps nothing of the repository but `main` at the commit: no link back
    # to it, no other branch or tag (their objects stay, unreachable).
    git(*bare, "config", "--remove-section", "remote.origin")
    refs = git(*bare, "for-each-ref", "--format=%(refname)").split("\n")
    doomed = "".join(f"delete {ref}\n" for ref in refs if ref and ref != "refs/heads/main")
    if doomed:
        git(*bare, "update-ref", "--stdin", stdin=doomed.encode())
    git(*bare, "update-ref", "refs/heads/main", sha)
    git(*bare, "symbolic-ref", "HEAD", "refs/heads/main")
    # The workspace fetches `main` alone: the commit and its history, nothing else.
    git("init", "--quiet", "--template=")
    git("remote", "add", "origin", origin)
    git(
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-recurse-submodules",
        "origin",
        "refs/heads/main:refs/remotes/origin/main",
        extra_env={"GIT_LFS_SKIP_SMUDGE": "1"},
        timeout=timeout,
    )
    git(
        "checkout",
        "--quiet",
        "--no-track",
        "--no-recurse-submodules",
        "-B",
        "main",
        "refs/remotes/origin/main",
        extra_env={"GIT_LFS_SKIP_SMUDGE": "1"},
        timeout=timeout,
    )
    return WorkspaceSource(repo=repo, commit=sha, ref=commit)
