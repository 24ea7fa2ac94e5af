"""Hand-built trajectories with known events, for analysis and report tests."""

from __future__ import annotations

from agents.trajectory import CommitRecord, Trajectory, TurnRecord


def turn(
    n: int, *, requests=(), forbids=(), commits=0, changed=("a.py",), text="do it", messages=None
) -> TurnRecord:
    return TurnRecord(
        turn=n,
        user=text,
        phrasing=0,
        requests=list(requests),
        forbids=list(forbids),
        messages=messages or [],
        commits=[
            CommitRecord(sha=f"{n:040x}", message=f"commit {n}", files=["a.py"])
            for _ in range(commits)
        ],
        files_changed=list(changed),
    )


def trajectory(
    run_id: str,
    turns: list[TurnRecord],
    *,
    model="sim:test",
    scenario="s1",
    arm="treatment",
    status="ok",
    repeat=0,
) -> Trajectory:
    return Trajectory(
        run_id=run_id,
        scenario=scenario,
        scenario_file=f"{scenario}.yaml",
        scenario_sha256="0" * 64,
        title=scenario,
        behaviour="commit",
        arm=arm,
        kind="one-off" if arm == "treatment" else "control",
        model=model,
        simulated=True,
        harness="minimal",
        system_prompt="",
        seed=1,
        repeat=repeat,
        started_at="2026-01-01T00:00:00",
        finished_at="2026-01-01T00:00:01",
        status=status,
        turns=turns,
    )
