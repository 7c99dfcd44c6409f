"""The settings every benchmarked function runs with (tables, secret, pool, names)."""

from __future__ import annotations

__all__ = ["ENV"]

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "CONNECTIONS_TABLE": "bench-connections",
    "CHAT_TABLE": "bench-chat",
    "API_SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
    "USER_POOL_ID": "us-east-1_bench",
    "USER_POOL_CLIENT_ID": "benchclient",
    "AWS_LAMBDA_FUNCTION_NAME": "bench-chat-message",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "AI_BASE_URL": "http://127.0.0.1:9/v1",
    # The cold start makes the queue in its embedded AWS and names it instead.
    "REPLY_QUEUE_URL": "http://127.0.0.1:9/123456789012/bench-reply-jobs",
}
