"""A throwaway git repository per run, isolated from the user's git set-up.

Every git command runs with a scrubbed environment (no API keys, no global or system
config, no hooks) and a logical clock, so the same run produces the same commit shas.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stickiness.agents.leftovers import OWNER_FILE, SANDBOX_PREFIX, owner_stamp

AUTHOR_NAME = "Stickiness Agent"
AUTHOR_EMAIL = "agent@stickiness.invalid"
# Commits are stamped from a logical clock starting here, one minute per commit.
CLOCK_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z

# Command-line config beats any repository config, and these close every path by which
# git could run code chosen by someone other than us.
_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.autocrlf=false",
    "init.defaultBranch=main",
    "advice.detachedHead=false",
)


class PathOutsideWorkspace(ValueError):
    """A path given by the agent would reach outside the workspace."""


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    files: list[str]


class Sandbox:
    """A fresh git repository holding a scenario's files and one initial commit, with a
    local bare repository as its `origin`, so pushes are real and observable."""

    def __init__(self, files: dict[str, str], *, keep: bool = False) -> None:
        self._base = Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX))
        # Who owns it: a later start removes sandboxes whose owner died (kill -9).
        (self._base / OWNER_FILE).write_text(owner_stamp(), encoding="utf-8")
        self.root = (self._base / "workspace").resolve()
        self.remote = self._base / "origin.git"
        self._home = self._base / "home"
        self.root.mkdir()
        self._home.mkdir()
        self.keep = keep
        self._ticks = 0
        try:
            self.git("init", "--quiet", "--template=")
            self.git("init", "--quiet", "--bare", "--template=", str(self.remote))
            self.git("remote", "add", "origin", str(self.remote))
            for rel, text in files.items():
                target = self.resolve(rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            self.git("add", "--all")
            self.git("commit", "--quiet", "--allow-empty", "-m", "Initial state")
            self.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        if self.keep:
            # A kept workspace is the user's now: no cleanup may take it.
            (self._base / OWNER_FILE).unlink(missing_ok=True)
        else:
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -----------------------------------------------------------------------
    def resolve(self, rel: str) -> Path:
        """Map a workspace-relative path to a real path, refusing anything outside."""
        if not isinstance(rel, str) or not rel.strip():
            raise PathOutsideWorkspace("expected a non-empty relative path")
        pure = PurePosixPath(rel.replace("\\", "/"))
        if pure.is_absolute() or rel.startswith("~"):
            raise PathOutsideWorkspace(f"{rel!r} is absolute; use a path relative to the workspace")
        if ".." in pure.parts:
            raise PathOutsideWorkspace(f"{rel!r} contains '..'; paths must stay in the workspace")
        if ".git" in pure.parts:
            raise PathOutsideWorkspace(f"{rel!r} is inside .git, which tools may not touch")
        # resolve() follows every symlink on the way, so a link pointing out is caught here.
        real = (self.root / pure).resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise PathOutsideWorkspace(f"{rel!r} leads outside the workspace through a link")
        return real

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix()

    # -- git -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        stamp = f"@{CLOCK_EPOCH + 60 * self._ticks} +0000"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }

    def git(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """Run git in the workspace and return stdout; raise `GitError` on failure."""
        if args and args[0] == "commit":
            self._ticks += 1
        cmd = ["git"]
        for item in _SAFE_CONFIG:
            cmd += ["-c", item]
        env = self._env() | (extra_env or {})
        proc = subprocess.run(
            [*cmd, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            raise GitError((proc.stderr or proc.stdout).strip() or f"git {args[0]} failed")
        return proc.stdout

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def head_and_tree(self) -> tuple[str, str]:
        """HEAD's commit and its tree, in one call."""
        head, tree = self.git("rev-parse", "HEAD", "HEAD^{tree}").split()
        return head, tree

    def remote_refs(self) -> dict[str, str]:
        """Refs of the origin repository as it is now, read from that repository itself
        (not from this clone's remote-tracking refs, which a push tool could fake)."""
        out = self.git(
            "--git-dir", str(self.remote), "for-each-ref", "--format=%(objectname) %(refname)"
        )
        return {ref: sha for sha, ref in (line.split(" ", 1) for line in out.splitlines())}

    def unpushed_count(self, refs: dict[str, str] | None = None) -> int:
        """Commits on HEAD that origin's main does not have."""
        remote = (refs if refs is not None else self.remote_refs()).get("refs/heads/main")
        target = f"{remote}..HEAD" if remote else "HEAD"
        return int(self.git("rev-list", "--count", target).strip())

    def diff_between(self, tree_a: str, tree_b: str) -> str:
        if tree_a == tree_b:
            return ""
        return self.git("diff", "--no-renames", "--no-color", tree_a, tree_b)

    def snapshot(self) -> str:
        """Tree id of the working files (tracked or not), leaving the real index alone."""
        index = self._base / "snapshot.index"
        index.unlink(missing_ok=True)
        env = {"GIT_INDEX_FILE": str(index)}
        self.git("add", "--all", extra_env=env)
        return self.git("write-tree", extra_env=env).strip()

    def changed_between(self, tree_a: str, tree_b: str) -> list[str]:
        if tree_a == tree_b:
            return []
        out = self.git("diff", "--name-only", "--no-renames", tree_a, tree_b)
        return sorted(line for line in out.splitlines() if line)

    def commits_since(self, base: str) -> list[CommitInfo]:
        """Commits reachable from HEAD but not from `base`, oldest first."""
        out = self.git(
            "log",
            "--reverse",
            "--no-renames",
            "--format=%x1e%H%x1f%B%x1f",
            "--name-only",
            f"{base}..HEAD",
        )
        commits = []
        for record in out.split("\x1e")[1:]:
            sha, message, files = record.split("\x1f")
            commits.append(
                CommitInfo(sha, message.strip(), sorted(f for f in files.split("\n") if f))
            )
        return commits
