"""The capacity and cost model: what a stated workload needs at 1k to 1M connections,
which quota it meets first, and what it costs, computed from the per-turn counts
``make bench`` measured (benchmarks/results/latest.json) and the prices and quotas in
benchmarks/prices.toml. ``make scale-model`` writes docs/scaling.md from it.

Everything here is arithmetic on measured counts; the assumptions are the
``Workload`` fields and the ``Sizes`` notes, printed with the tables.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from local_stack.provisioning.template import load_template
from realtime_chat.coalescer import Coalescer

__all__ = [
    "Design",
    "Workload",
    "batch_fill",
    "junokit",
    "load_inputs",
    "ours",
    "per_turn",
    "posts_per_answer",
    "render",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
PRICES = ROOT / "benchmarks" / "prices.toml"
DOC = ROOT / "docs" / "scaling.md"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
FILLS = (1, 2, 5, 10)  # the sensitivity table's answers per reply invocation
MONTH_MINUTES = 60 * 24 * 30
IDLE_POLLERS = 5  # a mapping's pollers when idle, each long-polling every 20 s
SCALING_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"


@dataclass(frozen=True)
class Deployed:
    """What template.yaml deploys by default, as the model needs it."""

    chunk_seconds: float  # ReplyChunkMs
    max_chunk_seconds: float  # ReplyMaxChunkMs
    chunk_chars: int  # ReplyChunkChars
    batch_size: int  # ReplyBatchSize
    max_concurrency: int | None  # ReplyMaxConcurrency (None: no cap)
    reply_memory_mb: int  # the reply function's MemorySize
    memory_mb: int  # every other function's (Globals)


def deployed() -> Deployed:
    template = load_template()
    defaults = {name: spec.get("Default") for name, spec in template.parameters.items()}
    return Deployed(
        chunk_seconds=int(defaults["ReplyChunkMs"]) / 1000,
        max_chunk_seconds=int(defaults["ReplyMaxChunkMs"]) / 1000,
        chunk_chars=int(defaults["ReplyChunkChars"]),
        batch_size=int(defaults["ReplyBatchSize"]),
        max_concurrency=int(defaults["ReplyMaxConcurrency"]) or None,
        reply_memory_mb=int(template.properties("ReplyFunction")["MemorySize"]),
        memory_mb=int(template.globals["Function"]["MemorySize"]),
    )


DEPLOYED = deployed()


@dataclass(frozen=True)
class Workload:
    anonymous_share: float = 0.2  # connections without a token: ping and debug only
    turns_per_user_minute: float = 1.0  # each signed-in user (one connection each)
    answer_tokens: int = 300
    tokens_per_second: float = 50.0
    ping_minutes: float = 5.0  # every connection pings this often (keeps it open)
    connection_hours: float = 1.0  # a connection lives this long on average, then reconnects
    prompt_tokens: int = 500

    @property
    def answer_seconds(self) -> float:
        return self.answer_tokens / self.tokens_per_second


@dataclass(frozen=True)
class Design:
    """What one chat turn, one ping and one connection cost a design, in requests."""

    name: str
    turn_writes: float  # DynamoDB write request units per turn
    turn_reads: float  # read request units per turn
    turn_requests: float  # DynamoDB requests per turn (any kind)
    ping_writes: float
    ping_reads: float
    connect_writes: float  # a connect and its disconnect
    connect_reads: float  # the connection cap's count at $connect
    posts_per_turn: float  # @connections posts to the sender's connection
    ping_posts: float  # 0 when the pong is the ping route's response (two-way)
    secret_calls_per_turn: float  # Secrets Manager calls (0: cached per container)
    accept_seconds: float  # the chat function's accepting invocation
    reply_seconds: float  # the reply invocation, waiting on the model included
    ping_seconds: float
    memory_gb: float = 0.5  # every function but the reply's
    reply_memory_gb: float = 0.5
    reply_cap: int | None = None  # the mapping's MaximumConcurrency
    reply_batch: int = 1  # the mapping's BatchSize
    fill: float | None = None  # answers per reply invocation; None: batch_fill's
    sqs_per_turn: float = 0.0  # SendMessage of the reply job


def batch_fill(in_flight: float, cap: int | None, batch: int) -> float:
    """Answers per reply invocation, for ``in_flight`` answers streaming at once (turns
    per second times the reply's seconds). The assumption, from AWS's documentation of
    SQS event source mappings (SCALING_DOC): Lambda polls with five pollers and adds
    more (up to 300 a minute) while messages wait, up to MaximumConcurrency; each
    poller invokes once at a time, with what it received. Without a cap, pollers are
    added until jobs no longer wait, so each batch holds about one job. At the cap
    every poller is busy: each takes what arrived while it streamed, in_flight / cap
    answers (at most the batch size; past cap x batch the queue grows)."""
    if cap is None or in_flight <= cap:
        return 1.0
    return min(float(batch), in_flight / cap)


def per_turn(figures: dict[str, float], answer_seconds: float) -> dict[str, float]:
    """DynamoDB requests of one chat turn, by operation, for an answer streaming this
    long: the fixed requests measured, plus the checkpoint writes and connection reads
    that come about once a second while the answer streams."""
    measured = figures["answer_seconds"]
    ops = {
        name.removeprefix("dynamodb_").removesuffix("_per_answer"): value
        for name, value in figures.items()
        if name.startswith("dynamodb_")
        and name.endswith("_per_answer")
        and name != "dynamodb_requests_per_answer"
    }
    # The bench's turn connects (the cap's Query, the PutItem) and disconnects once:
    # a connection's cost, not the turn's.
    ops["PutItem"] = ops.get("PutItem", 0) - 1
    ops["DeleteItem"] = ops.get("DeleteItem", 0) - 1
    ops["Query"] = ops.get("Query", 0) - 1
    checkpoints = figures["checkpoint_writes_per_second"]
    rereads = figures["connection_reads_per_second"]
    ops["UpdateItem"] += checkpoints * (answer_seconds - measured)
    ops["Query"] += rereads * (answer_seconds - measured)
    return {k: v for k, v in ops.items() if v > 0}


def posts_per_answer(
    tokens: int, seconds: float, *, max_interval: float | None = None, settings: Deployed = DEPLOYED
) -> float:
    """The reply's chunks for ``tokens`` tokens arriving evenly over ``seconds``: the
    reply's own :class:`Coalescer`, with the template's settings, fed that stream (the
    first token at once, then one post per gathering interval as it grows)."""
    coalescer = Coalescer(
        interval=settings.chunk_seconds,
        max_interval=settings.max_chunk_seconds if max_interval is None else max_interval,
        max_chars=settings.chunk_chars,
    )
    posts, gap = 0, seconds / max(tokens, 1)
    for n in range(1, tokens + 1):
        posts += coalescer.feed("tok ", n * gap) is not None
    return float(posts + (coalescer.flush(tokens * gap) is not None))


# Request units per request of each kind, for this schema's item sizes (all under
# 1 KB except the stored answer, ~1.2 KB for 300 tokens: 2 units when written).
# A transaction costs two units per item it writes; ours write 2-3 items.
_WRITE_UNITS = {"UpdateItem": 1.0, "PutItem": 1.0, "DeleteItem": 1.0, "TransactWriteItems": 5.0}
_READ_UNITS = {"Query": 1.0, "GetItem": 0.5}


def ours(figures: dict[str, float], workload: Workload) -> Design:
    ops = per_turn(figures, workload.answer_seconds)
    return Design(
        name="This backend",
        turn_writes=sum(n * _WRITE_UNITS.get(op, 0) for op, n in ops.items()),
        turn_reads=sum(n * _READ_UNITS.get(op, 0) for op, n in ops.items()),
        turn_requests=sum(ops.values()),
        ping_writes=figures.get("ping_dynamodb_requests", 0),
        ping_reads=0.0,
        connect_writes=2.0,  # PutItem at $connect, DeleteItem at $disconnect
        connect_reads=1.0,  # the user's open connections, for MaxConnectionsPerUser
        posts_per_turn=2 + posts_per_answer(workload.answer_tokens, workload.answer_seconds),
        ping_posts=figures.get("ping_posts", 0),  # 0: the pong is the route's response
        secret_calls_per_turn=0.0,  # cached per container (SecretCacheSeconds)
        accept_seconds=figures.get("ack_p50_ms_empty", 50) / 1000,
        reply_seconds=workload.answer_seconds + 0.3,
        ping_seconds=figures.get("ping_warm_ms", 2) / 1000,
        memory_gb=DEPLOYED.memory_mb / 1024,
        reply_memory_gb=DEPLOYED.reply_memory_mb / 1024,
        reply_cap=DEPLOYED.max_concurrency,
        reply_batch=DEPLOYED.batch_size,
        sqs_per_turn=1.0,
    )


def junokit(workload: Workload) -> Design:
    """The replaced Node.js design, from its documented behaviour: a DynamoDB read and
    write per ping (the connection's lastActivity), the secret read on every message,
    the whole conversation read oldest-first for context, the answer waited for, then
    sent in one post."""
    history_reads = 10.0  # a conversation of a few dozen messages, read whole, each turn
    return Design(
        name="Junokit (replaced)",
        turn_writes=4.0,  # the message, the answer, the conversation, lastActivity
        turn_reads=history_reads + 1,
        turn_requests=6.0,
        ping_writes=1.0,
        ping_reads=1.0,
        connect_writes=2.0,
        connect_reads=0.0,
        posts_per_turn=1.0,
        ping_posts=1.0,
        secret_calls_per_turn=1.0,
        accept_seconds=workload.answer_seconds + 0.3,  # one invocation waits for the answer
        reply_seconds=0.0,
        ping_seconds=0.02,
    )


@dataclass(frozen=True)
class Row:
    connections: int
    users: float
    turns_per_second: float
    inbound_per_second: float  # client frames: turns and pings
    posts_per_second: float
    new_connections_per_second: float
    concurrency_accept: float
    concurrency_reply: float
    fill: float  # answers per reply invocation
    dynamodb_writes_per_second: float
    dynamodb_reads_per_second: float
    dynamodb_requests_per_second: float
    secret_calls_per_second: float
    cost_month: dict[str, float]
    first_limit: str

    @property
    def cost_per_1000_turns(self) -> float:
        turns_month = self.turns_per_second * MONTH_MINUTES * 60
        return 1000 * sum(self.cost_month.values()) / turns_month


def row(size: int, design: Design, workload: Workload, inputs: dict[str, Any]) -> Row:
    prices, quotas = inputs["prices"], inputs["quotas"]
    users = size * (1 - workload.anonymous_share)
    turns = users * workload.turns_per_user_minute / 60
    pings = size / (workload.ping_minutes * 60)
    connects = size / (workload.connection_hours * 3600)
    in_flight = turns * design.reply_seconds  # answers streaming at once
    fill = design.fill or batch_fill(in_flight, design.reply_cap, design.reply_batch)
    invocations = {
        "accept": turns,
        "reply": turns / fill if design.reply_seconds else 0.0,
        "ping": pings,
        "connect": 3 * connects,  # authorizer, $connect, $disconnect
    }
    seconds = {
        "accept": design.accept_seconds,
        "reply": design.reply_seconds,
        "ping": design.ping_seconds,
        "connect": 0.05,
    }
    writes = turns * design.turn_writes + pings * design.ping_writes
    writes += connects * design.connect_writes
    reads = turns * design.turn_reads + pings * design.ping_reads
    reads += connects * design.connect_reads * (1 - workload.anonymous_share)
    requests = turns * design.turn_requests + pings * (design.ping_writes + design.ping_reads)
    requests += connects * (design.connect_writes + design.connect_reads)
    inbound = turns + pings
    posts = turns * design.posts_per_turn + pings * design.ping_posts
    outbound = turns * design.posts_per_turn + pings  # a pong is a message either way
    concurrency = {k: invocations[k] * seconds[k] for k in invocations}
    month = MONTH_MINUTES * 60
    gb_seconds = sum(concurrency.values()) * design.memory_gb
    gb_seconds += concurrency["reply"] * (design.reply_memory_gb - design.memory_gb)
    # A job sent; a batch received and deleted; idle pollers' long polls besides.
    sqs_requests = turns * design.sqs_per_turn
    if design.sqs_per_turn:
        sqs_requests += 2 * invocations["reply"] + IDLE_POLLERS / 20
    cost = {
        "API Gateway messages": (inbound + outbound)
        * month
        * prices["websocket_message_per_million"]
        / 1e6,
        "API Gateway connection minutes": size
        * MONTH_MINUTES
        * prices["connection_minute_per_million"]
        / 1e6,
        "Lambda compute": gb_seconds * month * prices["lambda_gb_second"],
        "Lambda requests": sum(invocations.values())
        * month
        * prices["lambda_request_per_million"]
        / 1e6,
        "DynamoDB writes": writes * month * prices["dynamodb_write_unit_per_million"] / 1e6,
        "DynamoDB reads": reads * month * prices["dynamodb_read_unit_per_million"] / 1e6,
        "SQS": sqs_requests * month * prices["sqs_request_per_million"] / 1e6,
        "Secrets Manager": _secret_calls(design, turns, concurrency)
        * month
        * prices["secrets_call_per_10k"]
        / 1e4
        + prices["secret_per_month"],
    }
    limits = [
        ("Lambda concurrency", sum(concurrency.values()) / quotas["lambda_concurrency"]),
        ("API Gateway account request rate", inbound / quotas["account_requests_per_second"]),
        ("API Gateway new connections per second", connects / quotas["new_connections_per_second"]),
        ("DynamoDB table write units", writes / quotas["table_write_units_per_second"]),
        ("DynamoDB table read units", reads / quotas["table_read_units_per_second"]),
    ]
    if design.reply_cap and design.reply_seconds:
        # Past cap x batch answers at once, jobs wait longer and longer in the queue.
        limits.append(
            (
                "reply queue (ReplyMaxConcurrency x batch)",
                in_flight / (design.reply_cap * design.reply_batch),
            )
        )
    name, share = max(limits, key=lambda item: item[1])
    first = f"{name} ({share:.0%} of the default)" if share >= 0.5 else "none near (<50%)"
    return Row(
        connections=size,
        users=users,
        turns_per_second=turns,
        inbound_per_second=inbound,
        posts_per_second=posts,
        new_connections_per_second=connects,
        concurrency_accept=concurrency["accept"],
        concurrency_reply=concurrency["reply"],
        fill=fill,
        dynamodb_writes_per_second=writes,
        dynamodb_reads_per_second=reads,
        dynamodb_requests_per_second=requests,
        secret_calls_per_second=_secret_calls(design, turns, concurrency),
        cost_month=cost,
        first_limit=first,
    )


def _secret_calls(design: Design, turns: float, concurrency: dict[str, float]) -> float:
    if design.secret_calls_per_turn:
        return turns * design.secret_calls_per_turn
    # One read per warm container every SecretCacheSeconds (300 s).
    return (concurrency["accept"] + concurrency["reply"]) / 300


def load_inputs(results: Path = RESULTS, prices: Path = PRICES) -> dict[str, Any]:
    with prices.open("rb") as handle:
        document: dict[str, Any] = tomllib.load(handle)
    document["bench"] = json.loads(results.read_text())
    document["figures"] = document["bench"]["figures"]
    return document


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def render(inputs: dict[str, Any], workload: Workload = Workload()) -> str:
    figures = inputs["figures"]
    designs = [ours(figures, workload), junokit(workload)]
    ops = per_turn(figures, workload.answer_seconds)
    bench = inputs["bench"]
    lines = [
        "# Scaling: capacity and cost from 1k to 1M connections",
        "",
        "Generated by `make scale-model` from `benchmarks/results/latest.json` (a `make bench`",
        f"run on {bench['machine']['platform']}, Python {bench['machine']['python']}) and",
        f"`benchmarks/prices.toml` ({inputs['region']}, prices checked {inputs['checked']}).",
        "Do not edit by hand: change the inputs and run it again.",
        "",
        "## The workload",
        "",
        f"- {workload.anonymous_share:.0%} of connections are anonymous (ping and debug only);"
        " every signed-in user has one connection.",
        f"- Each signed-in user sends {workload.turns_per_user_minute:g} chat turn a minute;"
        f" answers are {workload.answer_tokens} tokens at {workload.tokens_per_second:g}"
        f" tokens/s ({workload.answer_seconds:g} s).",
        f"- Every connection pings every {workload.ping_minutes:g} minutes and reconnects"
        f" every {workload.connection_hours:g} h on average.",
        "",
        "## One chat turn, measured",
        "",
        "DynamoDB requests of one turn for this answer length (the fixed ones measured by",
        "`make bench`'s recorded turn, plus one checkpoint write and one connection read",
        "about every second the answer streams):",
        "",
        "| operation | requests per turn |",
        "|---|---|",
        *[f"| {op} | {n:.1f} |" for op, n in sorted(ops.items())],
        f"| **all** | **{sum(ops.values()):.1f}** |",
        "",
        f"Posts to the sender's connection per turn: {designs[0].posts_per_turn:.0f}"
        " (`message_received`, the chunks, `ai_response`); each further connection of the",
        "user costs the same again in posts, and nothing more in DynamoDB (connections are",
        "read once a second whatever their number). A ping costs"
        f" {figures.get('ping_dynamodb_requests', 0):.0f} DynamoDB requests and"
        f" {figures.get('ping_posts', 0):.0f} posts: its pong is the ping route's response.",
        "",
    ]
    for design in designs:
        lines += _design_tables(design, workload, inputs)
    lines += _notes(designs, workload, inputs)
    return "\n".join(lines) + "\n"


def _design_tables(design: Design, workload: Workload, inputs: dict[str, Any]) -> list[str]:
    rows = [row(size, design, workload, inputs) for size in SIZES]
    head = "| | " + " | ".join(f"{r.connections:,}" for r in rows) + " |"
    rule = "|---|" + "---|" * len(rows)

    def line(label: str, values: list[str]) -> str:
        return f"| {label} | " + " | ".join(values) + " |"

    services = list(rows[0].cost_month)
    costs = [line(name, [_money(r.cost_month[name]) for r in rows]) for name in services]
    dominant = [max(r.cost_month.items(), key=lambda kv: kv[1])[0] for r in rows]
    return [
        f"## {design.name}",
        "",
        "### Capacity (per second, at steady state)",
        "",
        head,
        rule,
        line("chat turns", [_count(r.turns_per_second) for r in rows]),
        line("client frames (turns, pings)", [_count(r.inbound_per_second) for r in rows]),
        line("@connections posts", [_count(r.posts_per_second) for r in rows]),
        line("new connections", [_count(r.new_connections_per_second) for r in rows]),
        line("Lambda concurrency, accept path", [_count(r.concurrency_accept) for r in rows]),
        line("Lambda concurrency, reply path", [_count(r.concurrency_reply) for r in rows]),
        line("answers per reply invocation", [f"{r.fill:.1f}" for r in rows]),
        line("DynamoDB requests", [_count(r.dynamodb_requests_per_second) for r in rows]),
        line("DynamoDB write units", [_count(r.dynamodb_writes_per_second) for r in rows]),
        line("DynamoDB read units", [_count(r.dynamodb_reads_per_second) for r in rows]),
        line("Secrets Manager calls", [f"{r.secret_calls_per_second:,.2f}" for r in rows]),
        line("**first quota met**", [r.first_limit for r in rows]),
        "",
        "### Cost per month",
        "",
        head,
        rule,
        *costs,
        line("**total**", [f"**{_money(sum(r.cost_month.values()))}**" for r in rows]),
        line("per 1,000 chat turns", [f"${r.cost_per_1000_turns:.3f}" for r in rows]),
        line("dominant term", dominant),
        "",
    ]


def _sensitivity(design: Design, workload: Workload, inputs: dict[str, Any]) -> list[str]:
    """Cost per 1,000 turns and reply concurrency for each fill, forced."""
    head = "| answers per reply invocation | " + " | ".join(f"{n:,}" for n in SIZES) + " |"
    lines = [head, "|---|" + "---|" * len(SIZES)]
    for fill in FILLS:
        rows = [row(n, replace(design, fill=float(fill)), workload, inputs) for n in SIZES]
        cells = [f"${r.cost_per_1000_turns:.3f}, {_count(r.concurrency_reply)}" for r in rows]
        lines.append(f"| {fill} | " + " | ".join(cells) + " |")
    return lines


def _notes(designs: list[Design], workload: Workload, inputs: dict[str, Any]) -> list[str]:
    ours_ = designs[0]
    at = {size: row(size, ours_, workload, inputs) for size in SIZES}
    quotas, figures = inputs["quotas"], inputs["figures"]
    big = at[1_000_000]
    total = sum(big.cost_month.values())
    ranked = sorted(big.cost_month.items(), key=lambda kv: kv[1], reverse=True)
    (first_name, first_cost), (second_name, second_cost) = ranked[:2]
    longer = replace(
        ours_,
        posts_per_turn=2
        + posts_per_answer(workload.answer_tokens, workload.answer_seconds, max_interval=0.8),
    )
    longer_total = sum(row(1_000_000, longer, workload, inputs).cost_month.values())
    request_rate_size = quotas["account_requests_per_second"] / (big.inbound_per_second / 1e6)
    cap, batch = ours_.reply_cap, ours_.reply_batch
    per_connection = at[1_000].turns_per_second * ours_.reply_seconds / 1_000
    storm = 100_000 / quotas["new_connections_per_second"]
    backlog_size = (cap or 0) * batch / per_connection
    fill_at = {n: at[n].fill for n in SIZES}
    measured = figures.get("reply_fill_measured")
    predicted = figures.get("reply_fill_predicted")
    rss = figures.get("reply_worker_peak_rss_mb")
    prices = inputs["prices"]
    fold_saving = (
        at[100_000].turns_per_second
        * 2
        * MONTH_MINUTES
        * 60
        * prices["dynamodb_write_unit_per_million"]
        / 1e6
    )
    return [
        "## Answers per reply invocation (batch fill)",
        "",
        "The reply function takes reply jobs from its queue through an SQS event source"
        f" mapping, up to {batch} a batch, and streams every reply of a batch at once: an"
        " invocation (one unit of concurrency, one memory allocation) lasts as long as its"
        " longest answer, whatever the number it carries. How full batches are is an"
        " assumption, from AWS's documentation of the mapping's scaling"
        f" ({SCALING_DOC}): for a standard queue Lambda long-polls with five pollers and,"
        " while messages are still available, adds up to 300 more a minute, up to the"
        " mapping's `MaximumConcurrency` (or 1,000 concurrent batches); each poller invokes"
        " the function with what it received and polls again when the invocation ends."
        " So without a cap pollers are added until jobs no longer wait, and a batch holds"
        " about one job; at the cap every poller is busy, and each takes the jobs that"
        " arrived while it streamed: answers streaming at once divided by the cap, up to"
        f" the batch size. With `ReplyMaxConcurrency` = {cap} (the template's default) that"
        " is "
        + ", ".join(f"{fill_at[n]:.1f} at {n:,} connections" for n in SIZES)
        + "."
        + (
            f" Past {cap * batch:,} answers at once (about {backlog_size:,.0f} connections)"
            " jobs wait longer and longer in the queue: raise the cap (and the account's"
            " concurrency) before then."
            if cap
            else ""
        ),
        "",
        (
            f"Checked against the local stack: `make bench` runs 20 users with the mapping"
            f" capped at {figures.get('reply_fill_cap', 2):.0f} and counts the jobs each"
            f" invocation deleted: {measured:.1f} answers per invocation, where this model"
            f" predicts {predicted:.1f} for that run's turns per second and answer length"
            " (`tests/e2e/test_scale_model.py` holds the two within 20 %)."
            if measured and predicted
            else "Not yet measured locally: run `make bench`."
        ),
        "",
        "Cost per 1,000 chat turns and reply concurrency, for each fill:",
        "",
        *_sensitivity(ours_, workload, inputs),
        "",
        "## What SQS adds to a reply's start",
        "",
        "A reply job now goes through SQS and an event source mapping instead of an"
        " asynchronous invoke. AWS documents no latency figure for either path. Measured"
        " reports: Bite-Sized Serverless (eu-west-1, September 2022, 1,024 messages each,"
        " https://bitesizedserverless.com/bite/serverless-messaging-latency-compared/)"
        " timed SQS standard to a Lambda event source mapping at p50 16 ms, p90 34 ms,"
        " p99 105 ms from send to the function's start; the paths it measured that end in"
        " an asynchronous invoke took longer (SNS: p50 73 ms, p99 225 ms; Step Functions"
        " Express, asynchronous: p50 118 ms), though none of them is a direct"
        " `InvocationType=Event` call, which no report we found measured. An older"
        " harness (https://github.com/lukehoban/lambdaperf) found SQS the fastest of the"
        " event sources it chained (about 125 ms an event, round trip included). So SQS"
        " likely adds no more than tens of milliseconds before the model is asked; the"
        " first chunk's latency after the model's first token is unchanged. At the cap, a"
        " job also waits for the next poller to finish its batch: about the answer's"
        " length divided by the cap, a few milliseconds at 900.",
        "",
        "## What breaks first, and what to do",
        "",
        "- **Lambda concurrency** was first past about 12,000 connections when each answer"
        " held an invocation. Replies now share invocations once the mapping's cap is"
        f" reached, so the reply path stays at most {cap} concurrent (the template's"
        " `ReplyMaxConcurrency`) and the whole stack within the default"
        f" {quotas['lambda_concurrency']:,} up to about {backlog_size:,.0f} connections."
        " Past that the reply queue backs up (`ReplyJobAgeAlarm`): raise the account's"
        " concurrency, then `ReplyMaxConcurrency` (1,000 at most; more needs a second queue).",
        f"- **API Gateway's account request rate** ({quotas['account_requests_per_second']:,}/s"
        " by default, shared with the account's REST APIs) is reached by the client frames"
        f" at about {request_rate_size:,.0f} connections: request an increase before then.",
        f"- **New connections per second** ({quotas['new_connections_per_second']} by default)"
        " are far from the steady reconnect rate, but a deploy or an outage that drops every"
        " client makes them reconnect at once: 100k connections need {storm:,.0f} s at the"
        " quota. Clients must back off with jitter (the console and `make chat` do); the"
        " quota can be raised.".replace("{storm:,.0f}", f"{storm:,.0f}"),
        "- **DynamoDB** stays under its per-table defaults up to about"
        f" {quotas['table_write_units_per_second'] / (big.dynamodb_writes_per_second / 1e6):,.0f}"
        " connections (write units first); past that, raise the table's on-demand maximum."
        " No partition is hot: every write goes to one user's or one connection's key, and"
        " anonymous connections stay out of the user index.",
        "",
        "## Where the money goes",
        "",
        f"- At 1M connections the largest term is **{first_name}** ({first_cost / total:.0%}),"
        f" then {second_name} ({second_cost / total:.0%}).",
        f"- API Gateway bills every post: an answer is {ours_.posts_per_turn:.0f} posts per"
        " connection (the acknowledgement, the chunks, the final frame): the first chunk at"
        f" once, then gathering for {DEPLOYED.chunk_seconds * 1000:.0f} ms growing by half"
        f" each chunk to {DEPLOYED.max_chunk_seconds * 1000:.0f} ms. Growing to 800 ms"
        f" instead would cut the monthly total at 1M connections from {_money(total)} to"
        f" {_money(longer_total)}, at the price of a choppier stream.",
        "- Lambda compute is the reply function waiting on the model's tokens, now shared"
        " by the answers of a batch, at"
        f" {DEPLOYED.reply_memory_mb} MB"
        + (
            f": the worker's peak resident memory carrying 10 replies at once, measured"
            f" locally, was {rss:.0f} MB (the template sets about 1.5x)."
            if rss
            else "."
        ),
        "- The accept path charges the rate limit in a two-item transaction of its own (the"
        " limiter and the `clientMessageId` claim) before the turn's own transaction, which"
        " writes the id item again. Folding the charge into the turn's transaction keeps"
        " the limiter's 2 write units (a transaction bills 2 per item either way) and saves"
        " the id item's second write, at most 2 write units a turn: at 100k connections"
        f" {_money(fold_saving)} a month, {fold_saving / sum(at[100_000].cost_month.values()):.1%}"
        " of the total. Not worth the longer transaction (its conflicts, the refusal"
        " path): not changed.",
        "- Per further connection of a user, a reply costs its posts only: connections are"
        " read about once a second whatever their number (`MaxConnectionsPerUser` caps the"
        " tabs).",
        "",
        "## Junokit, side by side",
        "",
        "Junokit posted one frame per answer (cheaper in messages, but nothing streamed: the"
        " user waited for the whole answer), read and wrote DynamoDB on every ping, read the"
        " secret on every message and the whole conversation oldest-first for context, and"
        " held the accepting invocation for the whole answer (so API Gateway's 29 s cut long"
        " answers off). Its figures are computed from that documented behaviour with the"
        " same workload and prices.",
        "",
        "## Checked against reality",
        "",
        "`tests/e2e/test_scale_model.py` runs a small load against the local stack with"
        " every DynamoDB and SQS request recorded, and checks that the requests per turn,"
        " the posts per turn and the answers per reply invocation match this model's"
        " prediction for that workload within 20 %.",
        "",
    ]


def main() -> int:
    DOC.write_text(render(load_inputs()))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
