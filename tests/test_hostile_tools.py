"""Every hostile call from `hostile_calls.py` against a fresh sandbox: it must give a
tool result (an error, or a harmless success where that is the right answer), quickly,
leave everything outside the workspace as it was, and leave the repository usable for
the runner's bookkeeping (snapshots and commit records)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hostile_calls import (
    CALL_SECONDS,
    FILES,
    HOSTILE_CALLS,
    HostileCall,
    make_canary,
    prepare,
    tree_state,
)

from stickiness.agents.sandbox import Sandbox
from stickiness.agents.tools import MAX_OUTPUT_CHARS, execute


@pytest.fixture
def scratch(tmp_path):
    """A folder for a sandbox and its canary. A hundred repositories are made and removed
    here, ten times faster on a RAM disk (removing a folder on disk can take ms)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="hostile-tools-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def workspace(scratch, monkeypatch):
    # Sandboxes are made in the temporary folder: here, next to the canary.
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    canary = make_canary(scratch)
    with Sandbox(dict(FILES)) as box:
        yield box, canary


@pytest.mark.parametrize("hostile", HOSTILE_CALLS, ids=[c.id for c in HOSTILE_CALLS])
def test_hostile_call_is_answered_and_contained(workspace, scratch, hostile: HostileCall):
    box, canary = workspace
    prepare(box.root, canary, hostile.setup)
    box.baseline = box.usage()
    if hostile.dirty:
        (box.root / "dirty.txt").write_text("a change to commit\n")
    base = box.head()
    config = (box.root / ".git" / "config").read_bytes()
    outside = {box.root, box.remote, box.root.parent / "snapshot.index"}
    before = tree_state(scratch, outside)

    started = time.monotonic()
    result = execute(box, hostile.tool, hostile.raw_arguments(canary))
    elapsed = time.monotonic() - started

    assert result.is_error == (hostile.expect == "error"), result.content[:500]
    assert hostile.says in result.content, result.content[:500]
    assert len(result.content) <= MAX_OUTPUT_CHARS + 100
    assert elapsed < CALL_SECONDS, f"took {elapsed:.1f} s"
    assert tree_state(scratch, outside) == before
    assert (canary / "secret.txt").read_text() == "top secret\n"
    assert (box.root / ".git" / "config").read_bytes() == config
    assert not (box.root / ".git" / "hooks").exists()
    # The runner reads every turn back from git: that must still work.
    box.snapshot()
    commits = box.commits_since(base)
    assert [c.sha for c in commits] == box.git("rev-list", "--reverse", f"{base}..HEAD").split()


def test_the_list_is_large_and_its_ids_unique():
    ids = [c.id for c in HOSTILE_CALLS]
    assert len(ids) == len(set(ids)) >= 40
    assert sum(c.expect == "error" for c in HOSTILE_CALLS) >= 40
