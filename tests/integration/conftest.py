"""The pipeline against moto: resources from template.yaml, the real handlers from functions/."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from moto import mock_aws

from greenhook.archive import ArchiveStream
from greenhook.storage import Payloads, Storage
from greenhook_dev.lambda_runtime import LocalFunction, cold_start
from greenhook_dev.poller import QueuePoller, ingested_record
from greenhook_dev.template_resources import LocalStack, create_stack

GREEN_API_IP = "51.250.84.44"
ALLOWED_CIDRS = f"{GREEN_API_IP}/32,203.0.113.0/30,2001:db8:10::/48"


@dataclass
class Pipeline:
    stack: LocalStack
    session: Any
    token: str
    ingest_function: LocalFunction
    process_function: LocalFunction
    sent: list = field(default_factory=list)

    @property
    def sqs(self):
        return self.session.client("sqs")

    @property
    def queue_url(self) -> str:
        return self.stack.refs["WebhookQueue"]

    @property
    def storage(self) -> Storage:
        return Storage(
            self.stack.refs["WebhookTable"], self.session.resource("dynamodb"), self.payloads
        )

    @property
    def payloads(self) -> Payloads:
        return Payloads(self.stack.refs["PayloadBucket"], self.session.client("s3"))

    def http_event(
        self,
        body: bytes | str | None,
        *,
        authorization: str | None = "default",
        source_ip: str | None = GREEN_API_IP,
        headers: dict | None = None,
        base64_body: bool = False,
    ) -> dict:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if authorization == "default":
            authorization = f"Bearer {self.token}"
        if authorization is not None:
            all_headers["authorization"] = authorization
        if isinstance(body, str):
            body = body.encode()
        if base64_body and body is not None:
            text, encoded = base64.b64encode(body).decode(), True
        else:
            text, encoded = (body.decode("utf-8") if body is not None else None), False
        http = {"method": "POST", "path": "/green-api/webhook", "protocol": "HTTP/1.1"}
        if source_ip is not None:
            http["sourceIp"] = source_ip
        return {
            "version": "2.0",
            "routeKey": "POST /green-api/webhook",
            "rawPath": "/green-api/webhook",
            "headers": all_headers,
            "requestContext": {"http": http, "stage": "$default", "requestId": "r"},
            "body": text,
            "isBase64Encoded": encoded,
        }

    def post(self, body: bytes | str | None, **kwargs) -> tuple[int, dict]:
        """Call the real ingest handler; returns (status, parsed JSON body)."""
        response = self.ingest_function(self.http_event(body, **kwargs))
        return response["statusCode"], json.loads(response["body"])

    def queued(self) -> list[dict]:
        """Messages on the queue, read without consuming them."""
        messages = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            messages += batch
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return messages

    def poller(self, invoke=None) -> QueuePoller:
        return QueuePoller(
            self.sqs,
            invoke or self.process_function,
            queue_url=self.queue_url,
            queue_arn=self.stack.attributes["WebhookQueue"]["Arn"],
            region=self.stack.region,
            retry_delay=0,
        )

    def drain(self, max_batches: int = 20) -> int:
        """Feed the queue to the real process handler until it is empty."""
        poller, handled = self.poller(), 0
        for _ in range(max_batches):
            count = poller.poll_once()
            if not count:
                break
            handled += count
        return handled


@pytest.fixture
def pipeline(monkeypatch) -> Pipeline:
    with mock_aws():
        session = boto3.session.Session(region_name="eu-central-1")
        stack = create_stack(session, parameters={"AllowedCidrs": ALLOWED_CIDRS})
        for function in ("IngestFunction", "ProcessFunction"):
            for key, value in stack.function_environment(function).items():
                monkeypatch.setenv(key, value)
        secret = session.client("secretsmanager").get_secret_value(
            SecretId=stack.refs["WebhookTokenSecret"]
        )
        cold_start()
        yield Pipeline(
            stack=stack,
            session=session,
            token=json.loads(secret["SecretString"])["token"],
            ingest_function=LocalFunction.from_template(stack, "IngestFunction"),
            process_function=LocalFunction.from_template(stack, "ProcessFunction"),
        )
        cold_start()


@dataclass
class Processing:
    """The process function's record handler on its own, against a moto table: a webhook
    goes straight to `handle_record` as one SQS record (no ingest, no queue)."""

    stack: LocalStack
    storage: Storage
    payloads: Payloads
    archive: ArchiveStream
    delivered: int = 0

    def deliver(self, document: dict | bytes) -> str:
        """Handle one webhook as the process function would; returns stored/parked."""
        from greenhook.process import handle_record

        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.delivered += 1
        record = ingested_record(
            body,
            self.delivered,
            queue_arn=self.stack.attributes["WebhookQueue"]["Arn"],
            region=self.stack.region,
        )
        return handle_record(SQSRecord(record), self.storage, self.payloads, self.archive)


@pytest.fixture(scope="module")
def processing() -> Processing:
    """One moto stack per test module (examples keep apart by using their own instance)."""
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        session = boto3.session.Session(region_name="eu-central-1")
        stack = create_stack(session, parameters={"AllowedCidrs": ALLOWED_CIDRS})
        for key, value in stack.function_environment("ProcessFunction").items():
            patch.setenv(key, value)
        cold_start()
        payloads = Payloads(stack.refs["PayloadBucket"], session.client("s3"))
        storage = Storage(stack.refs["WebhookTable"], session.resource("dynamodb"), payloads)
        archive = ArchiveStream(stack.refs["ArchiveStream"], session.client("firehose"))
        yield Processing(stack, storage, payloads, archive)
        cold_start()


@dataclass
class Publishing:
    """Processing plus the publish path: the table's stream through the stream poller to the
    real publish handler, onto moto's bus, and a rule to a queue read by an EventSink."""

    processing: Processing
    stream_poller: Any
    sink: Any
    read: int = 0

    def deliver(self, document: dict | bytes) -> str:
        return self.processing.deliver(document)

    def flush(self) -> list[dict]:
        """Publish what the stream holds; the events delivered since the last flush."""
        while self.stream_poller.poll_once():
            pass
        while self.sink.drain_once():
            pass
        events = self.sink.snapshot()[self.read :]
        self.read += len(events)
        return events


@pytest.fixture(scope="module")
def publishing() -> Publishing:
    """One moto stack per module with the stream, the publisher and a subscriber queue."""
    from greenhook_dev.event_sink import EventSink
    from greenhook_dev.local_stack import PUBLISH, stream_event_source
    from greenhook_dev.stream_poller import StreamPoller, sqs_on_failure

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        session = boto3.session.Session(region_name="eu-central-1")
        stack = create_stack(session, parameters={"AllowedCidrs": ALLOWED_CIDRS})
        for function in ("ProcessFunction", PUBLISH):
            for key, value in stack.function_environment(function).items():
                patch.setenv(key, value)
        cold_start()
        payloads = Payloads(stack.refs["PayloadBucket"], session.client("s3"))
        storage = Storage(stack.refs["WebhookTable"], session.resource("dynamodb"), payloads)
        mapping = stream_event_source(stack, PUBLISH)
        poller = StreamPoller(
            # moto (in-process) does not serve the account-specific streams endpoint
            session.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled")),
            LocalFunction.from_template(stack, PUBLISH),
            stream_arn=mapping.stream_arn,
            region=stack.region,
            batch_size=mapping.batch_size,
            filters=mapping.filters,
            bisect_on_error=mapping.bisect_on_error,
            max_retry_attempts=mapping.max_retry_attempts,
            on_failure=sqs_on_failure(session.client("sqs"), stack.refs[mapping.on_failure_queue]),
            retry_delay=0,
        )
        sink = EventSink(session, bus_name=stack.refs["EventBus"], stack_name=stack.stack_name)
        archive = ArchiveStream(stack.refs["ArchiveStream"], session.client("firehose"))
        yield Publishing(Processing(stack, storage, payloads, archive), poller, sink)
        cold_start()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def write_stack_file(pipeline, path, queues: bool = True):
    """The local stack's file for the pipeline's resources (without the queues if asked);
    no endpoint, because moto answers in-process here rather than as a server."""
    info = {
        "aws_endpoint_url": None,
        "region": pipeline.stack.region,
        "table_name": pipeline.stack.refs["WebhookTable"],
        "bucket_name": pipeline.stack.refs["PayloadBucket"],
    }
    if queues:
        info.update(
            queue_url=pipeline.stack.refs["WebhookQueue"],
            dlq_url=pipeline.stack.refs["WebhookDLQ"],
        )
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def stack_file_writer():
    return write_stack_file


@pytest.fixture
def greenhook(pipeline, tmp_path, capsys):
    """Run `greenhook ARGS...` against the pipeline's resources, as against the local stack
    (from a stack file); returns the exit code and what it printed."""
    from greenhook_dev.cli import main

    stack_file = write_stack_file(pipeline, tmp_path / "stack.json")

    def run(*argv: str) -> CliResult:
        capsys.readouterr()  # drop what the handlers logged
        code = main([*argv, "--stack-file", str(stack_file)])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
