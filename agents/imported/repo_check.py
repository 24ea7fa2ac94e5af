"""Commits read from a log, checked against the repository they were made in.

The log shows what git printed; the repository shows what is there. With `--repo`,
each commit's short sha is looked up among every commit the repository knows (its
branches and its reflog): found, it gets its full sha and its files (no longer an
estimate); not found, it is kept and noted (rewritten history, another clone). Commits
made during a session that its log does not show (the person's own, a hook's) are
counted in the notes, never given to the agent. git runs read-only, with the same
closed configuration as the sandbox: no hooks, no fsmonitor, no system or global config.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from stickiness.agents.sandbox import GIT_TIMEOUT_S, SAFE_GIT_CONFIG
from stickiness.agents.trajectory import Trajectory
from stickiness.scenarios.git_env import read_only_git_env


class RepoError(ValueError):
    """The repository given with --repo cannot be read."""


def _git(repo: Path, *args: str) -> str:
    config = [arg for item in SAFE_GIT_CONFIG for arg in ("-c", item)]
    env = read_only_git_env()
    try:
        done = subprocess.run(
            ["git", *config, "-C", str(repo), *args],
            capture_output=True,
            env=env,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RepoError(f"--repo {repo}: git failed: {exc}") from None
    if done.returncode:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RepoError(f"--repo {repo}: {error[-1] if error else 'git failed'}")
    return done.stdout.decode("utf-8", "replace")


@dataclass
class RepoCommit:
    sha: str
    time: float  # committer time, seconds since the epoch
    subject: str


@dataclass
class Repository:
    path: Path
    commits: list[RepoCommit] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> Repository:
        if not path.is_dir():
            raise RepoError(f"--repo {path}: no such folder")
        _git(path, "rev-parse", "--git-dir")
        # Every commit git knows, also those only the reflog still reaches.
        out = _git(path, "log", "--all", "--reflog", "--format=%H%x00%ct%x00%s")
        commits = []
        for line in out.splitlines():
            sha, _, rest = line.partition("\0")
            stamp, _, subject = rest.partition("\0")
            if sha and stamp.isdigit():
                commits.append(RepoCommit(sha, float(stamp), subject))
        return cls(path, commits)

    def find(self, short: str) -> RepoCommit | None:
        hits = [c for c in self.commits if c.sha.startswith(short)]
        return hits[0] if len({c.sha for c in hits}) == 1 else None

    def files(self, sha: str) -> list[str]:
        out = _git(self.path, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha)
        return [line for line in out.splitlines() if line]


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def check_commits(trajectory: Trajectory, repo: Repository) -> None:
    """Fills full shas and files from the repository; notes what it could not match."""
    assert trajectory.imported is not None
    seen: set[str] = set()
    missing = 0
    for turn in trajectory.turns:
        for commit in turn.commits:
            found = repo.find(commit.sha)
            if found is None:
                missing += 1
                continue
            commit.sha = found.sha
            commit.files = repo.files(found.sha)
            seen.add(found.sha)
    info = trajectory.imported
    info.repo_checked = True
    if missing:
        info.notes.append(f"{missing} commits in the log not found in {repo.path}")
    start = _seconds(trajectory.turns[0].at) if trajectory.turns else None
    end = _seconds(trajectory.finished_at)
    if start is not None and end is not None:
        others = [c for c in repo.commits if start <= c.time <= end and c.sha not in seen]
        if others:
            info.notes.append(
                f"{len(others)} commits made in {repo.path} during the session do not "
                "appear in its log (the person's own, a hook's or another tool's): "
                "not counted as the agent's"
            )
