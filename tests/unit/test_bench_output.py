"""Where `make bench` and its smoke run write their figures."""

from __future__ import annotations

from benchmarks.__main__ import ROOT, default_output


def test_a_full_run_publishes_its_figures_beside_the_benchmarks() -> None:
    assert default_output(smoke=False) == ROOT / "benchmarks" / "results" / "latest.json"


def test_a_smoke_run_leaves_the_published_figures_alone() -> None:
    # GIVEN a smoke run (tiny sizes, as `make test` runs it) WHEN it picks its output
    path = default_output(smoke=True)
    # THEN it is outside the committed results, in the stack's ignored local folder
    assert not path.is_relative_to(ROOT / "benchmarks")
    assert path.is_relative_to(ROOT / ".local")
