from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from stickiness.agents import file_tools, static_check
from stickiness.agents import sandbox as sandbox_module
from stickiness.agents.sandbox import GitError, PathOutsideWorkspace, Sandbox
from stickiness.agents.tools import (
    MAX_FILE_BYTES,
    MAX_OUTPUT_CHARS,
    TOOLS,
    execute,
    tool_schemas,
)


@pytest.fixture
def box():
    with Sandbox({"src/app.py": "print('hi')\n", "README.md": "# demo\n"}) as sandbox:
        yield sandbox


def call(box: Sandbox, name: str, **args):
    return execute(box, name, json.dumps(args))


def test_sandbox_is_a_real_repo_with_one_initial_commit(box):
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae> %s"], cwd=box.root, capture_output=True, text=True
    )
    assert log.stdout.strip() == "Stickiness Agent <agent@stickiness.invalid> Initial state"
    assert not box.git("status", "--porcelain").strip()


def test_sandbox_removed_on_close_unless_kept():
    with Sandbox({"a.txt": "x"}) as temp:
        root = temp.root
    assert not root.exists()
    kept = Sandbox({"a.txt": "x"}, keep=True)
    kept.close()
    assert kept.root.exists()
    import shutil

    shutil.rmtree(kept.root.parent)


@pytest.mark.parametrize("path", ["../outside.txt", "src/../../outside.txt", "a/../../b"])
def test_traversal_is_rejected(box, path):
    result = call(box, "write_file", path=path, content="x")
    assert result.is_error and "'..'" in result.content
    assert not (box.root.parent / "outside.txt").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "~/notes.txt"])
def test_absolute_paths_are_rejected(box, path):
    result = call(box, "read_file", path=path)
    assert result.is_error and "absolute" in result.content


def test_git_directory_is_off_limits(box):
    result = call(box, "write_file", path=".git/hooks/pre-commit", content="#!/bin/sh\n")
    assert result.is_error and ".git" in result.content
    assert not (box.root / ".git" / "hooks" / "pre-commit").exists()


def test_symlinks_pointing_out_are_rejected(box, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, box.root / "link.txt")
    os.symlink(tmp_path, box.root / "linkdir")
    for name, args in [
        ("read_file", {"path": "link.txt"}),
        ("write_file", {"path": "link.txt", "content": "overwritten"}),
        ("read_file", {"path": "linkdir/secret.txt"}),
        ("list_files", {"path": "linkdir"}),
        ("search", {"pattern": "secret", "path": "linkdir"}),
    ]:
        result = call(box, name, **args)
        assert result.is_error and "outside the workspace" in result.content, name
    assert secret.read_text() == "top secret"
    hits = call(box, "search", pattern="top secret")
    assert hits.content == "(no matches)"


def test_resolve_raises_for_direct_callers(box):
    with pytest.raises(PathOutsideWorkspace):
        box.resolve("../x")


def test_bad_calls_become_error_results_not_exceptions(box):
    assert execute(box, "rm_rf", "{}").is_error
    bad_json = execute(box, "read_file", '{"path": "README.md"')
    assert bad_json.is_error and "not valid JSON" in bad_json.content
    assert execute(box, "read_file", "[1, 2]").is_error
    missing = execute(box, "write_file", '{"path": "x.txt"}')
    assert missing.is_error and "content" in missing.content
    extra = execute(box, "read_file", '{"path": "README.md", "mode": "rb"}')
    assert extra.is_error and "mode" in extra.content
    assert call(box, "read_file", path="nope.txt").is_error


def test_file_tools_round_trip(box):
    assert not call(box, "write_file", path="docs/new.md", content="hello\nworld\n").is_error
    assert call(box, "read_file", path="docs/new.md").content == "hello\nworld\n"
    assert call(box, "list_files").content.splitlines() == [
        "README.md",
        "docs/new.md",
        "src/app.py",
    ]
    assert not call(box, "edit_file", path="docs/new.md", old="world", new="there").is_error
    assert (box.root / "docs/new.md").read_text() == "hello\nthere\n"
    ambiguous = call(box, "edit_file", path="docs/new.md", old="e", new="E")
    assert ambiguous.is_error and "exactly once" in ambiguous.content
    assert call(box, "search", pattern=r"print\(").content == "src/app.py:1: print('hi')"
    assert "not a usable regular expression" in call(box, "search", pattern="(").content


def test_git_tools_make_real_commits(box):
    nothing = call(box, "git_commit", message="empty")
    assert nothing.is_error and "nothing to commit" in nothing.content
    call(box, "write_file", path="src/app.py", content="print('bye')\n")
    assert "src/app.py" in call(box, "git_status").content
    assert "+print('bye')" in call(box, "git_diff").content
    head = box.head()
    assert not call(box, "git_commit", message="Say bye").is_error
    commits = box.commits_since(head)
    assert [(c.message, c.files) for c in commits] == [("Say bye", ["src/app.py"])]
    assert not box.git("status", "--porcelain").strip()


def test_push_reaches_the_local_origin_and_is_read_back_from_it(box):
    assert call(box, "git_push").content == "Everything up-to-date"
    call(box, "write_file", path="a.txt", content="a")
    call(box, "git_commit", message="Add a")
    assert box.unpushed_count() == 1
    result = call(box, "git_push")
    assert not result.is_error and result.content.startswith("pushed")
    assert box.remote_refs()["refs/heads/main"] == box.head()
    assert box.unpushed_count() == 0


def test_run_tests_checks_without_executing(box, tmp_path):
    marker = tmp_path / "ran"
    call(
        box,
        "write_file",
        path="tests/test_x.py",
        content=f"open({str(marker)!r}, 'w')\ndef test_one():\n    pass\n",
    )
    call(box, "write_file", path="bad.py", content="def broken(:\n")
    out = call(box, "run_tests").content
    assert "1 test functions" in out and "bad.py" in out
    assert not marker.exists()


def test_user_git_config_and_hooks_are_not_used(box, tmp_path, monkeypatch):
    marker = tmp_path / "hook-ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f"[core]\n\thooksPath = {hooks}\n[user]\n\tname = Someone Else\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-be-seen")
    call(box, "write_file", path="a.txt", content="a")
    assert not call(box, "git_commit", message="With hooks around").is_error
    assert not marker.exists()
    author = box.git("log", "-1", "--format=%an").strip()
    assert author == "Stickiness Agent"
    assert not any("KEY" in name for name in box._env())


def test_schemas_describe_every_tool():
    names = {s["name"] for s in tool_schemas()}
    assert names == {
        "list_files",
        "read_file",
        "write_file",
        "edit_file",
        "search",
        "git_status",
        "git_diff",
        "git_commit",
        "git_push",
        "run_tests",
    }
    write = next(s for s in tool_schemas() if s["name"] == "write_file")
    assert write["parameters"]["required"] == ["path", "content"]


def test_same_content_gives_same_commit_sha():
    shas = []
    for _ in range(2):
        with Sandbox({"a.txt": "1"}) as b:
            Path(b.root / "a.txt").write_text("2")
            execute(b, "git_commit", '{"message": "two"}')
            shas.append(b.head())
    assert shas[0] == shas[1]


def test_commit_records_are_read_from_git_not_from_text_the_model_wrote(box):
    call(box, "write_file", path="real.txt", content="real\n")
    base = box.head()
    fake = "0" * 40
    message = f"fix\x1e{fake}\x1fforged\x1fsrc/app.py\n\n\x1e{fake}\x1f\x1f\nmore\x1f"
    result = call(box, "git_commit", message=message)
    assert not result.is_error, result.content
    (commit,) = box.commits_since(base)
    raw = box.git("cat-file", "commit", box.head())
    assert commit.sha == box.head() != fake
    assert commit.message == raw.partition("\n\n")[2].rstrip("\n") == message
    assert commit.files == ["real.txt"]


def test_commit_records_keep_names_as_they_are_on_disk(box):
    base = box.head()
    for name in ("caf\u00e9.txt", "with space.md", 'quote".txt'):
        call(box, "write_file", path=name, content="x")
        call(box, "git_commit", message=f"Add {name}")
    commits = box.commits_since(base)
    assert [c.files for c in commits] == [["caf\u00e9.txt"], ["with space.md"], ['quote".txt']]
    assert commits[0].message == "Add caf\u00e9.txt"
    base_tree = box.git("rev-parse", f"{base}^{{tree}}").strip()
    changed = box.changed_between(base_tree, box.snapshot())
    assert changed == ["caf\u00e9.txt", 'quote".txt', "with space.md"]


def test_a_nul_in_a_commit_message_is_a_tool_error(box):
    call(box, "write_file", path="a.txt", content="a")
    result = call(box, "git_commit", message="fix\x00evil")
    assert result.is_error and "NUL" in result.content
    assert box.git("status", "--porcelain").strip() == "?? a.txt"


def test_a_git_command_that_takes_too_long_is_stopped(box, monkeypatch):
    monkeypatch.setattr(sandbox_module, "GIT_TIMEOUT_S", 0.0)
    with pytest.raises(GitError, match="took longer than"):
        box.git("status")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_git_runs_in_its_own_session_so_ctrl_c_does_not_reach_it(box):
    # A shell alias prints the session id of the process git started.
    out = box.git("-c", "alias.stat=!cat /proc/self/stat", "stat")
    session = int(out.rsplit(")", 1)[1].split()[3])
    assert session != os.getsid(0)


def test_an_unexpected_exception_in_a_tool_becomes_a_short_tool_error(box, monkeypatch):
    def explode(_box, _args):
        raise KeyError("x" * 1_000_000)

    monkeypatch.setitem(TOOLS, "git_status", dataclasses.replace(TOOLS["git_status"], run=explode))
    result = call(box, "git_status")
    assert result.is_error and result.content.startswith("git_status failed: KeyError")
    assert len(result.content) < 300


def test_writes_are_capped_per_file_and_per_run(box, monkeypatch):
    too_big = call(box, "write_file", path="big.txt", content="x" * (MAX_FILE_BYTES + 1))
    assert too_big.is_error and f"{MAX_FILE_BYTES:,}" in too_big.content
    assert not (box.root / "big.txt").exists()
    monkeypatch.setattr(file_tools, "MAX_GROWTH_BYTES", 2_500)
    assert not call(box, "write_file", path="a.txt", content="a" * 2_000).is_error
    assert not call(box, "write_file", path="a.txt", content="b" * 2_400).is_error  # replaces
    grown = call(box, "write_file", path="b.txt", content="c" * 200)
    assert grown.is_error and "grow" in grown.content
    monkeypatch.setattr(file_tools, "MAX_GROWTH_BYTES", 1 << 20)
    monkeypatch.setattr(file_tools, "MAX_NEW_ENTRIES", 3)
    many = call(box, "write_file", path="x/y/z/new.txt", content="")
    assert many.is_error and "new files and folders" in many.content
    assert not call(box, "write_file", path="x/new.txt", content="").is_error


def test_reading_a_huge_file_reads_only_its_start(box):
    with (box.root / "huge.log").open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: a gigabyte that takes no disk
    tracemalloc.start()
    try:
        result = call(box, "read_file", path="huge.log")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not result.is_error and "only its start is shown" in result.content
    assert len(result.content) <= MAX_OUTPUT_CHARS
    assert peak < 4 << 20


def test_static_check_has_a_budget_and_reports_what_it_skipped(box, monkeypatch):
    monkeypatch.setattr(static_check, "MAX_CHECK_BYTES", 60)
    monkeypatch.setattr(static_check, "MAX_CHECK_FILE_BYTES", 20_000)
    call(box, "write_file", path="a.py", content="x = 1\n" * 5)  # 30 bytes
    call(box, "write_file", path="b.py", content="def test_b():\n    pass\n")  # 23
    call(box, "write_file", path="c.py", content="(" * 10_000)
    call(box, "write_file", path="d.py", content="x" * 20_001)
    out = call(box, "run_tests").content
    assert out.startswith("static check of 2 Python files: no syntax errors; 1 test functions")
    assert "too large to check (over 20,000 bytes): d.py (20,001 bytes)" in out
    assert "not checked (the check reads at most 60 bytes in all): c.py, src/app.py" in out
