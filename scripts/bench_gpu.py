"""The GPU path, proved in one time-boxed run: CUDA unbatched and batched, workers sharing the GPU, the CPU.

Run from the repository root on the GPU machine; the project need not be installed there
(``scripts/tree_import.py`` makes this tree importable as ``swtts``, for the worker processes too)::

    python3 scripts/bench_gpu.py --out OUT --commit SHA [--budget-s 330] [--device cuda:0]

Phases, in this order, each in a child process with a time limit (its share of the budget, plus
what earlier phases left unused); a phase that overruns is killed with everything it started:

- ``env``: GPU, driver, CUDA, onnxruntime and its providers, CPU, packages; ``python -P -m swtts`` imports;
- ``engine``: in-process, noise off: GPU vs CPU audio, batched vs one at a time (the CPU tests'
  tolerance), and article sentences one at a time vs sorted batches on the GPU;
- ``gpu``: pipelines on the GPU (1, 2, 4 workers sharing it, batching off and on): short reply,
  article, a load test, chunks by batch size, GPU memory per worker, the audio check;
- ``cpu``: pipelines of 1, 2, 4, ... single-threaded CPU workers up to one per core: the same
  figures, to show the scaling (the load test with 2 producers a worker);
- ``baseline``: the article through in-process PiperVoice and the Piper CLI, GPU and CPU, once each.

OUT/gpu_results.json gets each phase's figures as soon as it ends, OUT/benchmarks_gpu.md the
section for docs/benchmarks.md (``<!-- gpu:start -->``), OUT/logs/PHASE.log each phase's output.
``--rehearse`` runs every step on a CPU-only machine (device cpu, small sizes);
``--report-from gpu_results.json [--output docs/benchmarks.md]`` only renders an earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.tree_import import make_swtts_importable  # noqa: E402

PHASE_SHARES = {"env": 0.04, "engine": 0.10, "gpu": 0.34, "cpu": 0.34, "baseline": 0.12}
TEARDOWN_S = {"env": 2.0, "engine": 3.0, "gpu": 12.0, "cpu": 12.0, "baseline": 3.0}
"""Time a phase keeps, before its limit, to stop what it started (its own deadline comes this much earlier)."""
KILL_GRACE_S = 5.0
"""After its limit a phase gets SIGTERM, then this long before SIGKILL."""
MIN_PHASE_S = 8.0
RESERVE_SHARE = 0.04
"""Of the budget, kept for a phase killed at its limit and for the report."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_results.json, benchmarks_gpu.md and logs/")
    parser.add_argument("--commit", help="the tree's commit (where git cannot tell: a copied tree)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="wall time of the whole run (default 330)")
    parser.add_argument("--device", default="cuda:0", help="device of the GPU phases (default cuda:0)")
    parser.add_argument("--phases", default=",".join(PHASE_SHARES), help="comma-separated subset, in run order")
    parser.add_argument("--rehearse", action="store_true", help="device cpu and small sizes (a CPU-only machine)")
    parser.add_argument(
        "--follow-up",
        action="store_true",
        help="a second, shorter run: batching-on GPU pipelines (and 4 workers off), fewer rounds, every load test",
    )
    parser.add_argument("--report-from", type=Path, help="render the markdown of an earlier run's gpu_results.json")
    parser.add_argument("--output", type=Path, help="also replace the gpu section of this markdown file")
    parser.add_argument("--phase", choices=list(PHASE_SHARES), help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    if unknown := [name for name in phases if name not in PHASE_SHARES]:
        parser.error(f"unknown phase(s) {unknown}; choose from {list(PHASE_SHARES)}")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        parser.error("--device must be cpu or cuda:N")
    shim = make_swtts_importable(ROOT)
    sys.path.insert(0, str(ROOT))
    if args.report_from:
        return render(json.loads(args.report_from.read_text()), args.report_from.parent, args.output)
    if args.out is None:
        parser.error("--out is required")
    if args.phase:
        return run_child(args)
    try:
        return run(args, phases, shim)
    finally:
        if shim is not None:
            shutil.rmtree(shim, ignore_errors=True)


def run(args: argparse.Namespace, phases: list[str], shim: Path | None) -> int:
    """Every phase in turn, each with its time limit; results and markdown rewritten after each."""
    from scripts import gpu_report
    from scripts.report import git_commit

    started = time.time()
    end = started + args.budget_s * (1 - RESERVE_SHARE)
    out: Path = args.out
    (out / "phases").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="swtts-bench-gpu-"))
    commit = args.commit or git_commit()
    results: dict[str, Any] = {
        "meta": {
            "commit": commit,
            "date": date.today().isoformat(),
            "budget_s": args.budget_s,
            "device": args.device,
            "rehearse": args.rehearse,
            "follow_up": args.follow_up,
            "swtts_from": f"shim {shim}" if shim else "installed",
        },
        "phases": {},
    }
    say(
        started,
        f"budget {args.budget_s:g} s; phases {', '.join(phases)}; commit {commit}; swtts {results['meta']['swtts_from']}",
    )
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        for position, name in enumerate(phases):
            remaining = sum(PHASE_SHARES[n] for n in phases[position:])
            limit = (end - time.time()) * PHASE_SHARES[name] / remaining
            results["phases"][name] = {"status": "skipped", "limit_s": limit, "error": f"only {limit:.0f} s left"}
            if limit >= MIN_PHASE_S:
                results["phases"][name] = {"status": "interrupted", "limit_s": limit}
                try:
                    results["phases"][name] = run_phase(args, name, limit, scratch)
                finally:  # a run stopped from outside (SIGTERM) still keeps what this phase had written
                    phase_file = out / "phases" / f"{name}.json"
                    results[name] = json.loads(phase_file.read_text()) if phase_file.exists() else {}
                    results["meta"]["wall_s"] = time.time() - started
                    render(results, out, None)
            info = results["phases"][name]
            detail = gpu_report.summary(name, results) if name in results else ""
            say(started, f"{name:<8} {info['status']:<9} {info.get('wall_s', 0):5.0f}/{limit:3.0f} s  {detail}")
            if info.get("error"):
                say(started, f"{name:<8} error: {info['error']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print((out / "benchmarks_gpu.md").read_text())
    say(started, f"wrote {out / 'gpu_results.json'} and {out / 'benchmarks_gpu.md'}")
    return 0


def run_phase(args: argparse.Namespace, name: str, limit: float, scratch: Path) -> dict[str, Any]:
    """One phase in a child process (its own process group), killed with all it started at ``limit``."""
    started = time.time()
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--out", str(args.out)]
    command += ["--deadline", str(started + limit - TEARDOWN_S[name]), "--scratch", str(scratch)]
    command += ["--device", args.device] + (["--rehearse"] if args.rehearse else [])
    command += ["--follow-up"] if args.follow_up else []
    log = args.out / "logs" / f"{name}.log"
    with open(log, "wb") as handle:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        status = "ok"
        try:
            if child.wait(timeout=limit):
                status = "failed"
        except subprocess.TimeoutExpired:
            status = "timed out"
        finally:
            _stop_group(child)
    info: dict[str, Any] = {"status": status, "limit_s": limit, "wall_s": time.time() - started, "log": str(log)}
    try:
        error = json.loads((args.out / "phases" / f"{name}.json").read_text()).get("error")
    except (OSError, ValueError):
        error = None
    if status == "timed out":
        info["error"] = f"killed at its {limit:.0f} s limit" + (f" after: {error}" if error else "")
    elif status != "ok":
        info["error"] = error or _last_line(log)
    return info


def run_child(args: argparse.Namespace) -> int:
    """``--phase NAME``: run one phase (in the process :func:`run_phase` started)."""
    import logging
    import traceback

    from scripts.gpu_phases import Phase, make_plan, phase_baseline, phase_engine, phase_env
    from scripts.gpu_pipelines import phase_cpu, phase_gpu

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    phases = {"env": phase_env, "engine": phase_engine, "gpu": phase_gpu, "cpu": phase_cpu, "baseline": phase_baseline}
    phase = Phase(
        make_plan(args.device, args.rehearse, args.follow_up),
        args.deadline,
        args.out / "phases" / f"{args.phase}.json",
        args.scratch,
    )
    phase.put("started", time.time())
    try:
        phases[args.phase](phase)
    except Exception as exc:
        traceback.print_exc()
        phase.put("error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
        return 1
    finally:
        phase.put("wall_s", time.time() - phase.data["started"])
    return 0


def render(results: dict[str, Any], out: Path, output: Path | None) -> int:
    """Write gpu_results.json and benchmarks_gpu.md to ``out`` (and the gpu section of ``output``)."""
    from scripts import gpu_report
    from scripts.report import replace_section

    text = gpu_report.markdown(results)
    partial = out / "gpu_results.json.tmp"
    partial.write_text(json.dumps(results, indent=1, default=str))
    partial.replace(out / "gpu_results.json")
    (out / "benchmarks_gpu.md").write_text(text)
    if output is not None:
        replace_section(output, "gpu", text)
    return 0


def say(started: float, line: str) -> None:
    print(f"[bench_gpu {time.time() - started:5.0f}s] {line}", flush=True)


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's whole process group, SIGKILL after a grace period (nothing is left behind)."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:  # the group outlives its leader until its last member exits
                os.killpg(child.pid, 0)
                time.sleep(0.1)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
