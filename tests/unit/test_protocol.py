"""Protocol v1 parsing: every malformed frame gets a precise, named error."""

from __future__ import annotations

import json

import pytest

from realtime_chat.errors import ChatError, ErrorCode
from realtime_chat.protocol import (
    MAX_FRAME_BYTES,
    ChatMessage,
    ConversationRequest,
    HistoryQuery,
    ListConversations,
    RenameConversation,
    SetStatus,
    Subscribe,
    Typing,
    check_text,
    decode_frame,
)


def test_fields_inside_data_are_read() -> None:
    frame = decode_frame('{"action":"chat_history","data":{"conversationId":"c1"}}')
    assert frame.action == "chat_history"
    assert frame.data == {"conversationId": "c1"}


def test_fields_at_the_top_level_are_accepted_too() -> None:
    frame = decode_frame('{"action":"chat_history","conversationId":"c1","limit":5}')
    assert HistoryQuery.parse(frame.data) == HistoryQuery("c1", 5, None)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ('{"action": "ping"', ErrorCode.INVALID_JSON, None),
        ("[1, 2]", ErrorCode.INVALID_MESSAGE, None),
        ('{"data": {}}', ErrorCode.INVALID_MESSAGE, "action"),
        ('{"action": 7}', ErrorCode.INVALID_MESSAGE, "action"),
        ('{"action": "ping", "data": "x"}', ErrorCode.INVALID_MESSAGE, "data"),
        (json.dumps({"action": "ping", "pad": "x" * 33_000}), ErrorCode.MESSAGE_TOO_LARGE, None),
    ],
)
def test_a_malformed_frame_is_refused_with_a_named_reason(
    body: str, code: ErrorCode, field: str | None
) -> None:
    with pytest.raises(ChatError) as refused:
        decode_frame(body)
    assert refused.value.code is code
    assert refused.value.field == field


def test_chat_message_text_is_limited_by_max_chars() -> None:
    ok = ChatMessage.parse({"message": "x" * 10}, max_chars=10)
    assert ok.message == "x" * 10
    with pytest.raises(ChatError) as refused:
        ChatMessage.parse({"message": "x" * 11}, max_chars=10)
    assert refused.value.code is ErrorCode.MESSAGE_TOO_LARGE
    assert refused.value.field == "message"


@pytest.mark.parametrize(
    ("parse", "data", "field"),
    [
        (lambda d: ChatMessage.parse(d, max_chars=100), {"message": "   "}, "message"),
        (lambda d: ChatMessage.parse(d, max_chars=100), {"message": 5}, "message"),
        (
            lambda d: ChatMessage.parse(d, max_chars=100),
            {"message": "hi", "conversationId": "a#b"},
            "conversationId",
        ),
        (
            lambda d: ChatMessage.parse(d, max_chars=100),
            {"message": "hi", "clientMessageId": "x" * 129},
            "clientMessageId",
        ),
        (HistoryQuery.parse, {}, "conversationId"),
        (ConversationRequest.parse, {}, "conversationId"),
        (ConversationRequest.parse, {"conversationId": "a#b"}, "conversationId"),
        (HistoryQuery.parse, {"conversationId": "c", "limit": 0}, "limit"),
        (HistoryQuery.parse, {"conversationId": "c", "limit": 101}, "limit"),
        (HistoryQuery.parse, {"conversationId": "c", "limit": True}, "limit"),
        (HistoryQuery.parse, {"conversationId": "c", "before": "a b"}, "before"),
        (ListConversations.parse, {"limit": "10"}, "limit"),
        (ListConversations.parse, {"cursor": 12}, "cursor"),
        (RenameConversation.parse, {"conversationId": "c", "title": ""}, "title"),
        (RenameConversation.parse, {"conversationId": "c", "title": "\x1b[2J\x07\u202e "}, "title"),
        (RenameConversation.parse, {"conversationId": "c", "title": "t" * 201}, "title"),
        (Typing.parse, {"conversationId": "c", "isTyping": "yes"}, "isTyping"),
        (SetStatus.parse, {"status": "sleeping"}, "status"),
        (Subscribe.parse, {"notificationTypes": []}, "notificationTypes"),
        (Subscribe.parse, {"notificationTypes": ["everything"]}, "notificationTypes"),
    ],
)
def test_invalid_action_data_names_the_bad_field(parse, data, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ChatError) as refused:
        parse(data)
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert refused.value.field == field
    assert field in refused.value.message


def test_junokit_style_conversation_ids_are_valid() -> None:
    command = ChatMessage.parse(
        {"message": "hi", "conversationId": "test_1764100800000", "clientMessageId": "c-1"},
        max_chars=100,
    )
    assert command.conversation_id == "test_1764100800000"


def test_subscriptions_are_deduplicated_in_order() -> None:
    command = Subscribe.parse({"notificationTypes": ["user_typing", "user_typing"]})
    assert command.notification_types == ("user_typing",)


def test_the_frame_limit_counts_utf8_bytes_not_characters() -> None:
    # GIVEN frames of the same length in characters, one in ASCII, one in two-byte letters
    def frame(letter: str, count: int) -> str:
        return json.dumps({"action": "ping", "pad": letter * count}, ensure_ascii=False)

    overhead = len(frame("", 0))
    ascii_at_limit = frame("e", MAX_FRAME_BYTES - overhead)
    accented = frame("é", MAX_FRAME_BYTES - overhead)
    assert len(ascii_at_limit) == len(accented) == MAX_FRAME_BYTES
    # WHEN both are parsed THEN 32 KB of bytes pass, and twice that is refused
    assert decode_frame(ascii_at_limit).action == "ping"
    with pytest.raises(ChatError) as refused:
        decode_frame(accented)
    assert refused.value.code is ErrorCode.MESSAGE_TOO_LARGE


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"meta": {"\ud800": 1}}, "meta"),
        ({"meta": {"ok": {"\udfff": "deep"}}}, "meta"),
        ({"notificationTypes": [{"\udc00": "x"}]}, "notificationTypes"),
        ({"meta": {"\ud800": 1}, "message": "fine"}, "meta"),
    ],
)
def test_a_lone_surrogate_in_a_nested_key_is_refused_naming_the_top_field(
    data: dict[str, object], field: str
) -> None:
    body = json.dumps({"action": "chat_message", "data": data})  # escapes the surrogate
    frame = decode_frame(body)
    with pytest.raises(ChatError) as refused:
        check_text(frame)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_MESSAGE, field)
