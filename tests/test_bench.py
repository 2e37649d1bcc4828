"""The benchmark scripts still run and report what they measure (their timings are read by
people, not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(module: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_paper_engine_benchmark_runs():
    assert run("bench.paper_engine").startswith(
        "10000 mark updates, 50 positions, 100 resting orders")


def test_rules_benchmark_counts_one_venue_call_per_quiet_run():
    lines = run("bench.rules").splitlines()
    assert lines[0].startswith("rules over 10000 positions: ")
    assert lines[1:] == [
        "venue calls per run, account main: 1 (positions) (target 1)",
        "venue calls per run, account sub1: 1 (positions) (target 1)"]


def test_maintain_latency_benchmark_lists_the_requests_it_counts():
    lines = run("bench.maintain_latency", "5").splitlines()
    assert lines[0] == "/maintain at 5 ms latency, Confirm to final report"
    requests = int(lines[1].removeprefix("requests: ").split()[0])
    assert lines[2].startswith("wall time: ")
    assert len(lines[3:]) == requests
    assert sum(line.endswith("POST /api/v5/trade/order") for line in lines[3:]) == 3
