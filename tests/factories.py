"""Hand-built trajectories with known events, for analysis and report tests."""

from __future__ import annotations

from stickiness.agents.trajectory import CommitRecord, PushRecord, Trajectory, TurnRecord


def turn(
    n: int,
    *,
    requests=(),
    forbids=(),
    requires=(),
    commits=0,
    pushes=0,
    changed=("a.py",),
    text="do it",
    reply="",
    tools=(),
    diff="",
    unpushed=0,
    messages=None,
) -> TurnRecord:
    if messages is None:
        calls = [
            {"id": f"t{n}_{i}", "name": name, "arguments": "{}"} for i, name in enumerate(tools)
        ]
        messages = [{"role": "assistant", "content": reply, "tool_calls": calls}]
    return TurnRecord(
        turn=n,
        user=text,
        phrasing=0,
        requests=list(requests),
        forbids=list(forbids),
        requires=list(requires),
        messages=messages,
        commits=[
            CommitRecord(sha=f"{n:040x}", message=f"commit {n}", files=["a.py"])
            for _ in range(commits)
        ],
        pushes=[
            PushRecord(ref="refs/heads/main", old="a" * 40, new="b" * 40) for _ in range(pushes)
        ],
        files_changed=list(changed),
        diff=diff,
        unpushed_before=unpushed,
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
    behaviour="commit",
    family=None,
    kind=None,
    control=None,
    detectors=(),
    scenario_file=None,
) -> Trajectory:
    return Trajectory(
        run_id=run_id,
        scenario=scenario,
        scenario_file=scenario_file or f"{scenario}.yaml",
        scenario_sha256="0" * 64,
        title=scenario,
        behaviour=behaviour,
        family=family or behaviour,
        detectors=list(detectors),
        arm=arm,
        kind=kind or ("one-off" if arm == "treatment" else "control"),
        control=control,
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


def three_scenario_runs(model: str, carries, forgets, repeats: int = 4) -> list[Trajectory]:
    """A one-off treatment `s1`, its control `c` and a standing-rule scenario `s` per
    repeat; `carries(i)` / `forgets(i)` say whether run i commits unasked at turn 2 /
    breaks the standing rule."""
    runs = []
    for i in range(repeats):
        runs.append(
            trajectory(
                f"{model}-t{i}",
                [
                    turn(1, requests=["commit"], commits=1),
                    turn(2, commits=int(carries(i))),
                    turn(3),
                ],
                model=model,
                control="c",
                repeat=i,
            )
        )
        runs.append(
            trajectory(
                f"{model}-c{i}",
                [turn(1), turn(2), turn(3)],
                model=model,
                scenario="c",
                arm="control",
                repeat=i,
            )
        )
        runs.append(
            trajectory(
                f"{model}-s{i}",
                [turn(1, requires=["commit"], commits=1), turn(2, commits=int(not forgets(i)))],
                model=model,
                scenario="s",
                kind="standing",
                control="c",
                repeat=i,
            )
        )
    return runs
