"""Repository state read in-process through libgit2 (pygit2), not by starting git.

Observing a turn (HEAD, a snapshot of the working files, origin's refs, the commits and
the diff since the last turn) took about ten git processes; their start-up was most of
the harness's own CPU. libgit2 reads the same repository files and gives the same
answers (the same tree ids, the same unified diff), in a fraction of the time. What the
agent does (commit, push, status and log as it sees them) still goes through git.

libgit2 runs no hooks, no fsmonitor and no filter drivers, so reading a repository the
agent could have shaped runs nothing it chose; the user's global, XDG and system config
are not read (as `GIT_CONFIG_NOSYSTEM` and `GIT_CONFIG_GLOBAL=/dev/null` do for git).
Anything libgit2 cannot read (a state git handles differently, an unusual object) is
read again through git by the caller, so in-process reading never changes a result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import ConfigLevel, SortMode

for _level in (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM, ConfigLevel.PROGRAMDATA):
    pygit2.settings.search_path[_level] = ""

ReadError = pygit2.GitError


def _as_git_prints(patch: str) -> str:
    """One file's patch as git prints it: git ends a ---/+++ header line whose name holds
    a space with a tab (GNU diff's convention); libgit2 does not."""
    head, at, body = patch.partition("\n@@")
    lines = head.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(("--- ", "+++ ")) and " " in line[4:]:
            lines[i] = line + "\t"
    return "\n".join(lines) + at + body


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    files: list[str]


class RepoReader:
    """The workspace repository and its bare `origin`, opened once per sandbox.

    Methods raise `ReadError` (or KeyError/ValueError for a missing object) when
    libgit2 cannot answer; the sandbox then asks git."""

    def __init__(self, workdir: Path, remote: Path) -> None:
        self._repo = pygit2.Repository(str(workdir))
        self._remote = pygit2.Repository(str(remote))
        # The index object is shared by the repository: one snapshot at a time.
        self._lock = threading.Lock()

    def close(self) -> None:
        """Let go of the repositories' open files (packs are mapped into memory)."""
        self._repo.free()
        self._remote.free()

    def head_and_tree(self) -> tuple[str, str]:
        commit = self._repo.head.peel(pygit2.Commit)
        return str(commit.id), str(commit.tree_id)

    def snapshot(self) -> str:
        """The tree of the working files, tracked or not (.gitignore honoured, tracked
        files kept even if ignored), as `git add --all` into a scratch index would
        write it. The index is changed in memory only and never written back."""
        with self._lock:
            index = self._repo.index
            index.read(True)  # what git (the agent's commits) left on disk
            try:
                index.add_all()
                return str(index.write_tree())
            finally:
                index.read(True)  # drop the in-memory additions

    def remote_refs(self) -> dict[str, str]:
        refs = self._remote.references
        return {name: str(refs[name].resolve().target) for name in refs if name.startswith("refs/")}

    def unpushed_count(self, remote_main: str | None) -> int:
        walker = self._repo.walk(self._repo.head.target, SortMode.NONE)
        if remote_main:
            walker.hide(remote_main)
        return sum(1 for _ in walker)

    def _trees(self, tree_a: str, tree_b: str) -> pygit2.Diff:
        return self._repo.diff(self._repo[tree_a], self._repo[tree_b])

    def diff(self, tree_a: str, tree_b: str) -> str:
        return "".join(_as_git_prints(p.text) for p in self._trees(tree_a, tree_b))

    def changed(self, tree_a: str, tree_b: str) -> list[str]:
        names = set()
        for delta in self._trees(tree_a, tree_b).deltas:
            names.add(delta.old_file.path)
            names.add(delta.new_file.path)
        return sorted(names)

    def commits_since(self, base: str) -> list[CommitInfo]:
        """Commits reachable from HEAD and not from `base`, oldest first, each with its
        message as stored and the files it changed against its parent (none for a
        merge, as `git diff-tree` without -m shows none)."""
        # git rev-list's own order (newest commit time first), reversed.
        walker = self._repo.walk(self._repo.head.target, SortMode.TIME | SortMode.REVERSE)
        walker.hide(base)
        out = []
        for commit in walker:
            message = commit.raw_message.decode("utf-8", "replace").rstrip("\n")
            if len(commit.parent_ids) > 1:
                files: list[str] = []
            else:
                parent = commit.parents[0].tree if commit.parent_ids else None
                diff = (
                    commit.tree.diff_to_tree(swap=True)
                    if parent is None
                    else self._repo.diff(parent, commit.tree)
                )
                files = sorted({d.new_file.path for d in diff.deltas})
            out.append(CommitInfo(str(commit.id), message, files))
        return out
