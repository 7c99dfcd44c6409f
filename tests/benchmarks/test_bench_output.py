"""Where `make bench` and its smoke run write their figures, and which figures it judges."""

from __future__ import annotations

from benchmarks.__main__ import BUDGETS, ROOT, default_output, missed_budgets


def test_a_full_run_publishes_its_figures_beside_the_benchmarks() -> None:
    assert default_output(smoke=False) == ROOT / "benchmarks" / "results" / "latest.json"


def test_a_smoke_run_leaves_the_published_figures_alone() -> None:
    # GIVEN a smoke run (tiny sizes, as `make test` runs it) WHEN it picks its output
    path = default_output(smoke=True)
    # THEN it is outside the committed results, in the stack's ignored local folder
    assert not path.is_relative_to(ROOT / "benchmarks")
    assert path.is_relative_to(ROOT / ".local")


def test_only_counts_and_ratios_are_judged_never_this_machines_latency() -> None:
    # GIVEN a run on a slow machine that lost a ping and grew slower with stored data
    figures = {
        "ping_p50_ms": 50.0,
        "load_ack_p50_ms": 5_000.0,
        "load_first_chunk_p50_ms": 9_000.0,
        "stop_p50_ms": 4_000.0,
        "pings_lost": 1.0,
        "ack_stored_vs_empty_p50": 1.6,
        "first_chunk_stored_vs_empty_p50": 1.5,
    }
    # WHEN it is judged, THEN only the count and the ratio over their budgets missed
    assert missed_budgets(figures) == ["pings_lost", "ack_stored_vs_empty_p50"]


def test_no_latency_of_the_local_emulator_has_a_budget() -> None:
    latencies = {
        "ping_p50_ms",
        "load_ack_p50_ms",
        "load_ack_p99_ms",
        "load_first_chunk_p50_ms",
        "connect_p99_ms",
        "stop_p50_ms",
        "join_p50_ms",
    }
    assert not latencies & {name for name, _ in BUDGETS}
