"""Scenarios that start from a repository (`workspace.repo` at `workspace.commit`): the
workspace is a clone with its history, pushes stay local, and the user's repository is
never touched."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.agents.sandbox import GitError, Sandbox
from stickiness.agents.trajectory import PushRecord
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.cli import main
from stickiness.scenarios import ScenarioError, load_scenario

# Hooks a clone, checkout, commit or push could run, in the user's repository or in a
# copy of its .git: each would leave a marker.
HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "push-to-checkout",
    "reference-transaction",
    "post-index-change",
    "pre-auto-gc",
    "post-rewrite",
)

SCENARIO = """\
id: from-repo
title: Fix a bug in a real repository
behaviour: push
arm: treatment
kind: one-off
vars:
  note: [NOTES.md, TODO.md]
workspace:
  repo: {repo}
  commit: {commit}
  files:
    ${{note}}: "Scenario notes\\n"
turns:
  - user: "Fix add() in src/calc.py, commit the fix and push it."
    requests: [edit:src/calc.py, commit, push]
  - user: "Add a docstring to add() in src/calc.py."
    requests: [edit:src/calc.py]
  - user: "Add multiply() to src/calc.py."
    requests: [edit:src/calc.py]
"""

PLAIN = """\
id: {id}
title: Start from a repository
behaviour: commit
arm: control
kind: control
workspace:
  repo: {repo}
  commit: {commit}
turns:
  - user: "Fix add() in src/calc.py."
    requests: [edit:src/calc.py]
"""

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.devnull,
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "A User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "A User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
    "GIT_AUTHOR_DATE": "@1700000000 +0000",
    "GIT_COMMITTER_DATE": "@1700000000 +0000",
}


def git(repo: Path, *args: str) -> str:
    """git in `repo`, as the test itself: never running the repository's hooks."""
    cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args]
    return subprocess.run(
        cmd, cwd=repo, env=GIT_ENV, capture_output=True, text=True, check=True
    ).stdout


def commit_all(repo: Path, message: str, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def project(tmp_path: Path) -> dict:
    """A user's repository with three commits (the scenario asks for the second), a
    tag, a second branch, and hooks and config that would leave markers if run."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=trunk")
    first = commit_all(
        repo,
        "Add calc",
        {"src/calc.py": "def add(a, b):\n    return a - b\n", "README.md": "# calc\n"},
    )
    second = commit_all(repo, "Add notes", {"notes.txt": "remember\n", ".gitignore": "*.log\n"})
    git(repo, "tag", "v1", second)
    later = commit_all(repo, "Later work", {"later.txt": "not yet\n", "src/calc.py": "# later\n"})
    git(repo, "branch", "side", first)
    markers = tmp_path / "markers"
    markers.mkdir()
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\ntouch '{markers / name}'\n")
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    monitor = repo / "fsmonitor.sh"
    monitor.write_text(f"#!/bin/sh\ntouch '{markers / 'fsmonitor'}'\n")
    monitor.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(monitor))
    git(repo, "config", "core.hooksPath", str(hooks))
    return {
        "repo": repo,
        "first": first,
        "second": second,
        "later": later,
        "markers": markers,
    }


def repo_state(repo: Path) -> dict:
    """What a change to the repository would show: refs, HEAD, status, config and the
    files under .git (the index left out: `git status` itself may refresh it)."""
    files = sorted(
        str(p.relative_to(repo / ".git"))
        for p in (repo / ".git").rglob("*")
        if p.name != "index" and p.is_file()
    )
    return {
        "refs": git(repo, "for-each-ref"),
        "head": git(repo, "symbolic-ref", "HEAD") + git(repo, "rev-parse", "HEAD"),
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "config": (repo / ".git" / "config").read_text(),
        "files": files,
    }


def write_scenario(folder: Path, text: str, name: str = "from-repo.yaml") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def play(path: Path, model: str = "sim:sticky", *, keep: bool = False, seed: int = 3):
    (spec,) = plan_runs([load_scenario(path)], [ModelSpec.parse(model)], 1, seed)
    return run_one(spec, RunOptions(keep_workspaces=keep))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Sandboxes (kept ones too) go inside this test's folder."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# -- a run from a repository --------------------------------------------------------


def test_a_run_starts_from_the_commit_with_its_history_and_leaves_the_repo_alone(
    project, tmp_path, private_tmp
):
    repo, second = project["repo"], project["second"]
    before = repo_state(repo)
    path = write_scenario(
        tmp_path / "scenarios", SCENARIO.format(repo="../project", commit=second[:10])
    )
    run = play(path, keep=True)
    assert run.status == "ok", run.error
    assert run.workspace_source is not None
    assert run.workspace_source.model_dump() == {
        "repo": str(repo.resolve()),
        "commit": second,
        "ref": second[:10],
    }
    workspace = Path(run.workspace)
    try:
        # The history up to the commit asked for, the scenario's file on top, then the
        # agent's own commits; nothing of the later commit or the other refs.
        log = git(workspace, "log", "--format=%H %an %s").splitlines()
        subjects = [line.split(" ", 1)[1] for line in log]
        ours = subjects.index("Stickiness Agent Scenario files")
        assert subjects[ours:] == [
            "Stickiness Agent Scenario files",
            "A User Add notes",
            "A User Add calc",
        ]
        # The requested commit, and the sticky agent's next ones.
        assert ours >= 2 and all(s.startswith("Stickiness Agent ") for s in subjects[:ours])
        start = log[ours].split()[0]
        assert git(workspace, "rev-parse", f"{start}^").strip() == second
        assert run.template_values["note"] in git(
            workspace, "show", "--name-only", "--format=", start
        )
        assert git(workspace, "show", f"{second}:src/calc.py") == (
            "def add(a, b):\n    return a - b\n"
        )
        files_at_start = git(workspace, "ls-tree", "-r", "--name-only", start).split()
        assert sorted(files_at_start) == sorted(
            [".gitignore", "README.md", "notes.txt", "src/calc.py", run.template_values["note"]]
        )
        assert not (workspace / "later.txt").exists()
        everything = git(workspace, "log", "--all", "--format=%s")
        assert "Later work" not in everything
        assert git(workspace, "for-each-ref", "--format=%(refname)").split() == [
            "refs/heads/main",
            "refs/remotes/origin/main",
        ]
        # origin is the sandbox's own bare repository, never the user's.
        url = git(workspace, "remote", "get-url", "origin").strip()
        assert Path(url).parent == workspace.parent and url != str(repo)
        assert git(workspace, "remote").split() == ["origin"]
        assert not (workspace / ".git" / "hooks").exists()

        # The recorded commits and pushes are the agent's own.
        commits = [c for t in run.turns for c in t.commits]
        assert [c.sha for c in commits] == [line.split()[0] for line in reversed(log[:ours])]
        users = set(git(repo, "rev-list", "--all").split())
        assert not users & {c.sha for c in commits}
        first_turn = run.turns[0]
        assert first_turn.unpushed_before == 0 and first_turn.commits
        assert first_turn.pushes == [
            PushRecord(ref="refs/heads/main", old=start, new=first_turn.commits[-1].sha)
        ]
        assert first_turn.files_changed == ["src/calc.py"]
        assert run.turns[1].unpushed_before == 0
    finally:
        shutil.rmtree(workspace.parent)
    assert not list(project["markers"].iterdir())  # no hook or monitor of the user's ran
    assert repo_state(repo) == before


def test_without_files_the_workspace_is_the_commit_itself(project, tmp_path, private_tmp):
    path = write_scenario(
        tmp_path / "scenarios", PLAIN.format(id="plain", repo="../project", commit="v1")
    )
    run = play(path, "sim:steady")
    assert run.status == "ok", run.error
    assert run.workspace_source.commit == project["second"]
    assert run.workspace_source.ref == "v1"
    (turn,) = run.turns
    assert turn.files_changed == ["src/calc.py"] and not turn.commits
    assert turn.unpushed_before == 0 and not turn.dirty_before
    # The agent's edit, on the file as it was at that commit.
    assert " def add(a, b):\n     return a - b\n+# turn 1" in turn.diff
    assert not list(private_tmp.iterdir())  # not kept: removed
    assert not list(project["markers"].iterdir())


@pytest.mark.parametrize(
    ("commit", "expected"), [("side", "first"), ("trunk", "later"), ("HEAD", "later")]
)
def test_a_branch_name_resolves_to_its_commit(project, commit, expected):
    with Sandbox({}, repo=str(project["repo"]), commit=commit) as box:
        assert box.source.commit == project[expected] == box.head()
        assert box.remote_refs() == {"refs/heads/main": project[expected]}
        assert box.unpushed_count() == 0
        assert box.snapshot() == box.head_and_tree()[1]


def test_a_file_url_is_cloned_too(project):
    url = f"file://{project['repo']}"
    with Sandbox({"extra.txt": "x\n"}, repo=url, commit=project["first"]) as box:
        assert box.source.repo == url and box.source.commit == project["first"]
        assert box.git("log", "--format=%s").split("\n")[:2] == ["Scenario files", "Add calc"]
        assert box.remote_refs() == {"refs/heads/main": box.head()}


def test_tracked_files_a_gitignore_matches_are_not_seen_as_changes(project, tmp_path):
    repo = project["repo"]
    git(repo, "checkout", "--quiet", "trunk")
    (repo / "kept.log").write_text("tracked anyway\n")
    git(repo, "add", "--force", "kept.log")
    git(repo, "commit", "--quiet", "-m", "Track a log")
    with Sandbox({}, repo=str(repo), commit="trunk") as box:
        head, tree = box.head_and_tree()
        assert box.snapshot() == tree
        assert box.changed_between(tree, box.snapshot()) == []


# -- problems ------------------------------------------------------------------------


def test_an_unknown_commit_is_the_run_s_error(project, tmp_path, private_tmp):
    path = write_scenario(
        tmp_path / "scenarios", PLAIN.format(id="gone", repo="../project", commit="no-such-tag")
    )
    run = play(path)
    assert run.status == "error" and run.error_kind == "fatal" and not run.turns
    assert run.workspace_source is None
    assert run.error.startswith("GitError: commit 'no-such-tag' is not in ")
    assert str(project["repo"]) in run.error and len(run.error) < 600
    assert not list(private_tmp.iterdir())


def test_a_repository_gone_by_run_time_is_the_run_s_error(project, tmp_path, private_tmp):
    copy = tmp_path / "copy"
    shutil.copytree(project["repo"], copy)
    path = write_scenario(
        tmp_path / "scenarios", PLAIN.format(id="moved", repo="../copy", commit="v1")
    )
    scenario = load_scenario(path)
    shutil.rmtree(copy)
    (spec,) = plan_runs([scenario], [ModelSpec.parse("sim:steady")], 1)
    run = run_one(spec)
    assert run.status == "error"
    assert run.error.startswith(f"GitError: cannot clone '{copy}': ")
    assert "does not exist" in run.error and len(run.error) < 700


def test_an_unreachable_url_is_the_run_s_error(tmp_path):
    with pytest.raises(GitError, match="cannot clone 'file:///nowhere/at/all'"):
        Sandbox({}, repo="file:///nowhere/at/all", commit="main")


def test_a_clone_taking_too_long_is_stopped(project):
    with pytest.raises(GitError, match="cannot clone .* took longer than 0 s"):
        Sandbox({}, repo=str(project["repo"]), commit="v1", clone_timeout=0.0)


def test_a_sandbox_needs_both_repo_and_commit(project):
    with pytest.raises(ValueError, match="both repo and commit"):
        Sandbox({}, repo=str(project["repo"]))


def load_error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def test_repo_without_commit_is_refused_at_load(project, tmp_path):
    text = PLAIN.format(id="x", repo="../project", commit="v1").replace("  commit: v1\n", "")
    path = write_scenario(tmp_path / "scenarios", text)
    msg = load_error(path)
    assert msg.startswith(f"{path}: field workspace.commit: required with workspace.repo")
    path = write_scenario(
        tmp_path / "scenarios", text.replace("  repo: ../project\n", "  commit: v1\n")
    )
    assert "field workspace.commit: given without workspace.repo" in load_error(path)


@pytest.mark.parametrize(
    ("repo", "problem"),
    [
        ("../missing", "does not exist; expected a git repository"),
        ("../plain", "is not a git repository; expected the top folder"),
        ("../project/src", "is not a git repository; expected the top folder"),
        ("../file.txt", "is not a folder"),
    ],
)
def test_a_local_path_must_be_a_repository(project, tmp_path, repo, problem):
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("x")
    path = write_scenario(tmp_path / "scenarios", PLAIN.format(id="x", repo=repo, commit="v1"))
    msg = load_error(path)
    assert msg.startswith(f"{path}: field workspace.repo: '{repo}' (")
    assert problem in msg and "\n" not in msg


@pytest.mark.parametrize(
    "repo",
    [
        "https://git.example.invalid/team/project.git",
        "ssh://git@git.example.invalid:2222/team/project.git",
        "git@git.example.invalid:team/project.git",
        "file:///srv/git/project.git",
    ],
)
def test_a_url_is_checked_for_its_form_only(tmp_path, repo):
    # Nothing is fetched at load: these hosts do not exist.
    path = write_scenario(tmp_path, PLAIN.format(id="x", repo=f'"{repo}"', commit="v1.2"))
    s = load_scenario(path)
    assert s.workspace.repo == repo and s.workspace_repo == repo


@pytest.mark.parametrize(
    ("repo", "problem"),
    [
        ("http://git.example.invalid/p.git", "got scheme 'http'"),
        ("git://git.example.invalid/p.git", "got scheme 'git'"),
        ("ext::sh -c touch% /tmp/pwned", "expected a local path"),
        ("-oProxyCommand=touch:x", "expected a local path"),
        ("ssh://-oProxyCommand=x/p.git", "no valid host"),
        ("https://user:secret@git.example.invalid/p.git", "without credentials"),
        ("https://ghp_token@git.example.invalid/p.git", "without credentials"),
        ("file://relative/path", "expected file:///ABSOLUTE/PATH"),
        ("${where}", "the repository is fixed"),
    ],
)
def test_a_url_of_another_kind_is_refused(tmp_path, repo, problem):
    text = PLAIN.format(id="x", repo=f"'{repo}'", commit="v1")
    text = text.replace("workspace:", "vars:\n  where: [a]\nworkspace:")
    msg = load_error(write_scenario(tmp_path, text))
    assert "field workspace.repo: " in msg and problem in msg
    assert "secret" not in msg.split("got", 1)[0]


@pytest.mark.parametrize("commit", ["HEAD~1", "main@{1}", "--upload-pack=x", "a..b", "v1/", "x y"])
def test_a_commit_that_is_no_sha_tag_or_branch_is_refused(tmp_path, commit):
    path = write_scenario(tmp_path, PLAIN.format(id="x", repo="/nowhere", commit=f"'{commit}'"))
    msg = load_error(path)
    assert "field workspace.commit: expected a commit sha (full or abbreviated)" in msg


def test_template_values_still_fill_the_files_on_top(project, tmp_path):
    path = write_scenario(tmp_path / "scenarios", SCENARIO.format(repo="../project", commit="v1"))
    scenario = load_scenario(path)
    rendered, values = scenario.render(5)
    assert list(rendered.workspace.files) == [values["note"]]
    assert rendered.workspace_repo == scenario.workspace_repo == str(project["repo"])


def test_a_scenario_using_a_repository_passes_validate(project, tmp_path, capsys):
    path = write_scenario(
        tmp_path / "scenarios", SCENARIO.format(repo="../project", commit=project["second"])
    )
    assert main(["scenarios", "validate", "--scenarios", str(path)]) == 0
    assert "1 scenarios valid" in capsys.readouterr().out
    bad = write_scenario(
        tmp_path / "scenarios", PLAIN.format(id="y", repo="../nothing", commit="v1"), "bad.yaml"
    )
    assert main(["scenarios", "validate", "--scenarios", str(bad)]) == 2
    assert "field workspace.repo: '../nothing'" in " ".join(capsys.readouterr().err.split())


def test_the_source_survives_the_trajectories_file(project, tmp_path, private_tmp):
    path = write_scenario(
        tmp_path / "scenarios", PLAIN.format(id="plain", repo="../project", commit="v1")
    )
    run = play(path, "sim:steady")
    lines = tmp_path / "trajectories.jsonl"
    lines.write_text(run.model_dump_json() + "\n")
    (again,), warnings = read_trajectories(lines)
    assert not warnings and again.workspace_source == run.workspace_source
