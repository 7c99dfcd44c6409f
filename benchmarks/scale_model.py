"""The capacity and cost model: what a stated workload needs at 1k to 1M connections,
which quota it meets first, and what it costs, computed from the per-turn counts
``make bench`` measured (benchmarks/results/latest.json) and the prices and quotas in
benchmarks/prices.toml. ``make scale-model`` writes docs/scaling.md from it.

Everything here is arithmetic on measured counts; the assumptions are the
``Workload`` fields and the ``Sizes`` notes, printed with the tables.
"""

from __future__ import annotations

import json
import math
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from realtime_chat.coalescer import Coalescer

__all__ = ["Design", "Workload", "junokit", "load_inputs", "ours", "per_turn", "render"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
PRICES = ROOT / "benchmarks" / "prices.toml"
DOC = ROOT / "docs" / "scaling.md"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
COALESCE_SECONDS = Coalescer().interval  # the reply gathers tokens this long per post
MONTH_MINUTES = 60 * 24 * 30


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
    memory_gb: float = 0.5


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


def posts_per_answer(tokens: int, seconds: float, interval: float = COALESCE_SECONDS) -> float:
    """The reply's chunks: the first token at once, then one post per gathering
    interval, never more than one per token."""
    return min(tokens, 1 + math.ceil(seconds / interval))


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
    invocations = {
        "accept": turns,
        "reply": turns if design.reply_seconds else 0.0,
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
    gb_seconds = sum(invocations[k] * seconds[k] for k in invocations) * design.memory_gb
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
        line("per 1,000 chat turns", [_money(r.cost_per_1000_turns) for r in rows]),
        line("dominant term", dominant),
        "",
    ]


def _notes(designs: list[Design], workload: Workload, inputs: dict[str, Any]) -> list[str]:
    ours_ = designs[0]
    at = {size: row(size, ours_, workload, inputs) for size in SIZES}
    quotas = inputs["quotas"]
    big = at[1_000_000]
    total = sum(big.cost_month.values())
    ranked = sorted(big.cost_month.items(), key=lambda kv: kv[1], reverse=True)
    (first_name, first_cost), (second_name, second_cost) = ranked[:2]
    slower = replace(
        ours_,
        posts_per_turn=2
        + posts_per_answer(workload.answer_tokens, workload.answer_seconds, interval=0.25),
    )
    slower_total = sum(row(1_000_000, slower, workload, inputs).cost_month.values())
    smaller = replace(ours_, memory_gb=0.25)
    smaller_total = sum(row(1_000_000, smaller, workload, inputs).cost_month.values())
    reply_share = big.concurrency_reply / (big.concurrency_reply + big.concurrency_accept)
    request_rate_size = quotas["account_requests_per_second"] / (big.inbound_per_second / 1e6)
    concurrency_size = quotas["lambda_concurrency"] / (
        (big.concurrency_reply + big.concurrency_accept) / 1e6
    )
    storm = 100_000 / quotas["new_connections_per_second"]
    return [
        "## What breaks first, and what to do",
        "",
        "- **Lambda concurrency**, first at every size past a few thousand connections."
        f" The reply function waits on the model for the whole answer ({workload.answer_seconds:g}"
        f" s here), so its concurrency is turns per second times that ({reply_share:.0%} of"
        f" all concurrency). The default {quotas['lambda_concurrency']:,} is reached at about"
        f" {concurrency_size:,.0f} connections: ask for an increase before then, and set"
        " `ReplyReservedConcurrency` so replies cannot starve the accepting path.",
        f"- **API Gateway's account request rate** ({quotas['account_requests_per_second']:,}/s"
        " by default, shared with the account's REST APIs) is reached by the client frames"
        f" at about {request_rate_size:,.0f} connections: request an increase before then.",
        f"- **New connections per second** ({quotas['new_connections_per_second']} by default)"
        " are far from the steady reconnect rate, but a deploy or an outage that drops every"
        f" client makes them reconnect at once: 100k connections need {storm:,.0f} s at the"
        " quota. Clients must back off with jitter (the console and `make chat` do); the"
        " quota can be raised.",
        "- **DynamoDB** stays under its per-table defaults up to about"
        f" {quotas['table_write_units_per_second'] / (big.dynamodb_writes_per_second / 1e6):,.0f}"
        " connections (write units first); past that, raise the table's on-demand maximum."
        " No partition is hot: every write goes to one user's or one connection's key, and"
        " anonymous connections stay out of the user index (they all shared its `anonymous`"
        " key before: one partition, at most"
        f" {quotas['partition_write_units_per_second']:,} writes/s, for every anonymous"
        " connect and disconnect).",
        "",
        "## Where the money goes",
        "",
        f"- At 1M connections the largest term is **{first_name}** ({first_cost / total:.0%}),"
        f" then {second_name} ({second_cost / total:.0%}).",
        f"- API Gateway bills every post: an answer is {ours_.posts_per_turn:.0f} posts per"
        f" connection, one per {COALESCE_SECONDS * 1000:.0f} ms of streaming. Gathering"
        " tokens for 250 ms instead would cut the monthly total at 1M connections from"
        f" {_money(total)} to {_money(slower_total)}, at the price of a choppier stream.",
        "- Lambda compute is almost all the reply function waiting on the model's tokens:"
        " waiting costs the same per GB-second as working. Halving its memory (512 → 256"
        f" MB) would cut the total to {_money(smaller_total)}. Not waiting in Lambda at all"
        " (a container service that holds many streams per process) removes most of it.",
        "- Per further connection of a user, a reply costs its posts only: connections are"
        " read about once a second whatever their number, so a user with 10 tabs costs 10x"
        " the posts, not 10x the DynamoDB (`MaxConnectionsPerUser` caps the tabs).",
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
        " every DynamoDB request recorded, and checks that the requests per turn and the"
        " posts per turn match this model's prediction for that workload within 20 %.",
        "",
    ]


def main() -> int:
    DOC.write_text(render(load_inputs()))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
