"""Repository state read in-process (libgit2) must say exactly what git says."""

from __future__ import annotations

import os
import stat

import pytest

from stickiness.agents.git_state import RepoReader
from stickiness.agents.sandbox import Sandbox

FILES = {
    "README.md": "# demo\n",
    "src/app.py": "def main():\n    return 1\n",
    "src/util.py": "X = 1\n",
    "build.log": "kept although ignored\n",
    ".gitignore": "*.log\nbuild/\n",
}


def by_git(box: Sandbox, before: tuple[str, str]) -> dict:
    head, tree = box._head_and_tree_by_git()
    snap = box._snapshot_by_git()
    refs = box._remote_refs_by_git()
    remote = refs.get("refs/heads/main")
    return {
        "head": (head, tree),
        "snapshot": snap,
        "refs": refs,
        "unpushed": int(box.git("rev-list", "--count", f"{remote}..HEAD").strip()),
        "changed": box._changed_by_git(before[1], snap),
        "diff": box.git("diff", "--no-renames", "--no-color", before[1], snap),
        "commits": box._commits_since_by_git(before[0]),
    }


def in_process(reader: RepoReader, before: tuple[str, str]) -> dict:
    snap = reader.snapshot()
    refs = reader.remote_refs()
    return {
        "head": reader.head_and_tree(),
        "snapshot": snap,
        "refs": refs,
        "unpushed": reader.unpushed_count(refs.get("refs/heads/main")),
        "changed": reader.changed(before[1], snap),
        "diff": reader.diff(before[1], snap),
        "commits": reader.commits_since(before[0]),
    }


def _edits(box: Sandbox) -> None:
    root = box.root
    (root / "src/app.py").write_text("def main():\n    return 2\n")
    os.remove(root / "src/util.py")
    (root / "notes.txt").write_text("untracked\n")
    (root / "debug.log").write_text("untracked and ignored\n")
    (root / "build.log").write_text("tracked, ignored, changed\n")
    (root / "build").mkdir()
    (root / "build/out.bin").write_bytes(b"\0\1\2")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / "empty").mkdir()
    (root / "ünï cödé.md").write_text("names as they are\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("README.md")


STEPS = {
    "edits, none staged": lambda box: _edits(box),
    "a commit": lambda box: (_edits(box), box.git("add", "--all"), box.git("commit", "-qm", "x")),
    "two commits and a push": lambda box: (
        (box.root / "a.txt").write_text("a\n"),
        box.git("add", "a.txt"),
        box.git("commit", "-qm", "first\n\n  body: indented, then blank lines\n\n\n"),
        _edits(box),
        box.git("add", "src/app.py"),
        box.git("commit", "-qm", "second"),
        box.git("push", "-q", "origin", "HEAD:refs/heads/main"),
        box.git("push", "-q", "origin", "HEAD:refs/heads/other"),
    ),
    "a merge": lambda box: (
        box.git("checkout", "-qb", "side"),
        (box.root / "side.txt").write_text("side\n"),
        box.git("add", "side.txt"),
        box.git("commit", "-qm", "side"),
        box.git("checkout", "-q", "main"),
        (box.root / "main.txt").write_text("main\n"),
        box.git("add", "main.txt"),
        box.git("commit", "-qm", "main"),
        box.git("merge", "-q", "--no-edit", "side"),
    ),
    "only staged": lambda box: ((box.root / "new.py").write_text("1\n"), box.git("add", "new.py")),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_in_process_reads_equal_git(step):
    with Sandbox(FILES) as box:
        assert box._reader is not None
        before = box.head_and_tree()
        STEPS[step](box)
        expected = by_git(box, before)
        assert in_process(box._reader, before) == expected
        # And the sandbox's own answers (what a turn records) are the same.
        assert box.snapshot() == expected["snapshot"]
        assert box.commits_since(before[0]) == expected["commits"]
        # Reading changed nothing git keeps: the index is as the agent left it.
        assert box.git("status", "--porcelain") == box.git("status", "--porcelain")
        staged = box.git("diff", "--cached", "--name-only")
        box.snapshot()
        assert box.git("diff", "--cached", "--name-only") == staged


def test_a_commits_files_and_message_come_from_the_objects():
    with Sandbox(FILES) as box:
        before = box.head()
        (box.root / "x.py").write_text("x\n")
        box.git("add", "x.py")
        box.git("commit", "-qm", "Fix\n\nsrc/app.py\nREADME.md")
        (commit,) = box.commits_since(before)
    assert commit.files == ["x.py"]
    assert commit.message == "Fix\n\nsrc/app.py\nREADME.md"


def test_where_libgit2_cannot_answer_git_is_asked(monkeypatch):
    with Sandbox(FILES) as box:
        (box.root / "n.txt").write_text("n\n")
        expected = box._snapshot_by_git()

        def broken(self):
            raise KeyError("object not found")

        monkeypatch.setattr(RepoReader, "snapshot", broken)
        assert box.snapshot() == expected


def test_reading_runs_nothing_the_repository_names(tmp_path):
    marker = tmp_path / "ran"
    with Sandbox(FILES) as box:
        # A filter driver and an fsmonitor hook written into the repository's own config:
        # git with our settings ignores the hook; libgit2 runs neither.
        script = tmp_path / "hook.sh"
        script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        with (box.root / ".git/config").open("a") as fh:
            fh.write(f'[filter "x"]\n\tclean = {script}\n[core]\n\tfsmonitor = {script}\n')
        (box.root / ".gitattributes").write_text("*.txt filter=x\n")
        (box.root / "a.txt").write_text("a\n")
        assert box._reader is not None
        box._reader.snapshot()
        box._reader.head_and_tree()
    assert not marker.exists()


def _repository_as_git_shows_it(box: Sandbox) -> dict:
    def files(folder):
        return sorted(
            str(p.relative_to(folder)) for p in folder.rglob("*") if "objects" not in p.parts
        )

    remote = ["--git-dir", str(box.remote)]
    return {
        "head": box.git("rev-parse", "HEAD"),
        "refs": box.git("for-each-ref"),
        "origin refs": box.git(*remote, "for-each-ref"),
        "config": box.git("config", "--list", "--local").replace(str(box.remote), "ORIGIN"),
        "origin config": box.git(*remote, "config", "--list", "--local"),
        "reflogs": [
            (box.root / ".git" / p).read_text()
            for p in ("logs/HEAD", "logs/refs/heads/main", "logs/refs/remotes/origin/main")
        ],
        "status": box.git("status", "--porcelain", "--branch"),
        "fsck": box.git("fsck", "--strict", "--no-dangling"),
        "origin fsck": box.git(*remote, "fsck", "--strict", "--no-dangling"),
        "files": files(box.root / ".git"),
        "origin files": files(box.remote),
        "log": box.git("log", "--format=%H %an <%ae> %ad %cn <%ce> %cd%n%B", "--date=raw"),
    }


def _then_the_agent_works(box: Sandbox) -> tuple[str, str]:
    (box.root / "src/app.py").write_text("changed\n")
    box.git("add", "--all")
    box.git("commit", "-qm", "Change")
    box.git("push", "-q", "origin", "HEAD:refs/heads/main")
    return box.head(), box.git("--git-dir", str(box.remote), "rev-parse", "main")


def test_the_starting_repository_made_in_process_is_the_one_git_makes(monkeypatch):
    with Sandbox(FILES) as box:
        made_in_process = _repository_as_git_shows_it(box)
        after_in_process = _then_the_agent_works(box)
    monkeypatch.setattr(Sandbox, "_init_in_process", lambda self: False)
    with Sandbox(FILES) as box:
        made_by_git = _repository_as_git_shows_it(box)
        after_by_git = _then_the_agent_works(box)
    assert made_in_process == made_by_git
    assert after_in_process == after_by_git


def test_if_libgit2_cannot_make_it_git_does(monkeypatch):
    from stickiness.agents import sandbox as sandbox_module

    def fails(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(sandbox_module, "init_repositories", fails)
    with Sandbox(FILES) as box:
        assert box.git("log", "--format=%s") == "Initial state\n"
        assert box.git("--git-dir", str(box.remote), "rev-parse", "main").strip() == box.head()
