"""kill -9, a full disk and two writers at once: resume always finishes the run folder
with no torn or glued line, no run twice, and no finished run lost.

1. A chain of `stickiness run` / `--resume` processes on one folder, each killed with
   SIGKILL (the whole process group, git children included) at a seeded random moment.
   A kill rarely lands inside the one write() of a line, so every other kill also
   leaves what such a kill leaves: a random prefix of a record at the end of the file.
   After every kill: every finished run recorded so far is still there. Then one
   resume to completion.
2. A full disk: the run folder on a 256 KiB tmpfs (needs root to mount; skipped
   otherwise). The run stops with a clear error; after the tmpfs is enlarged, resume
   finishes.
3. Two `--resume` on one folder at once: one is refused, the other finishes.

    python benchmarks/crash_recovery.py [--kills 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.scenarios import builtin_scenario_dir

SCENARIOS = (
    "commit-never-then-edits",
    "commit-once-then-edits",
    "commit-then-revoke",
    "commit-standing",
)
# Large enough that every kill of the chain lands while runs are still being played.
REPEATS = 30
PLAN = ["--model", "sim:steady", "--model", "sim:sticky", "--repeats", str(REPEATS)]
PLANNED = len(SCENARIOS) * 2 * REPEATS


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stickiness.reports.cli", *args]


def _env(tmp: Path) -> dict:
    return os.environ | {"TMPDIR": str(tmp)}


def _start(args: list[str], tmp: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        _command(*args, "--draws", "200"),
        env=_env(tmp),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(folder: Path, tmp: Path, work: Path) -> subprocess.CompletedProcess:
    """`--resume` to the end."""
    return subprocess.run(
        _command("run", "--resume", str(folder), "--draws", "200"),
        env=_env(tmp),
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )


def _kill_later(proc: subprocess.Popen, out: Path, delay: float) -> None:
    """SIGKILL the process group `delay` seconds after its runs began (it holds the run
    folder's lock), or leave it be if it finished first."""
    lock = out.with_name(out.name + ".lock")

    def holding() -> bool:
        try:
            return lock.read_text().split()[0] == str(proc.pid)
        except (OSError, IndexError):
            return False

    deadline = time.monotonic() + 120
    while not holding() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _lines(path: Path) -> tuple[list[str], bool]:
    """Run ids of whole lines, and whether the file ends in an unfinished line."""
    if not path.exists():
        return [], False
    data = path.read_bytes()
    torn = bool(data) and not data.endswith(b"\n")
    whole = data.rsplit(b"\n", 1)[0] if torn else data
    ids = []
    for line in whole.splitlines():
        if line.strip():
            ids.append(line.split(b'"run_id":"', 1)[1].split(b'"', 1)[0].decode())
    return ids, torn


def _check_final(path: Path) -> dict:
    try:
        runs, warnings = read_trajectories(path)
        bad = 0
    except TrajectoryError as exc:
        print(f"  unreadable: {exc}")
        runs, warnings, bad = [], [], 1
    ids = [r.run_id for r in runs]
    return {
        "runs": len(runs),
        "torn or glued lines": bad + len(warnings),
        "duplicated": len(ids) - len(set(ids)),
        "ok": sum(r.status == "ok" for r in runs),
        "ids": set(ids),
    }


def kill_chain(kills: int, rng: random.Random, work: Path, scenarios: Path) -> None:
    tmp = work / "tmp"
    tmp.mkdir()
    folder = work / "chain"
    out = folder / "trajectories.jsonl"
    seen: set[str] = set()
    lost = torn_made = left_behind = 0
    for k in range(kills):
        first = k == 0
        args = ["run", *PLAN, "--scenarios", str(scenarios), "--out", str(folder)]
        proc = _start(args if first else ["run", "--resume", str(folder)], tmp, work)
        _kill_later(proc, out, rng.uniform(0.0, 1.5))
        left_behind = max(left_behind, len(list(tmp.glob("stickiness-*"))))
        ids, torn = _lines(out)
        lost += len(seen - set(ids))
        seen |= set(ids)
        if not torn and ids and rng.random() < 0.5:
            # What a kill inside the write of a line leaves: a prefix of a record.
            record = out.read_bytes().splitlines()[-1]
            with open(out, "ab") as fh:
                fh.write(record[: rng.randrange(1, len(record))])
            torn_made += 1
        print(f"  kill {k + 1:2d}: {len(ids):3d} runs recorded; the kill tore a line: {torn}")
    done = _finish(folder, tmp, work)
    final = _check_final(out)
    lost += len(seen - final["ids"])
    set_aside = folder / "trajectories.jsonl.torn"
    fragments = set_aside.read_bytes().count(b"\n") if set_aside.exists() else 0
    print(
        f"kill -9 x {kills} ({torn_made} with a torn last write): final resume exit "
        f"{done.returncode}; {final['runs']}/{PLANNED} runs, {final['ok']} ok; torn or glued "
        f"lines {final['torn or glued lines']}; duplicated {final['duplicated']}; finished "
        f"runs lost {lost}; torn tails set aside {fragments}; sandboxes left after a kill "
        f"(most) {left_behind}, after the final resume {len(list(tmp.glob('stickiness-*')))}"
    )


def full_disk(work: Path, scenarios: Path) -> None:
    mount = work / "small-disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode:
        print(f"full disk: skipped (cannot mount a tmpfs: {made.stderr.strip()})")
        return
    try:
        tmp = work / "tmp-disk"
        tmp.mkdir()
        folder = mount / "run"
        args = ["run", *PLAN, "--scenarios", str(scenarios), "--out", str(folder)]
        first = subprocess.run(
            _command(*args), env=_env(tmp), cwd=work, capture_output=True, text=True, check=False
        )
        before, torn = _lines(folder / "trajectories.jsonl")
        message = first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ""
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        resumed = _finish(folder, tmp, work)
        final = _check_final(folder / "trajectories.jsonl")
        print(
            f"full disk: first run exit {first.returncode} after {len(before)} runs, torn tail "
            f"{torn}, traceback {'Traceback' in first.stderr}; message: {message[:160]}"
        )
        print(
            f"  after making room, resume exit {resumed.returncode}: {final['runs']}/{PLANNED} "
            f"runs, torn or glued {final['torn or glued lines']}, duplicated "
            f"{final['duplicated']}, finished runs lost {len(set(before) - final['ids'])}"
        )
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def two_resumes(work: Path, scenarios: Path) -> None:
    tmp = work / "tmp-two"
    tmp.mkdir()
    folder = work / "two"
    proc = _start(["run", *PLAN, "--scenarios", str(scenarios), "--out", str(folder)], tmp, work)
    _kill_later(proc, folder / "trajectories.jsonl", 1.0)
    a = _start(["run", "--resume", str(folder)], tmp, work)
    b = _start(["run", "--resume", str(folder)], tmp, work)
    (_, err_a), (_, err_b) = a.communicate(), b.communicate()
    codes = sorted([a.returncode, b.returncode])
    refused = [e for e in (err_a, err_b) if "another stickiness process" in e]
    final = _check_final(folder / "trajectories.jsonl")
    print(
        f"two resumes at once: exit codes {codes}, refused {len(refused)} "
        f"({refused[0].strip()[:120] if refused else '-'}); final {final['runs']}/{PLANNED} "
        f"runs, duplicated {final['duplicated']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="crash-bench-") as tmp:
        work = Path(tmp)
        scenarios = work / "scenarios"
        scenarios.mkdir()
        for sid in SCENARIOS:
            shutil.copy(builtin_scenario_dir() / f"{sid}.yaml", scenarios)
        kill_chain(args.kills, rng, work, scenarios)
        full_disk(work, scenarios)
        two_resumes(work, scenarios)


if __name__ == "__main__":
    main()
