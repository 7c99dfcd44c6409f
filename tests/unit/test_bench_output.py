"""Where `make bench` and its smoke run write their figures, and how it judges the ping."""

from __future__ import annotations

from benchmarks.__main__ import ROOT, default_output, why_the_ping_missed
from benchmarks.stack_figures import QUIET_RELAY_VS_ECHO, quietest_ping


def test_a_full_run_publishes_its_figures_beside_the_benchmarks() -> None:
    assert default_output(smoke=False) == ROOT / "benchmarks" / "results" / "latest.json"


def test_a_smoke_run_leaves_the_published_figures_alone() -> None:
    # GIVEN a smoke run (tiny sizes, as `make test` runs it) WHEN it picks its output
    path = default_output(smoke=True)
    # THEN it is outside the committed results, in the stack's ignored local folder
    assert not path.is_relative_to(ROOT / "benchmarks")
    assert path.is_relative_to(ROOT / ".local")


def _attempt(ping: float, relay: float, *, echo: float = 0.3) -> dict[str, float]:
    return {
        "ping_p50_ms": ping * echo,
        "echo_p50_ms": echo,
        "ping_vs_echo_p50": ping,
        "relay_p50_ms": relay * echo,
        "relay_vs_echo_p50": relay,
        "ping_cpu_stolen_percent": 20.0 if relay > QUIET_RELAY_VS_ECHO else 1.0,
    }


def test_the_ping_is_judged_on_the_attempt_whose_control_was_fastest() -> None:
    # GIVEN three ping attempts: the fastest ping is not in the one with the fastest
    # relay, and the lowest relay ratio comes from an echo that ran slow
    attempts = [
        _attempt(2.1, 1.6),  # relay 0.48 ms
        _attempt(2.4, 1.18),  # relay 0.354 ms
        _attempt(1.9, 1.1, echo=0.5),  # relay 0.55 ms
    ]
    # WHEN the figures are taken from them
    figures = quietest_ping(attempts)
    # THEN the relay's own time chooses, never the ping nor the shared echo
    assert figures["ping_vs_echo_p50"] == 2.4 and figures["relay_vs_echo_p50"] == 1.18
    assert figures["ping_p50_ms"] == 2.4 * 0.3
    # AND every attempt stays in the record
    assert figures["ping_attempts"] == 3
    assert [figures[f"ping_attempt_{n}_vs_echo_p50"] for n in (1, 2, 3)] == [2.1, 2.4, 1.9]
    assert [figures[f"ping_attempt_{n}_relay_vs_echo_p50"] for n in (1, 2, 3)] == [1.6, 1.18, 1.1]


def test_a_missed_ping_says_whether_the_host_or_the_gateway_was_slow() -> None:
    # GIVEN a missed ping whose control was slow in every attempt
    busy = quietest_ping([_attempt(4.0, 1.9), _attempt(3.1, 1.5)])
    # THEN the message points at the host, with the control's figure and the stolen CPU
    said = why_the_ping_missed(busy)
    assert "1.50x the echo" in said and "fastest of 2" in said and "20 %" in said
    assert "likely the host's" in said
    # GIVEN a missed ping whose control was quiet THEN it blames the gateway
    quiet = quietest_ping([_attempt(2.7, 1.2)])
    assert "the gateway itself was slow" in why_the_ping_missed(quiet)
    # GIVEN a machine without /proc/stat THEN the message leaves the stolen CPU out
    unknown = quiet | {"ping_cpu_stolen_percent": float("nan")}
    assert "fastest of 1)" in why_the_ping_missed(unknown)
    assert "nan" not in why_the_ping_missed(unknown)
