"""The scale model's arithmetic (benchmarks/scale_model.py): batch fill, posts per
answer from the reply's own coalescing, and the goals of the reply path at the
workload's sizes, computed from the committed bench results."""

from __future__ import annotations

from benchmarks.scale_model import (
    DEPLOYED,
    Workload,
    batch_fill,
    load_inputs,
    ours,
    posts_per_answer,
    row,
)


def test_without_a_cap_or_below_it_a_batch_holds_one_answer() -> None:
    assert batch_fill(8_400, None, 10) == 1.0
    assert batch_fill(84, 900, 10) == 1.0


def test_at_the_cap_each_invocation_takes_what_arrived_while_it_streamed_up_to_a_batch() -> None:
    assert batch_fill(8_400, 900, 10) == 8_400 / 900
    assert batch_fill(84_000, 900, 10) == 10.0


def test_a_six_second_answer_is_at_most_20_posts_with_its_acknowledgement_and_final_frame() -> None:
    # GIVEN the template's coalescing WHEN 300 tokens arrive at 50 a second
    chunks = posts_per_answer(300, 6.0)
    # THEN the chunks, the acknowledgement and the final frame are at most 20 posts
    assert 2 + chunks <= 20
    # AND a fixed 100 ms interval would have posted about three times as many
    assert posts_per_answer(300, 6.0, max_interval=DEPLOYED.chunk_seconds) >= 3 * chunks - 3


def test_the_reply_paths_goals_hold_at_1k_and_100k_connections() -> None:
    inputs, workload = load_inputs(), Workload()
    design = ours(inputs["figures"], workload)
    small, large = row(1_000, design, workload, inputs), row(100_000, design, workload, inputs)
    assert small.cost_per_1000_turns <= 0.05
    assert large.cost_per_1000_turns <= 0.04
    assert large.concurrency_reply <= 1_000
