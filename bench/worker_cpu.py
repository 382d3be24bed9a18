"""The worker's CPU per message: `outreach worker --once` draining a fired campaign against
a counting sink (the one of bench/user_path.py), measured inside the worker process as CPU
time (`time.process_time()`, every thread) spent in `pipeline.drain`, so start-up (imports,
template checks) is left out and a busy machine does not change the figure much.

    .venv/bin/python bench/worker_cpu.py [--customers N] [--runs N] [--db sqlite|pg]
        [--profile FILE.prof] [--batch N]

With `--profile`, one more run is profiled (cProfile, the drain only), with `--spy` sampled
by py-spy (if installed; collapsed stacks, every thread); the CPU figure is taken from the
runs without them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))


def child(out: str, profile: str | None, argv: list[str]) -> None:
    """In the worker process: time `pipeline.drain`, then run the CLI."""
    import cProfile
    import os

    code = os.environ.get("WORKER_CPU_CODE")
    if code:  # another checkout's outreach package (an A/B run), ahead of the editable one
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
        sys.path.insert(0, code)

    from outreach import pipeline
    from outreach.cli.main import run

    inner = pipeline.drain

    async def timed(*args: Any, **kwargs: Any) -> pipeline.BatchReport:
        prof = cProfile.Profile() if profile else None
        c0, w0 = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        try:
            report = await inner(*args, **kwargs)
        finally:
            if prof is not None:
                prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if prof is not None and profile:
            prof.dump_stats(profile)
        sent = report.results.get("sent", 0)
        with open(out, "w") as f:  # noqa: ASYNC230 - once, after the drain
            f.write(json.dumps({"cpu": cpu, "wall": wall, "sent": sent}))
        return report

    pipeline.drain = timed  # type: ignore[assignment]
    sys.argv = ["outreach", *argv]
    sys.exit(run())


def _probe(work: Path, stop: threading.Event, waits: list[float]) -> None:
    """What an opt-out's transaction waits for while the worker sends: a small write (to a
    table of its own) every 50 ms, timed from BEGIN IMMEDIATE to its commit."""
    db = sqlite3.connect(work / "bench.sqlite3", timeout=30, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS bench_probe (at REAL)")
    while not stop.wait(0.05):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO bench_probe VALUES (?)", (t0,))
        db.execute("COMMIT")
        waits.append(time.perf_counter() - t0)
    db.close()


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3] or None, sys.argv[4:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--alt", default=None, help="another checkout: its runs alternate with ours")
    ap.add_argument("--alt-batch", type=int, default=None, help="the alt runs' --batch")
    ap.add_argument(
        "--probe", action="store_true", help="SQLite: time a small write every 50 ms meanwhile"
    )
    ap.add_argument("--spy", default=None, help="py-spy raw (collapsed) stacks of the last run")
    args = ap.parse_args()
    import user_path

    work = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    port = user_path.free_port()
    sink_file = work / "sink.bin"
    sink = subprocess.Popen(
        [sys.executable, user_path.__file__, "--serve", str(port), str(sink_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    db = f"sqlite:///{work / 'bench.sqlite3'}" if args.db == "sqlite" else user_path.make_pg(work)
    try:
        site = user_path.Site(db, work / "site", port, args.customers)
        print(f"{args.db}: {site.n} messages queued", flush=True)
        cpu: dict[str, list[float]] = {"this": [], "alt": []}
        extra = 1 if args.profile or args.spy else 0
        trees = ["this", "alt"] if args.alt else ["this"]
        plan = [(i, t) for i in range(args.runs) for t in trees] + [(args.runs, "this")] * extra
        for i, tree in plan:
            profiling = bool(extra) and i == args.runs
            site.reset()
            mark = sink_file.stat().st_size if sink_file.exists() else 0
            out = work / "cpu.json"
            cmd = [sys.executable, __file__, "--child", str(out)]
            cmd += [args.profile if profiling and args.profile else ""]
            cmd += ["worker", "--once", "--json"]
            batch = args.alt_batch if tree == "alt" and args.alt_batch else args.batch
            if batch:
                cmd += ["--batch", str(batch)]
            if profiling and args.spy:
                spy = str(Path(sys.executable).with_name("py-spy"))
                cmd = [spy, "record", "-r", "250", "-f", "raw", "-o", args.spy, "--", *cmd]
            env = site.env(OUTREACH_CONFIG_DIR=str(site.lifted))
            if tree == "alt":
                env["WORKER_CPU_CODE"] = str(Path(args.alt).resolve())
            stop = threading.Event()
            waits: list[float] = []
            probe = None
            if args.db == "sqlite" and args.probe:
                probe = threading.Thread(target=_probe, args=(work, stop, waits), daemon=True)
                probe.start()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            stop.set()
            if probe is not None:
                probe.join()
            if proc.returncode != 0:
                raise SystemExit(f"worker: exit {proc.returncode}: {proc.stderr[-3000:]}")
            got = user_path.received(sink_file, mark)
            user_path.check(got, signed=False)
            r = json.loads(out.read_text())
            assert r["sent"] == site.n == len(got), (r, site.n, len(got))
            ms = r["cpu"] * 1000 / r["sent"]
            if waits:
                waits.sort()
                p95 = waits[int(len(waits) * 0.95)]
                print(
                    f"    a writer's wait for SQLite's lock: p95 {p95 * 1000:.0f} ms, "
                    f"max {waits[-1] * 1000:.0f} ms ({len(waits)} writes)"
                )
            tag = (" (profiled)" if profiling else "") + (" [alt]" if tree == "alt" else "")
            print(
                f"  run {i + 1}{tag}: {r['sent']} sent, {ms:.3f} ms CPU/message, "
                f"{r['sent'] / r['wall']:,.0f} msg/s wall",
                flush=True,
            )
            if not profiling:
                cpu[tree].append(ms)
        for tree, got_ms in cpu.items():
            if got_ms:
                print(
                    f"median CPU per message ({tree}): {statistics.median(got_ms):.3f} ms "
                    f"({len(got_ms)} runs)"
                )
        site.engine.dispose()
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=30)
        if args.db == "pg":
            user_path.drop_pg(db)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
