"""A run's starting repository made in-process (libgit2), as the git commands would
make it: `git init` of the workspace and of a bare `origin`, `git remote add origin`,
`git add --all`, `git commit -m "Initial state"` and `git push origin HEAD:main`.

Six git processes were the largest part of the git work left in a short run. The
result is the same repository: the same commit id (same tree, author, committer,
time and message), the same refs and remote-tracking ref, the same config entries, an
index git reads as clean, and the reflog entries git writes. Anything unexpected
raises, and the sandbox then makes the repository with git itself.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pygit2

from stickiness.agents.git_state import ReadError

__all__ = ["ReadError", "init_repositories"]

_MESSAGE = "Initial state\n"  # what `git commit -m "Initial state"` stores
# What git 2.x writes into a new repository's config; libgit2 writes the same entries in
# another order, and a person comparing `git config --list` should see git's.
_CONFIG = """[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = {bare}
{extra}"""
_WORKSPACE_EXTRA = """\tlogallrefupdates = true
[remote "origin"]
\turl = {url}
\tfetch = +refs/heads/*:refs/remotes/origin/*
"""


def _init(path: Path, *, bare: bool, template: Path) -> pygit2.Repository:
    repo = pygit2.init_repository(
        str(path), bare=bare, initial_head="main", template_path=str(template)
    )
    # libgit2 still makes these two folders, empty; `git init --template=` does not.
    git_dir = path if bare else path / ".git"
    for empty in ("hooks", "info"):
        with contextlib.suppress(OSError):
            (git_dir / empty).rmdir()
    return repo


def init_repositories(
    root: Path, remote: Path, name: str, email: str, seconds: int, scratch: Path
) -> None:
    """The workspace repository at `root` (its files already written) with one commit of
    all of them stamped `seconds`, and `remote`, a bare repository holding that commit
    on main. `scratch` is a folder of the sandbox's own to use. Raises `ReadError` (or
    OSError) when libgit2 cannot do it."""
    template = scratch / "empty-template"  # git's `--template=`: no hooks, no description
    template.mkdir(exist_ok=True)
    workspace = _init(root, bare=False, template=template)
    origin = _init(remote, bare=True, template=template)
    try:
        index = workspace.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        sig = pygit2.Signature(name, email, seconds, 0)
        commit = workspace.create_commit("HEAD", sig, sig, _MESSAGE, tree, [])
        (root / ".git" / "COMMIT_EDITMSG").write_text(_MESSAGE, encoding="utf-8")
        # The push: origin gets every object of the commit, then its main.
        for oid in _reachable(workspace, commit):
            obj = workspace.odb.read(oid)
            origin.odb.write(obj[0], obj[1])
        origin.create_reference_direct("refs/heads/main", commit, False)
        workspace.create_reference_direct(
            "refs/remotes/origin/main", commit, False, message="update by push"
        )
    finally:
        workspace.free()
        origin.free()
    url = str(remote)
    (root / ".git" / "config").write_text(
        _CONFIG.format(bare="false", extra=_WORKSPACE_EXTRA.format(url=url)), encoding="utf-8"
    )
    (remote / "config").write_text(_CONFIG.format(bare="true", extra=""), encoding="utf-8")
    # libgit2 signs this reflog entry with the config's identity (there is none) and the
    # clock; git's push signs it as the committer, at the commit's time.
    _reflog(root, "refs/remotes/origin/main", str(commit), name, email, seconds)


def _reachable(repo: pygit2.Repository, commit: pygit2.Oid) -> list[pygit2.Oid]:
    c = repo[commit]
    out = [c.id]
    stack = [c.tree]
    while stack:
        tree = stack.pop()
        out.append(tree.id)
        for entry in tree:
            if entry.type_str == "tree":
                stack.append(repo[entry.id])
            elif entry.type_str == "blob":
                out.append(entry.id)
    return out


def _reflog(root: Path, ref: str, sha: str, name: str, email: str, seconds: int) -> None:
    path = root / ".git" / "logs" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    zero = "0" * 40
    line = f"{zero} {sha} {name} <{email}> {seconds} +0000\tupdate by push\n"
    path.write_text(line, encoding="utf-8")
