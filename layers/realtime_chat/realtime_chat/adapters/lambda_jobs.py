"""Reply jobs as asynchronous invokes of the chat function itself.

``InvocationType=Event`` returns at once, so the route answers API Gateway well
inside 29 s while the reply streams for as long as the function's timeout allows.
The template sets ``MaximumRetryAttempts: 0``: a failed reply is reported to the
user, never streamed twice. With a qualifier (the template's ``live`` alias) the
reply runs behind the alias CodeDeploy shifts and rolls back, never ``$LATEST``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from realtime_chat.events import job_to_event
from realtime_chat.model import ReplyJob

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

__all__ = ["LambdaReplyJobs"]


class LambdaReplyJobs:
    def __init__(
        self, client: LambdaClient, function_name: str, *, qualifier: str | None = None
    ) -> None:
        self._client = client
        self._function_name = function_name
        self._qualifier = qualifier

    def submit(self, job: ReplyJob) -> None:
        payload = json.dumps(job_to_event(job)).encode("utf-8")
        if self._qualifier:
            self._client.invoke(
                FunctionName=self._function_name,
                Qualifier=self._qualifier,
                InvocationType="Event",
                Payload=payload,
            )
        else:
            self._client.invoke(
                FunctionName=self._function_name, InvocationType="Event", Payload=payload
            )
