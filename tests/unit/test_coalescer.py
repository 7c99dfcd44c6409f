"""Coalescing tokens: the first at once, then at most one release per interval or size."""

from __future__ import annotations

from realtime_chat.coalescer import Coalescer


def test_the_first_token_is_released_at_once() -> None:
    assert Coalescer().feed("Hel", now=0.0) == "Hel"


def test_tokens_within_the_interval_are_gathered_then_released_together() -> None:
    c = Coalescer(interval=0.1)
    c.feed("a", now=0.0)
    assert c.feed("b", now=0.03) is None
    assert c.feed("c", now=0.06) is None
    assert c.feed("d", now=0.1) == "bcd"


def test_enough_text_is_released_before_the_interval() -> None:
    c = Coalescer(interval=10, max_chars=5)
    c.feed("x", now=0)
    assert c.feed("abc", now=0.01) is None
    assert c.feed("de", now=0.02) == "abcde"


def test_flush_releases_what_is_left_and_nothing_twice() -> None:
    c = Coalescer(interval=10)
    c.feed("a", now=0)
    c.feed("b", now=1)
    assert c.flush(now=2) == "b"
    assert c.flush(now=3) is None


def test_empty_deltas_are_ignored() -> None:
    c = Coalescer()
    assert c.feed("", now=0) is None
    assert c.feed("a", now=0) == "a"


def test_due_releases_gathered_text_once_the_interval_has_passed() -> None:
    c = Coalescer(interval=0.1)
    c.feed("a", now=0.0)
    c.feed("b", now=0.02)
    assert c.due(now=0.05) is None
    assert c.due(now=0.1) == "b"
    assert c.due(now=0.5) is None  # nothing gathered


def test_after_a_release_at_the_size_cap_gathering_starts_again_from_nothing() -> None:
    # GIVEN a release forced by the size cap
    c = Coalescer(interval=10, max_chars=5)
    c.feed("x", now=0)
    assert c.feed("abcde", now=0.01) == "abcde"
    # WHEN a small token follows within the interval THEN it is gathered, not posted
    assert c.feed("f", now=0.02) is None
    assert c.feed("ghij", now=0.03) == "fghij"  # the cap counts from the last release


def test_an_adaptive_interval_grows_after_each_release_up_to_its_ceiling() -> None:
    # GIVEN gathering that starts at 125 ms and doubles up to 500 ms
    c = Coalescer(interval=0.125, max_interval=0.5, growth=2)
    # THEN the first text goes at once, then gatherings of 125, 250, 500, 500 ms
    assert c.feed("a", now=0.0) == "a"
    assert c.feed("b", now=0.0625) is None
    assert c.feed("c", now=0.125) == "bc"
    assert c.feed("d", now=0.25) is None
    assert c.feed("e", now=0.375) == "de"
    assert c.feed("f", now=0.75) is None
    assert c.feed("g", now=0.875) == "fg"
    assert c.due(now=1.25) is None
    assert c.feed("h", now=1.3125) is None
    assert c.due(now=1.375) == "h"


def test_an_adaptive_interval_still_releases_early_at_the_size_cap() -> None:
    c = Coalescer(interval=0.1, max_interval=0.4, growth=4, max_chars=5)
    c.feed("a", now=0.0)
    c.feed("b", now=0.1)  # released: the next gathering is 400 ms
    assert c.feed("xyz", now=0.15) is None
    assert c.feed("uvw", now=0.2) == "xyzuvw"


def test_by_default_the_interval_does_not_grow() -> None:
    c = Coalescer(interval=0.125)
    c.feed("a", now=0.0)
    for n in range(1, 6):
        assert c.feed(str(n), now=n * 0.125) == str(n)
