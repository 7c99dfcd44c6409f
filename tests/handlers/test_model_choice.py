"""A model per conversation through the real chat function: a chosen model answers and
sticks to the conversation, an unlisted one is refused naming the allowed ids."""

from __future__ import annotations

import pytest

from tests.conftest import load_event
from tests.handlers.conftest import CONN, Chat
from tests.support.aws import CHAT_TABLE, clear_posted, frames_answered

MODELS = "fast|Fast one|openai:vendor/fast-1|64;deep|Deep one|openai:vendor/deep-2"


@pytest.fixture
def choosy(chat: Chat) -> Chat:
    chat.reload(AI_MODELS=MODELS)
    return chat


def _conversation_model(chat: Chat) -> str | None:
    items = chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"]
    (conversation,) = [i for i in items if i["sk"]["S"] == "CONV"]
    model: str | None = conversation.get("model", {}).get("S")
    return model


def test_a_chosen_model_answers_and_sticks_to_the_conversation(choosy: Chat) -> None:
    # WHEN a message names an allow-listed model
    choosy.send(message="first", clientMessageId="c-1", model="deep")
    # THEN the provider is asked for that model's route
    assert choosy.model.requests[-1]["model"] == "vendor/deep-2"
    assert _conversation_model(choosy) == "deep"
    # AND the next message, naming none, is answered by the same model
    choosy.send(message="second", clientMessageId="c-2")
    assert choosy.model.requests[-1]["model"] == "vendor/deep-2"
    # AND naming another changes it from then on, with that model's token cap
    choosy.send(message="third", clientMessageId="c-3", model="fast")
    assert (choosy.model.requests[-1]["model"], choosy.model.requests[-1]["max_tokens"]) == (
        "vendor/fast-1",
        64,
    )
    choosy.send("regenerate_reply")
    assert choosy.model.requests[-1]["model"] == "vendor/fast-1"
    assert _conversation_model(choosy) == "fast"
    # AND chat_history says which model the conversation uses
    event = load_event("chat_history")
    (history,) = frames_answered(choosy.load("default"), event, choosy.context, CONN)
    assert history["model"] == "fast"


def test_a_regenerate_may_name_another_model(choosy: Chat) -> None:
    # GIVEN a turn answered by the default route
    choosy.send(message="hello")
    # WHEN it is regenerated with a chosen model
    choosy.send("regenerate_reply", model="deep")
    # THEN that model answers, and the conversation keeps it
    assert choosy.model.requests[-1]["model"] == "vendor/deep-2"
    assert _conversation_model(choosy) == "deep"


def test_an_unlisted_model_is_refused_naming_the_allowed_ids_and_nothing_is_stored(
    choosy: Chat,
) -> None:
    # WHEN a message names a model that is not on the list
    choosy.send(message="hello", model="gpt-5-ultra")
    # THEN it is INVALID_MESSAGE on 'model', naming the ids a client may send
    (refusal,) = choosy.frames()
    assert (refusal["code"], refusal["field"]) == ("INVALID_MESSAGE", "model")
    assert "fast, deep" in refusal["message"]
    # AND nothing was stored or asked
    assert choosy.dynamodb.scan(TableName=CHAT_TABLE)["Items"] == []
    assert choosy.model.requests == []


def test_without_an_allow_list_naming_a_model_is_refused(chat: Chat) -> None:
    chat.send(message="hello", model="fast")
    (refusal,) = chat.frames()
    assert (refusal["code"], refusal["field"]) == ("INVALID_MESSAGE", "model")
    clear_posted()
    chat.send(message="hello")
    assert chat.frames()[-1]["type"] == "ai_response"


def test_a_model_chosen_on_bedrock_answers_through_bedrock_beside_the_openai_route(
    chat: Chat,
) -> None:
    # GIVEN the one OpenAI-compatible route, and Bedrock's Claude on the allow-list
    bedrock = "anthropic.claude-3-haiku-20240307-v1:0"
    chat.reload(
        AI_MODELS=f"haiku|Claude Haiku|bedrock:{bedrock}|128",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=chat.model.bedrock_url,
    )
    # WHEN a message chooses it
    chat.send(message="hello", clientMessageId="c-1", model="haiku")
    # THEN Bedrock answers it, with the model's token cap, and the answer says so
    final = chat.frames()[-1]
    assert (final["provider"], final["model"]) == ("bedrock", bedrock)
    assert chat.model.requests[-1]["inferenceConfig"]["maxTokens"] == 128
    # AND a message choosing nothing in a new conversation goes to the default route
    chat.send(message="hello", clientMessageId="c-2", conversationId="other")
    assert chat.frames()[-1]["provider"] == "openai"
