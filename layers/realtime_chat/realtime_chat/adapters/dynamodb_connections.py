"""The connections table in DynamoDB: one item per open WebSocket connection.

Item: ``connectionId`` (key), ``userId`` (GSI ``userId-index``; signed-in users
only, so the index is sparse: anonymous connections all share one user id, and
writing it would send every anonymous connect and disconnect to one partition of
the index, whose throttling throttles the table), ``userEmail``,
``isAuthenticated``, ``connectedAt`` (epoch ms), ``tokenExpiresAt`` (epoch s),
``ttl`` (epoch s, connect time + 2 h), ``subscriptions`` (string set, optional).
DynamoDB deletes expired items only eventually, so reads skip them, and they skip
connections whose token has expired too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from realtime_chat.domain import ANONYMOUS_USER_ID, Connection, Identity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["USER_INDEX", "DynamoConnectionStore"]

USER_INDEX = "userId-index"


class DynamoConnectionStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def save(self, connection: Connection) -> None:
        who = connection.identity
        item: dict[str, Any] = {
            "connectionId": {"S": connection.connection_id},
            "isAuthenticated": {"BOOL": who.is_authenticated},
            "connectedAt": {"N": str(connection.connected_at)},
            "ttl": {"N": str(connection.expires_at)},
        }
        if who.is_authenticated:
            item["userId"] = {"S": who.user_id}
        if who.email:
            item["userEmail"] = {"S": who.email}
        if who.token_expires_at:
            item["tokenExpiresAt"] = {"N": str(who.token_expires_at)}
        self._client.put_item(TableName=self._table, Item=item)

    def delete(self, connection_id: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"connectionId": {"S": connection_id}})

    def connections_of(self, user_id: str, *, now: float) -> list[Connection]:
        found: list[Connection] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": USER_INDEX,
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
        }
        while True:
            page = self._client.query(**kwargs)
            found.extend(c for c in map(_connection, page.get("Items", [])) if _live(c, now))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_subscriptions(self, connection_id: str, kinds: frozenset[str]) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"connectionId": {"S": connection_id}},
            UpdateExpression="SET subscriptions = :s",
            # Only a connection that still exists: never resurrect a deleted item.
            ConditionExpression="attribute_exists(connectionId)",
            ExpressionAttributeValues={":s": {"SS": sorted(kinds)}},
        )


def _live(connection: Connection, now: float) -> bool:
    """Not past its TTL, and not holding an expired token: a connection whose token has
    expired answers TOKEN_EXPIRED to its own actions and must not receive the user's data."""
    return connection.expires_at > now and not connection.identity.is_expired(now)


def _connection(item: dict[str, Any]) -> Connection:
    expires = int(item["tokenExpiresAt"]["N"]) if "tokenExpiresAt" in item else None
    subscriptions = item.get("subscriptions", {}).get("SS")
    return Connection(
        connection_id=item["connectionId"]["S"],
        identity=Identity(
            user_id=item.get("userId", {}).get("S", ANONYMOUS_USER_ID),
            email=item.get("userEmail", {}).get("S"),
            is_authenticated=item.get("isAuthenticated", {}).get("BOOL", False),
            token_expires_at=expires,
        ),
        connected_at=int(item.get("connectedAt", {}).get("N", "0")),
        expires_at=int(item["ttl"]["N"]),
        subscriptions=frozenset(subscriptions) if subscriptions is not None else None,
    )
