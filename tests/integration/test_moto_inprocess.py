"""moto_inprocess: this process's calls to the moto server are served without HTTP, with the
same state and answers as over HTTP; other endpoints and services are left alone."""

from __future__ import annotations

import uuid

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from greenhook_dev import moto_inprocess


@pytest.fixture
def server():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    yield endpoint
    moto_inprocess.disable(endpoint)
    moto.stop()


def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def test_routed_calls_skip_http_and_share_state(server, monkeypatch) -> None:
    over_http = _session().client("sqs", endpoint_url=server)
    queue_url = over_http.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]

    served = []
    respond = moto_inprocess.InProcessRoute.respond

    def spy(self, request, service_id):
        response = respond(self, request, service_id)
        served.append((service_id, response is not None))
        return response

    monkeypatch.setattr(moto_inprocess.InProcessRoute, "respond", spy)
    session = _session()
    moto_inprocess.enable(server, sessions=(session,))
    sqs = session.client("sqs", endpoint_url=server)
    for n in range(3):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=f"m{n}",
            MessageGroupId="g",
            MessageDeduplicationId=uuid.uuid4().hex,
        )
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["m0", "m1", "m2"]
    assert served == [("sqs", True)] * 4

    # The same state over HTTP: all three in flight there too.
    moto_inprocess.disable(server)
    attributes = over_http.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "3"


def test_errors_and_unrouted_services(server) -> None:
    session = _session()
    moto_inprocess.enable(server, sessions=(session,))
    dynamodb = session.client("dynamodb", endpoint_url=server)
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.describe_table(TableName="missing")
    secrets = session.client("secretsmanager", endpoint_url=server)  # not routed: over HTTP
    secrets.create_secret(Name="s", SecretString="x")
    assert secrets.get_secret_value(SecretId="s")["SecretString"] == "x"


def test_other_endpoints_are_not_routed(server) -> None:
    assert moto_inprocess.InProcessRoute(server).endpoint == server
    moto_inprocess.enable(server)
    other = _session().client("sqs", endpoint_url="http://127.0.0.1:9")  # nothing listens
    with pytest.raises(Exception, match=r"(?i)connect"):
        other.list_queues()
