"""Runs per second with the local executor and with Ray at 1, 2 and 4 worker processes.

  python benchmarks/ray_scaling.py [--runs 128] [--concurrency 32] [--latency 0.2]
                                   [--workers 1 2 4] [--repeats 1]

Needs Ray: pip install 'stickiness[ray]'.

The work: `--runs` runs of a 4-turn scenario (two model calls per turn) through the
real pipeline (SDK, LangGraph loop, tools, git sandbox) against a local server speaking
the OpenAI wire format, in a process of its own, which adds `--latency` seconds to each
reply. The same plan, at the same `--concurrency`, is played by the local thread pool
and by a Ray started on this machine with 1, 2 and 4 worker processes (each worker
plays its share of the concurrency on threads); the driver records every run as it
does for `stickiness run --executor ray`. Measurements alternate (local, ray 1, ray 2,
...) and the table shows medians over `--repeats`.

Printed per executor: wall time of the plan (workers already started), runs/s, the
ratio to the ideal (calls per run x latency x ceil(runs / concurrency)), the time to
start and check the workers, CPU per run of the driver and of the workers, and the
time Ray adds to each run: (wall - local wall) x concurrency / runs. Then the ceilings
these figures set on a real cluster.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from concurrency_latency import _serve, scenario  # noqa: E402

from stickiness.agents.models import ModelSpec  # noqa: E402
from stickiness.agents.runner import RunOptions, plan_runs  # noqa: E402
from stickiness.agents.scheduler import run_all  # noqa: E402


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _workers_cpu(executor) -> float:
    import psutil  # a dependency of Ray's

    total = 0.0
    for worker in executor.workers:
        try:
            proc = psutil.Process(worker.pid)
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except (psutil.Error, TypeError):
            pass
    return total


def measure(label: str, workers: int | None, specs, concurrency: int, folder: Path) -> dict:
    from stickiness.agents.ray_executor import RayExecutor, RaySettings

    executor = RayExecutor(RaySettings(workers=workers)) if workers else None
    options = RunOptions()
    start = 0.0
    if executor is not None:
        t = time.perf_counter()
        executor.prepare(specs, options, concurrency)
        start = time.perf_counter() - t
    out = folder / f"{label}-{time.monotonic_ns()}.jsonl"
    # The workers' CPU until now (their imports, the check) is not the plan's.
    worker_before = _workers_cpu(executor) if executor else 0.0
    cpu = _cpu()
    t = time.perf_counter()
    try:
        done = run_all(specs, out, options, concurrency=concurrency, executor=executor)
        wall = time.perf_counter() - t
        driver = _cpu() - cpu
        worker = _workers_cpu(executor) - worker_before if executor else 0.0
    finally:
        if executor is not None:
            executor.close()
    failed = sum(r.status != "ok" for r in done)
    if failed or len(done) != len(specs):
        raise SystemExit(f"{label}: {failed} failed, {len(done)} of {len(specs)} recorded")
    return {"wall": wall, "start": start, "driver": driver, "worker": worker}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    import ray

    ctx = multiprocessing.get_context("spawn")
    port_rx, port_tx = ctx.Pipe(duplex=False)
    calls_rx, calls_tx = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(args.latency, port_tx, calls_tx, stop), daemon=True)
    server.start()
    t = time.perf_counter()
    # Logical CPUs enough for the largest pool: the workers' threads wait on sockets.
    ray.init(
        num_cpus=max(args.workers),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    ray_start = time.perf_counter() - t
    results: dict[str, list[dict]] = {}
    try:
        url = f"http://127.0.0.1:{port_rx.recv()}/v1"
        spec = ModelSpec.parse(f"openai:bench?key_env=none&base_url={url}")
        with tempfile.TemporaryDirectory() as tmp:
            sc = scenario(Path(tmp))
            specs = plan_runs([sc], [spec], args.runs)
            # One unmeasured run of each kind: imports and first-use costs.
            measure("warm-local", None, specs[:1], 1, Path(tmp))
            measure("warm-ray", 1, specs[:1], 1, Path(tmp))
            labels = [("local", None)] + [(f"ray {k}", k) for k in args.workers]
            for _ in range(args.repeats):
                for label, workers in labels:
                    found = measure(label, workers, specs, args.concurrency, Path(tmp))
                    results.setdefault(label, []).append(found)
                    print(f"  {label}: {found['wall']:.1f} s", flush=True)
    finally:
        stop.set()
        calls, _ = calls_rx.recv()
        server.join(timeout=10)
        ray.shutdown()
    report(args, results, calls, ray_start)


def report(args, results: dict[str, list[dict]], calls: int, ray_start: float) -> None:
    runs, concurrency = args.runs, args.concurrency
    measured = sum(len(v) for v in results.values())
    per_run = calls / (runs * measured + 2)  # the two warm-up runs included
    ideal = round(per_run) * args.latency * math.ceil(runs / concurrency)
    median = {
        label: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        for label, rows in results.items()
    }
    local = median["local"]["wall"]
    print(
        f"\n{runs} runs x 4 turns ({round(per_run)} model calls each) at concurrency "
        f"{concurrency}, {args.latency * 1000:.0f} ms per reply; {os.cpu_count()} cores; "
        f"Ray {ray_version()}, started in {ray_start:.1f} s; medians of {args.repeats}"
    )
    head = (
        f"{'executor':<9} {'wall s':>7} {'runs/s':>7} {'x ideal':>8} {'start s':>8} "
        f"{'driver ms/run':>14} {'workers ms/run':>15} {'added ms/run':>13}"
    )
    print(head)
    print("-" * len(head))
    for label, m in median.items():
        added = (m["wall"] - local) * concurrency / runs * 1000
        print(
            f"{label:<9} {m['wall']:>7.1f} {runs / m['wall']:>7.1f} {m['wall'] / ideal:>8.2f} "
            f"{m['start']:>8.1f} {m['driver'] / runs * 1000:>14.1f} "
            f"{(m['worker'] / runs * 1000 if m['worker'] else float('nan')):>15.1f} "
            f"{('' if label == 'local' else f'{added:+.0f}'):>13}"
        )
    ray_rows = [m for label, m in median.items() if label != "local"]
    if ray_rows:
        driver = statistics.median(m["driver"] / runs for m in ray_rows)
        worker = statistics.median(m["worker"] / runs for m in ray_rows if m["worker"])
        run_time = round(per_run) * args.latency
        print(
            "\nCeilings on a cluster, from these figures: the driver records a run for "
            f"{driver * 1000:.1f} ms of its CPU, at most {1 / driver:.0f} runs/s; a worker "
            f"process spends {worker * 1000:.0f} ms of CPU per run (its interpreter's lock "
            f"bounds it near {1 / worker:.0f} runs/s); a run takes {run_time:.1f} s of "
            "model latency here, so runs/s ~ min(concurrency / run time, workers x "
            f"{1 / worker:.0f}, {1 / driver:.0f}, the provider's limit)."
        )


def ray_version() -> str:
    import ray

    return ray.__version__


if __name__ == "__main__":
    main()
