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


def test_many_accounts_benchmark_prints_its_figures():
    lines = run("bench.many_accounts", "3", "2", "20", "1").splitlines()
    assert lines[0] == ("3 OKX accounts × 2 positions, 20 ms latency, take-profit every 1 s, "
                        "1 s measured")
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "first answer (/positions, sent at the start) on the first start, new database",
        "first answer (/positions, sent at the start) on the restart",
        "/positions over every account",
        "take-profit runs skipped", "p99 interval between one account's position reads",
        "peak RSS of the bot"]


def test_reaction_benchmark_reacts_to_every_crossing():
    lines = run("bench.reaction", "5", "3").splitlines()
    assert [line.split(",")[2].split(" (")[0].strip() for line in lines] == [
        "streams", "polling alone"]
    assert all(", 3 crossings: p50 " in line for line in lines)


def test_cluster_benchmark_counts_what_each_process_serves(postgres):
    # (the postgres fixture: skipped on a machine without PostgreSQL, failed under CI)
    lines = run("bench.cluster", "6", "20", "2", "2").splitlines()
    assert lines[0].startswith("6 OKX accounts × 2 positions, 20 ms latency")
    assert lines[1].startswith("  2 processes: ")
    per_process = lines[1].split("(per process: ")[1].rstrip(")").split(", ")
    assert len(per_process) == 2 and all(p.endswith(" of 3") for p in per_process)
