"""A throwaway git repository per run, isolated from the user's git set-up.

Every git command runs with a scrubbed environment (no API keys, no global or system
config, no hooks) and a logical clock, so the same run produces the same commit shas.
Paths come from a model and are hostile input: `resolve` is the one gate they pass.

A workspace starts from a scenario's files, or from a clone of a repository at a
commit, its history kept (`repo_source`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from stickiness.agents.git_state import CommitInfo, ReadError, RepoReader
from stickiness.agents.leftovers import KEPT_MARKER, sandbox_prefix
from stickiness.agents.repo_init import init_repositories
from stickiness.agents.repo_source import CLONE_TIMEOUT_S, WorkspaceSource, clone_at_commit
from stickiness.agents.sandbox_errors import GitError, PathOutsideWorkspace, quoted

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
SAFE_GIT_CONFIG = _SAFE_CONFIG  # for reading someone's own repository the same way

# A git command taking longer than this is stuck (a lock, a full disk), not slow.
GIT_TIMEOUT_S = 60.0
MAX_GIT_ERROR_CHARS = 2_000
# Transports git may use: only local paths (the workspace's own `origin`); a clone may
# reach its repository (`repo_source`).
_LOCAL_PROTOCOLS = "file"
# Linux's own limits are 4096 bytes per path and 255 per name; the workspace prefix
# takes part of the first, and no real project needs paths longer than this.
MAX_PATH_CHARS = 1_024
MAX_NAME_BYTES = 255
_CONTROL = frozenset(map(chr, [*range(0x20), 0x7F]))
# Code points HFS+ ignores in names, so ".g\u200cit" is ".git" there (git refuses
# such names on macOS, which would break every later `git add`).
_IGNORABLE = dict.fromkeys(
    [0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


__all__ = ["CommitInfo", "GitError", "PathOutsideWorkspace", "Sandbox", "Usage"]
_T = TypeVar("_T")
# What libgit2 raises when it cannot answer (a missing object, an odd state): git is
# asked instead.
_READ_FAILURES = (ReadError, KeyError, ValueError, OSError)


@dataclass(frozen=True)
class Usage:
    """What the working files (everything but .git) take up."""

    entries: int  # files, folders and links
    bytes: int


def _kill_group(proc: subprocess.Popen) -> None:
    # git's helpers (pack-objects, receive-pack) run in its process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def is_git_name(name: str) -> bool:
    """Whether a path component names the repository's own folder in any spelling git
    (with its NTFS and HFS+ protections) treats as `.git`: any case, trailing dots or
    spaces, an NTFS stream suffix, the 8.3 short name, or HFS+-ignorable characters."""
    base = name.translate(_IGNORABLE).split(":", 1)[0].rstrip(". ").casefold()
    return base in (".git", "git~1")


class Sandbox:
    """A fresh git repository holding a scenario's files and one initial commit, with a
    local bare repository as its `origin`, so pushes are real and observable.

    With `repo` and `commit`, the repository instead starts as a clone of `repo` (a
    local path or URL) on a branch `main` at `commit` (a sha, tag or branch), its
    history kept; `files`, if any, are written on top and committed as "Scenario files".
    `origin` is still the local bare repository, holding the starting commit, so
    nothing is ever pushed to `repo`. `source` records the repository and the full sha.
    Cloning and checking out may take `clone_timeout` seconds (`CLONE_TIMEOUT_S`).
    """

    def __init__(
        self,
        files: dict[str, str],
        *,
        keep: bool = False,
        repo: str | None = None,
        commit: str | None = None,
        clone_timeout: float | None = None,
    ) -> None:
        if (repo is None) != (commit is None):
            raise ValueError("a sandbox cloned from a repository needs both repo and commit")
        # The name says who owns it: a later start removes sandboxes whose owner died.
        self._base = Path(tempfile.mkdtemp(prefix=sandbox_prefix()))
        if keep:  # the user's from the start: no cleanup may take it
            (self._base / KEPT_MARKER).touch()
        self.root = (self._base / "workspace").resolve()
        self.remote = self._base / "origin.git"
        self._home = self._base / "home"
        self.root.mkdir()
        self._home.mkdir()
        self.keep = keep
        self._ticks = 0
        self._reader: RepoReader | None = None
        self.source: WorkspaceSource | None = None
        try:
            if repo is None:
                self._write(files)
                if not self._init_in_process():
                    self._init_by_git()
            else:
                assert commit is not None
                timeout = CLONE_TIMEOUT_S if clone_timeout is None else clone_timeout
                self.source = clone_at_commit(self.git, self.remote, repo, commit, timeout)
                if files:
                    self._write(files)
                    self.git("add", "--all")
                    if self.git("status", "--porcelain", "--untracked-files=no").strip():
                        self.git("commit", "--quiet", "-m", "Scenario files")
                        self.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
            # Tools cap how much the workspace may grow beyond this.
            self.baseline = self.usage()
            with contextlib.suppress(*_READ_FAILURES):
                self._reader = RepoReader(self.root, self.remote)
        except BaseException:
            self.close()
            raise

    def _init_by_git(self) -> None:
        self.git("init", "--quiet", "--template=")
        self.git("init", "--quiet", "--bare", "--template=", str(self.remote))
        self.git("remote", "add", "origin", str(self.remote))
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", "Initial state")
        self.git("push", "--quiet", "origin", "HEAD:refs/heads/main")

    def _init_in_process(self) -> bool:
        """The same repositories as `_init_by_git`, made by libgit2; False (and nothing
        left behind) when it cannot."""
        stamp = CLOCK_EPOCH + 60 * (self._ticks + 1)  # the tick git's commit would take
        try:
            init_repositories(
                self.root, self.remote, AUTHOR_NAME, AUTHOR_EMAIL, stamp, scratch=self._base
            )
        except _READ_FAILURES:
            shutil.rmtree(self.root / ".git", ignore_errors=True)
            shutil.rmtree(self.remote, ignore_errors=True)
            return False
        self._ticks += 1
        return True

    def _write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            target = self.resolve(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if not self.keep:
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
        if len(rel) > MAX_PATH_CHARS:
            raise PathOutsideWorkspace(
                f"{quoted(rel)} is too long; paths may have at most {MAX_PATH_CHARS:,} characters"
            )
        if not _CONTROL.isdisjoint(rel):
            raise PathOutsideWorkspace(f"{quoted(rel)} contains control characters")
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise PathOutsideWorkspace(f"{quoted(rel)} is not valid Unicode text") from None
        pure = PurePosixPath(rel.replace("\\", "/"))
        if pure.is_absolute() or rel.startswith("~"):
            raise PathOutsideWorkspace(
                f"{quoted(rel)} is absolute; use a path relative to the workspace"
            )
        if ".." in pure.parts:
            raise PathOutsideWorkspace(
                f"{quoted(rel)} contains '..'; paths must stay in the workspace"
            )
        if any(is_git_name(part) for part in pure.parts):
            raise PathOutsideWorkspace(f"{quoted(rel)} is inside .git, which tools may not touch")
        if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in pure.parts):
            raise PathOutsideWorkspace(
                f"{quoted(rel)} has a name longer than {MAX_NAME_BYTES} bytes"
            )
        # resolve() follows every symlink on the way, so a link pointing out is caught here.
        real = (self.root / pure).resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise PathOutsideWorkspace(f"{quoted(rel)} leads outside the workspace through a link")
        if any(is_git_name(part) for part in real.relative_to(self.root).parts):
            raise PathOutsideWorkspace(f"{quoted(rel)} leads into .git through a link")
        return real

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix()

    def usage(self) -> Usage:
        """Entries and bytes under the workspace, .git left out and links not followed."""
        entries = size = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            entries += len(dirnames)
            for name in filenames:
                with contextlib.suppress(OSError):
                    size += os.lstat(os.path.join(dirpath, name)).st_size
                entries += 1
        return Usage(entries, size)

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
            "GIT_ALLOW_PROTOCOL": _LOCAL_PROTOCOLS,
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }

    def git(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | None = None,
    ) -> str:
        """Run git in the workspace and return stdout; raise `GitError` on failure (or
        when it takes longer than `timeout` seconds, by default `GIT_TIMEOUT_S`)."""
        timeout = GIT_TIMEOUT_S if timeout is None else timeout
        if args and args[0] == "commit":
            self._ticks += 1
        cmd = ["git"]
        for item in _SAFE_CONFIG:
            cmd += ["-c", item]
        env = self._env() | (extra_env or {})
        # A session of its own: a terminal's Ctrl-C goes to the whole foreground process
        # group, and must stop the run between steps, not kill git in the middle of one.
        proc = subprocess.Popen(
            [*cmd, *args],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        name = next((a for a in args if not a.startswith("-") and a != str(self.remote)), "")
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitError(f"git {name} took longer than {timeout:g} s and was stopped") from None
        except BaseException:
            _kill_group(proc)
            raise
        stdout = out.decode("utf-8", "replace")
        if proc.returncode != 0:
            message = (err.decode("utf-8", "replace") or stdout).strip()
            if len(message) > MAX_GIT_ERROR_CHARS:
                message = message[:MAX_GIT_ERROR_CHARS] + " (message clipped)"
            raise GitError(message or f"git {name} failed")
        return stdout

    def _read(self, method: Callable[[RepoReader], _T], by_git: Callable[[], _T]) -> _T:
        """`method` of the in-process reader, or `by_git` where libgit2 cannot answer."""
        if self._reader is not None:
            try:
                return method(self._reader)
            except _READ_FAILURES:
                pass
        return by_git()

    def head(self) -> str:
        return self.head_and_tree()[0]

    def head_and_tree(self) -> tuple[str, str]:
        """HEAD's commit and its tree."""
        return self._read(RepoReader.head_and_tree, self._head_and_tree_by_git)

    def _head_and_tree_by_git(self) -> tuple[str, str]:
        head, tree = self.git("rev-parse", "HEAD", "HEAD^{tree}").split()
        return head, tree

    def remote_refs(self) -> dict[str, str]:
        """Refs of the origin repository as it is now, read from that repository itself
        (not from this clone's remote-tracking refs, which a push tool could fake)."""
        return self._read(RepoReader.remote_refs, self._remote_refs_by_git)

    def _remote_refs_by_git(self) -> dict[str, str]:
        out = self.git(
            "--git-dir", str(self.remote), "for-each-ref", "--format=%(objectname) %(refname)"
        )
        return {ref: sha for sha, ref in (line.split(" ", 1) for line in out.splitlines())}

    def unpushed_count(self, refs: dict[str, str] | None = None) -> int:
        """Commits on HEAD that origin's main does not have."""
        remote = (refs if refs is not None else self.remote_refs()).get("refs/heads/main")
        target = f"{remote}..HEAD" if remote else "HEAD"
        return self._read(
            lambda r: r.unpushed_count(remote),
            lambda: int(self.git("rev-list", "--count", target).strip()),
        )

    def diff_between(self, tree_a: str, tree_b: str) -> str:
        if tree_a == tree_b:
            return ""
        return self._read(
            lambda r: r.diff(tree_a, tree_b),
            lambda: self.git("diff", "--no-renames", "--no-color", tree_a, tree_b),
        )

    def snapshot(self) -> str:
        """Tree id of the working files (tracked or not), leaving the real index alone."""
        return self._read(RepoReader.snapshot, self._snapshot_by_git)

    def _snapshot_by_git(self) -> str:
        index = self._base / "snapshot.index"
        index.unlink(missing_ok=True)
        # Starting from a copy of the real index keeps tracked files that a .gitignore
        # matches (common in a real repository), and its stat data spares re-reading
        # unchanged files; copy2 keeps its time, which git's racy-file check relies on.
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(self.root / ".git" / "index", index)
        env = {"GIT_INDEX_FILE": str(index)}
        self.git("add", "--all", extra_env=env)
        return self.git("write-tree", extra_env=env).strip()

    def changed_between(self, tree_a: str, tree_b: str) -> list[str]:
        if tree_a == tree_b:
            return []
        return self._read(
            lambda r: r.changed(tree_a, tree_b), lambda: self._changed_by_git(tree_a, tree_b)
        )

    def _changed_by_git(self, tree_a: str, tree_b: str) -> list[str]:
        # NUL-separated and unquoted, so every name comes back as it is on disk.
        out = self.git("diff", "--name-only", "-z", "--no-renames", tree_a, tree_b)
        return sorted(name for name in out.split("\0") if name)

    def commits_since(self, base: str) -> list[CommitInfo]:
        """Commits reachable from HEAD but not from `base`, oldest first.

        Read from objects a model cannot shape: the shas from the history, each message
        from its commit object, its files from the trees (a message may hold any
        separator a log format could use, and once forged a commit record owning
        another's files)."""
        return self._read(lambda r: r.commits_since(base), lambda: self._commits_since_by_git(base))

    def _commits_since_by_git(self, base: str) -> list[CommitInfo]:
        shas = self.git("rev-list", "--reverse", f"{base}..HEAD").split()
        return [self.commit_info(sha) for sha in shas]

    def commit_info(self, sha: str) -> CommitInfo:
        raw = self.git("cat-file", "commit", sha)
        # The headers end at the first blank line; what follows is the message as stored.
        _, _, message = raw.partition("\n\n")
        files = self.git(
            "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id", "--root", sha
        )
        return CommitInfo(sha, message.rstrip("\n"), sorted(f for f in files.split("\0") if f))
