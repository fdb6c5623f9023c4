"""The template's SQS queues locally (moto's SQS, served in process) and Lambda's SQS event sources feeding them.

moto keeps what matters of SQS: at-least-once delivery, a message hidden for the visibility timeout
once received and shown again unless deleted, the receive count, and the move to the dead-letter
queue after the redrive policy's maxReceiveCount. The event source below does what Lambda's does:
it gathers a batch (up to BatchSize messages, for at most MaximumBatchingWindowInSeconds), invokes
the function with at most MaximumConcurrency batches at once, deletes what succeeded, and leaves the
batch's reported failures (or the whole batch, when the invocation fails) to come back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local import triggers
from local.template import QueueSource, Template, parameter_values
from resilience.event_messages import MAX_MESSAGE_BYTES

log = logging.getLogger("local.queue")

Invoke = Callable[[str, dict[str, Any]], Any]
# What ReceiveMessage takes at most per call.
RECEIVE_MAX = 10
# Lambda's limit on an invocation's payload, less one more receive of the largest messages.
PAYLOAD_ROOM = 6 * 1024 * 1024 - RECEIVE_MAX * MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class LocalQueue:
    logical_id: str
    url: str
    arn: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalQueues:
    """The template's queues in moto's SQS, served on a loopback port that this process's clients (and
    any container process it starts) reach through AWS_ENDPOINT_URL_SQS."""

    def __init__(self, template: Template, visibility_timeout: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        self.template = template
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        # Its HTTP server logs every request at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server.start()
        host, port = self.server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL_SQS"] = f"http://{host}:{port}"
        # moto takes any credentials; set only where none are, so real ones are never replaced.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        self.client = self.sqs_client()
        self.queues: dict[str, LocalQueue] = {}
        queues = {
            k: r for k, r in template.resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::SQS::Queue"
        }
        # Dead-letter queues first: a redrive policy names its target's ARN.
        for logical_id in sorted(queues, key=lambda k: "RedrivePolicy" in queues[k].get("Properties", {})):
            self._create(logical_id, queues[logical_id].get("Properties", {}), visibility_timeout)

    @staticmethod
    def sqs_client() -> Any:
        import boto3

        return boto3.client("sqs", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"])

    def _create(self, logical_id: str, props: dict[str, Any], visibility_timeout: int | None) -> None:
        attributes = {"VisibilityTimeout": str(visibility_timeout or props.get("VisibilityTimeout", 30))}
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": self.queues[target].arn, "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        url = self.client.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]
        arn = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queues[logical_id] = LocalQueue(logical_id, url, arn)

    def export(self) -> None:
        """Sets each function variable that names a queue (!Ref IngestQueue) to that queue's URL, as AWS would."""
        for fn in self.template.functions.values():
            for name, value in fn.environment.items():
                if isinstance(value, dict) and value.get("Ref") in self.queues:
                    os.environ[name] = self.queues[value["Ref"]].url

    def depth(self, logical_id: str) -> int:
        """Messages in the queue, visible or being processed."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queues[logical_id].url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def sources(self, invoke: Invoke) -> list[EventSource]:
        """An event source per SQS event of the template's functions, with the parameters' values."""
        values = parameter_values(self.template, dict(os.environ))
        found = []
        for fn in self.template.functions.values():
            for source in fn.queues:
                concurrency = source.maximum_concurrency
                if isinstance(concurrency, dict):
                    concurrency = values[concurrency["Ref"]]
                found.append(EventSource(self, source, int(concurrency), invoke))
        return found

    def stop(self) -> None:
        from moto.backends import get_backend

        # moto keeps its queues per process, not per server: they go with it, so the next start is empty.
        get_backend("sqs").reset()
        self.server.stop()


def _payload(messages: list[dict[str, Any]]) -> int:
    return sum(len(m["Body"]) for m in messages)


class EventSource:
    """Lambda's SQS event source mapping: batches of a queue's messages to a function, failures back to the queue."""

    def __init__(self, queues: LocalQueues, source: QueueSource, concurrency: int, invoke: Invoke) -> None:
        self.queue = queues.queues[source.queue]
        self.source = source
        self.concurrency = concurrency
        self.invoke = invoke
        self.client = queues.sqs_client()
        self._stopping = threading.Event()
        self._pollers: list[threading.Thread] = []
        self.invocations = 0

    def start(self) -> None:
        for index in range(self.concurrency):
            poller = threading.Thread(target=self._poll, name=f"{self.source.function}-poller-{index}", daemon=True)
            poller.start()
            self._pollers.append(poller)

    def stop(self) -> None:
        self._stopping.set()
        for poller in self._pollers:
            poller.join(timeout=30)

    def batch(self, window_seconds: float | None = None) -> list[dict[str, Any]]:
        """Up to BatchSize messages, gathered for at most the batching window once the first one arrives;
        none when a second's long poll finds the queue empty."""
        window = self.source.window_seconds if window_seconds is None else window_seconds
        messages: list[dict[str, Any]] = []
        deadline = None
        while len(messages) < self.source.batch_size and not self._stopping.is_set():
            got = self.client.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.source.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else 1,
                AttributeNames=["All"],
            ).get("Messages", [])
            messages += got
            if not messages:
                break
            if deadline is None:
                deadline = time.monotonic() + window
            # Without a window: what the queue gives at once. Past 6 MB the invocation's payload is full.
            if (time.monotonic() >= deadline and not (window == 0 and got)) or _payload(messages) > PAYLOAD_ROOM:
                break
            if not got:
                time.sleep(0.05)
        return messages

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation with these messages; deletes those that succeeded and returns the ids that failed."""
        ids = {m["MessageId"] for m in messages}
        try:
            answer = self.invoke(self.source.function, triggers.sqs(messages, self.queue.arn))
            failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])} & ids
        except Exception:
            log.exception("%s failed on a batch of %d messages; they return after the visibility timeout",
                          self.source.function, len(messages))  # fmt: skip
            failed = ids
        self.invocations += 1
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), RECEIVE_MAX):
            chunk = done[start : start + RECEIVE_MAX]
            self.client.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return failed

    def drain(self) -> int:
        """Delivers what the queue holds now, in batches without a window, until it has none to give (messages
        being retried come back after their visibility timeout); returns how many invocations that took."""
        before = self.invocations
        while messages := self.batch(window_seconds=0):
            self.deliver(messages)
        return self.invocations - before

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self.batch()
                if messages:
                    self.deliver(messages)
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("polling %s failed", self.queue.logical_id)
                time.sleep(1)
