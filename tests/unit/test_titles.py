"""Conversation titles: one cleaning rule for automatic and renamed titles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from realtime_chat.protocol import RenameConversation
from realtime_chat.titles import AUTO_TITLE_CHARS, UNTITLED, auto_title, clean_title

# Any text, weighted towards what a hostile first message holds: escape sequences,
# C0/C1 controls, bidi overrides and isolates, odd spaces.
_HOSTILE = st.sampled_from(
    [
        "\x1b[2J",
        "\x1b[31m",
        "\x1b]0;pwned\x07",
        "\x00",
        "\x07",
        "\x9b1m",
        "\x85",
        "\u202e",
        "\u2066",
        "\u200f",
        "\t",
        "\n",
        "\r\n",
        "\u3000",
        " ",
        "\x7f",
    ]
)
_TEXT = st.lists(st.text(max_size=8) | _HOSTILE, max_size=30).map("".join)
_BANNED = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | set(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def test_a_hostile_first_message_becomes_a_plain_title() -> None:
    assert auto_title("\x1b[2J\x1b[31mRED\x07 \u202eevil\u202c\t\n  tail \x00") == "RED evil tail"


def test_a_first_message_with_nothing_to_show_is_untitled() -> None:
    assert auto_title("\x1b[2J\x07\u202e\x00") == UNTITLED


def test_a_long_first_message_is_cut_to_sixty_characters_with_an_ellipsis() -> None:
    title = auto_title("word " * 40)
    assert len(title) == AUTO_TITLE_CHARS and title.endswith("…")


@given(_TEXT)
def test_a_clean_title_holds_no_control_or_bidi_character_and_no_run_of_spaces(
    text: str,
) -> None:
    title = clean_title(text)
    assert not _BANNED & set(title)
    assert "  " not in title and title == title.strip()


@given(_TEXT)
def test_cleaning_a_title_twice_changes_nothing(text: str) -> None:
    assert clean_title(clean_title(text)) == clean_title(text)
    assert clean_title(auto_title(text)) == auto_title(text)


@given(_TEXT)
def test_every_automatic_title_is_one_rename_accepts_unchanged(text: str) -> None:
    title = auto_title(text)
    assert RenameConversation.parse({"conversationId": "c1", "title": title}).title == title


@given(_TEXT)
def test_rename_cleans_a_title_the_way_an_automatic_title_is_cleaned(text: str) -> None:
    title = clean_title(text)
    if title and len(title) <= 200:
        assert RenameConversation.parse({"conversationId": "c1", "title": text}).title == title
