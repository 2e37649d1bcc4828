"""The benchmark scripts still run and report what they measure (their timings are read by
people, not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(module: str) -> str:
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
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
