"""A conversation's last turn answered again: ``regenerate_reply`` (a new answer to the
same question) and ``edit_message`` (a new text for the question, then a new answer),
and ``message_versions``, which lists what they replaced.

Both are new turns for the limits and the daily budget, idempotent by their own
``clientMessageId`` (a retry is answered as a ``chat_message`` retry is: the same
acknowledgement, then the stored answer, the running reply, or the reply again), and
their reply is an ordinary reply (stop, resume and every tab) started through
:class:`.chat.ReplyStarter`. What they replace is kept as earlier versions.

Only the last user message of a conversation can be answered again, and only once its
reply has ended: while it streams, a regenerate or an edit is refused (stop it first),
so one turn never has two replies running.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from realtime_chat import frames
from realtime_chat.domain import Message, MessageStatus, Role, Turn, TurnState
from realtime_chat.errors import (
    ChatError,
    ConversationNotFound,
    ErrorCode,
    TurnConversationDeleted,
)
from realtime_chat.ports import (
    ChatStore,
    ConnectionStore,
    LastTurn,
    MessageClaim,
    RateLimiter,
    ReplyJobs,
    Revision,
)
from realtime_chat.protocol import EditMessage, MessageVersions, RegenerateReply
from realtime_chat.usecases.chat import ReplyStarter, new_id, refused
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.reply_delivery import ReplyDelivery

__all__ = ["edit_message", "list_versions", "regenerate_reply"]


def regenerate_reply(
    ctx: Context,
    command: RegenerateReply,
    *,
    chat: ChatStore,
    connections: ConnectionStore,
    jobs: ReplyJobs,
    limiter: RateLimiter,
    callback_url: str,
    reply_timeout: int,
) -> None:
    """Answer the last user message again; its current answer becomes an earlier version."""
    ctx.require_user("regenerate_reply")
    starter = ReplyStarter(
        ctx,
        command.client_message_id,
        chat,
        jobs,
        limiter,
        callback_url,
        reply_timeout,
        model=command.model,
    )
    _revise(ctx, command.conversation_id, None, None, starter, connections=connections)


def edit_message(
    ctx: Context,
    command: EditMessage,
    *,
    chat: ChatStore,
    connections: ConnectionStore,
    jobs: ReplyJobs,
    limiter: RateLimiter,
    callback_url: str,
    reply_timeout: int,
) -> None:
    """Replace the last user message's text and answer it again; the old text and the
    old answer become earlier versions. Any other message is refused."""
    ctx.require_user("edit_message")
    starter = ReplyStarter(
        ctx,
        command.client_message_id,
        chat,
        jobs,
        limiter,
        callback_url,
        reply_timeout,
        model=command.model,
    )
    _revise(
        ctx,
        command.conversation_id,
        command.message_id,
        command.message,
        starter,
        connections=connections,
    )


def list_versions(ctx: Context, query: MessageVersions, *, chat: ChatStore) -> None:
    """The earlier texts and answers of the turn whose user message is ``messageId``."""
    user_id = ctx.require_user("message_versions")
    if chat.conversation(user_id, query.conversation_id) is None:
        raise _not_found(query.conversation_id)
    texts, answers = chat.versions(user_id, query.conversation_id, query.message_id)
    frame = frames.message_versions(
        query.conversation_id, query.message_id, texts=texts, answers=answers
    )
    if frames.size(frame) > frames.MAX_POST_BYTES:  # each version's text cut to its share
        share = frames.MAX_POST_BYTES // (len(texts) + len(answers)) - 256
        for version in (*frame["texts"], *frame["answers"]):
            version.update(frames.fit_content(version, limit=max(share, 256)))
    ctx.reply(frame)


def _revise(
    ctx: Context,
    conversation_id: str,
    message_id: str | None,
    text: str | None,
    starter: ReplyStarter,
    *,
    connections: ConnectionStore,
) -> None:
    """The steps both share: a retry answered as such; the last turn found and checked;
    one message charged (with the ``clientMessageId`` claimed in the same write); the
    turn revised in one transaction; the acknowledgement to every connection; the reply
    started."""
    user_id = ctx.identity.user_id
    chat, limiter, cid = starter.chat, starter.limiter, starter.client_message_id
    if cid is not None and _retried(starter, cid):
        return
    last = _last_turn(chat, user_id, conversation_id)
    question = last.turn.message
    if message_id is not None and message_id != question.message_id:
        raise ChatError(
            ErrorCode.INVALID_MESSAGE,
            "Only the last message you sent in a conversation can be edited; in "
            f"'{conversation_id}' that is '{question.message_id}'. Send a new message instead.",
            field="messageId",
        )
    stale_before = frames.iso(ctx.now - starter.reply_timeout)
    if last.turn.state is TurnState.PENDING and question.timestamp >= stale_before:
        raise _busy(conversation_id)  # its reply is running (a died one may be replaced)
    claim = (
        None
        if cid is None
        else MessageClaim(cid, conversation_id, question.message_id, question.timestamp)
    )
    refusal = limiter.acquire(user_id, now=ctx.now, claim=claim)
    if refusal is not None:
        if refusal.duplicate and cid is not None and _retried(starter, cid):
            return
        err = refused(refusal)
        err.extra["conversationId"] = conversation_id
        raise err
    answer = Message(
        new_id(), Role.ASSISTANT, "", _after(last, ctx.now), status=MessageStatus.STREAMING
    )
    try:
        revision = chat.revise_turn(
            user_id,
            conversation_id,
            last,
            answer,
            client_message_id=cid,
            now=frames.iso(ctx.now),
            stale_before=stale_before,
            text=text,
            model=starter.model,
        )
    except ConversationNotFound:
        limiter.release(user_id, claim=claim)
        raise _not_found(conversation_id) from None
    except Exception:
        limiter.release(user_id, claim=claim)  # nothing was stored: nothing is charged
        raise
    if revision is not Revision.DONE:
        limiter.release(user_id, claim=claim)
        if revision is Revision.DUPLICATE and cid is not None and _retried(starter, cid):
            return
        raise _busy(conversation_id)
    asked = question if text is None else replace(question, content=text)
    turn = Turn(conversation_id, asked, TurnState.PENDING)
    acknowledgement = frames.message_received(turn, cid, edited=text, regenerated=not text)
    delivery = ReplyDelivery([ctx.connection_id], sender=ctx.sender, on_gone=connections.delete)
    delivery.publish(acknowledgement)
    known = connections.connections_of(user_id, now=ctx.now)
    for other in known:
        delivery.join(other.connection_id, acknowledgement)
    delivery.close()
    starter.start(turn, tuple((c.connection_id, c.live_until) for c in known), answer)


def _retried(starter: ReplyStarter, client_message_id: str) -> bool:
    """True when ``client_message_id`` already made a turn: answered as a retry."""
    try:
        earlier = starter.chat.find_turn(starter.ctx.identity.user_id, client_message_id)
    except TurnConversationDeleted as err:
        raise ChatError(
            ErrorCode.NOT_FOUND,
            f"This clientMessageId was first sent in conversation '{err.conversation_id}', "
            "which was deleted. Send the request again with a new clientMessageId.",
            field="clientMessageId",
            extra={"conversationId": err.conversation_id},
        ) from None
    if earlier is None:
        return False
    starter.answer_retry(earlier)
    return True


def _last_turn(chat: ChatStore, user_id: str, conversation_id: str) -> LastTurn:
    last = chat.last_turn(user_id, conversation_id)
    if last is not None:
        return last
    if chat.conversation(user_id, conversation_id) is None:
        raise _not_found(conversation_id)
    raise ChatError(
        ErrorCode.NOT_FOUND,
        f"Conversation '{conversation_id}' has no message of yours to answer again.",
        field="conversationId",
    )


def _after(last: LastTurn, now: float) -> str:
    """The new answer's timestamp: now, and after everything of the turn (so that it
    sorts after its question even when the clock has not moved on)."""
    latest = max(
        [last.turn.message.timestamp] + ([last.turn.reply.timestamp] if last.turn.reply else [])
    )
    stamp = frames.iso(now)
    if stamp > latest:
        return stamp
    return frames.iso(datetime.fromisoformat(latest).timestamp() + 0.001)


def _busy(conversation_id: str) -> ChatError:
    return ChatError(
        ErrorCode.INVALID_MESSAGE,
        f"The last turn of conversation '{conversation_id}' is still being answered, or "
        "changed from another tab (answered again, edited, or a newer message sent): stop "
        "the reply (stop_reply) or wait for its end, read the history, then try again.",
        field="conversationId",
        retryable=True,
    )


def _not_found(conversation_id: str) -> ChatError:
    return ChatError(
        ErrorCode.NOT_FOUND,
        f"Conversation '{conversation_id}' was not found.",
        field="conversationId",
    )
