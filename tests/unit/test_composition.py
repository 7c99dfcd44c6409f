"""How the composition root configures the AWS clients the functions use."""

from __future__ import annotations

from realtime_chat.composition import dynamodb_config


def test_a_streaming_replys_dynamodb_calls_give_up_within_about_three_seconds() -> None:
    # GIVEN the reply's client (its checkpoints and connection reads run between its
    # chunks, on the thread that sends them)
    config = dynamodb_config(streaming=True)
    # THEN a hung endpoint holds the reply's chunks and its stop for at most ~3 s
    attempts = config.retries["total_max_attempts"]
    assert attempts * (config.connect_timeout + config.read_timeout) <= 6
    assert attempts * config.read_timeout <= 3
