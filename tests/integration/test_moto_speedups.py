"""moto_speedups changes no behaviour: one scenario, run by moto as shipped and patched.

Each run is a fresh interpreter (the patches are process-wide once installed). The scenario
covers what greenhook and the local stack rely on: UpdateItem's SET/ADD/REMOVE, conditions,
if_not_exists, the validation errors the patched validators raise, the stream's records; a
FIFO queue's group order, deduplication, visibility, receipt handles, the counts and redrive
to the DLQ; a delayed message on a standard queue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def _error(call) -> str:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as error:
        return f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
    return "ok"


def dynamodb_scenario(out: dict) -> None:
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    key = {"PK": {"S": "MSG#1"}, "SK": {"S": "MESSAGE"}}
    names = {f"#n{i}": f"a{i}" for i in range(14)}
    values = {f":v{i}": {"S": f"value {i}"} for i in range(14)}
    sets = ", ".join(f"#n{i} = :v{i}" for i in range(14))
    updates = [
        dict(UpdateExpression=f"SET {sets}", ExpressionAttributeValues=values),
        dict(
            UpdateExpression="SET #n0 = if_not_exists(#n0, :v1), #n1 = :v2 ADD #n2 :s",
            ExpressionAttributeValues={**values, ":s": {"SS": ["x", "y"]}},
        ),
        dict(
            UpdateExpression="SET #n3 = :v5 REMOVE #n4",
            ConditionExpression="attribute_not_exists(#n5) OR #n5 < :v9",
            ExpressionAttributeValues=values,
        ),
        dict(  # condition fails
            UpdateExpression="SET #n3 = :v6",
            ConditionExpression="#n5 > :v9",
            ExpressionAttributeValues=values,
        ),
        dict(UpdateExpression="SET #n0 = :v0, #n0 = :v1", ExpressionAttributeValues=values),
        dict(UpdateExpression="SET #n0 = :v0 SET #n1 = :v1", ExpressionAttributeValues=values),
        dict(UpdateExpression="SET a.b = :v0, a = :v1", ExpressionAttributeValues=values),
        dict(UpdateExpression="ADD #n6 :v0, #n7 :v1 ADD #n8 :v2", ExpressionAttributeValues=values),
        dict(UpdateExpression="SET PK = :v0", ExpressionAttributeValues=values),
        dict(UpdateExpression="SET #n9 = :missing", ExpressionAttributeValues=values),
        dict(UpdateExpression="SET #n10 = :v0", ExpressionAttributeValues=values),  # ok again
    ]
    appended = {":none": {"L": []}, ":more": {"L": [{"S": "x"}, {"N": "1"}]}}
    names["#l"] = "l"
    append = "SET #l = list_append(if_not_exists(#l, :none), :more)"
    updates += [dict(UpdateExpression=append, ExpressionAttributeValues=appended)] * 2
    for n, update in enumerate(updates):
        expressions = update["UpdateExpression"] + " " + update.get("ConditionExpression", "")
        used = {k: v for k, v in names.items() if re.search(rf"{k}\b", expressions)}
        kwargs = {"ExpressionAttributeNames": used} if used else {}
        update = {
            **update,
            "ExpressionAttributeValues": {
                k: v
                for k, v in update["ExpressionAttributeValues"].items()
                if re.search(rf"{k}\b", expressions) or k == ":missing"
            },
        }
        out[f"update {n}"] = _error(
            lambda u=update, k=kwargs: ddb.update_item(TableName="t", Key=key, **u, **k)
        )
    out["item"] = ddb.get_item(TableName="t", Key=key)["Item"]
    from botocore.config import Config

    streams = boto3.client(  # see greenhook_dev.stream_poller on the account endpoint
        "dynamodbstreams",
        region_name="us-east-1",
        config=Config(account_id_endpoint_mode="disabled"),
    )
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    out["stream"] = [
        [r["eventName"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")]
        for r in records
    ]


def sqs_scenario(out: dict) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="q.fifo",
        Attributes={
            "FifoQueue": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    for n in range(6):
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=f"m{n}",
            MessageGroupId=f"g{n % 2}",
            MessageDeduplicationId=f"d{n}",
        )
    sqs.send_message(
        QueueUrl=queue, MessageBody="dup", MessageGroupId="g0", MessageDeduplicationId="d0"
    )

    def counts(url: str) -> list[str]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return [attributes[n] for n in names]

    def receive(count: int = 10, visibility: int = 30) -> list[dict]:
        return sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=count,
            VisibilityTimeout=visibility,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])

    out["counts 0"] = counts(queue)
    first = receive(2)
    out["first"] = [m["Body"] for m in first]
    out["while in flight"] = [m["Body"] for m in receive()]  # other groups only
    out["counts 1"] = counts(queue)
    out["change"] = _error(
        lambda: sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0
        )
    )
    again = receive(1)
    out["again"] = [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again]
    out["delete old handle"] = _error(
        lambda: sqs.delete_message(QueueUrl=queue, ReceiptHandle=first[0]["ReceiptHandle"])
    )
    out["delete bad handle"] = _error(
        lambda: sqs.delete_message(QueueUrl=queue, ReceiptHandle="not-a-handle")
    )
    out["counts 2"] = counts(queue)
    for n in range(4):  # everything left: received with no visibility, until redriven
        out[f"round {n}"] = sorted(m["Body"] for m in receive(visibility=0))
    out["counts 3"] = counts(queue)
    out["dlq"] = counts(dlq)

    by_content = sqs.create_queue(
        QueueName="c.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ("same", "same", "other"):
        sqs.send_message(QueueUrl=by_content, MessageBody=body, MessageGroupId="g")
    out["content deduplicated"] = counts(by_content)

    standard = sqs.create_queue(QueueName="s")["QueueUrl"]
    sqs.send_message(QueueUrl=standard, MessageBody="later", DelaySeconds=60)
    sqs.send_message(QueueUrl=standard, MessageBody="now")
    out["standard"] = counts(standard)
    out["standard receive"] = [
        m["Body"] for m in sqs.receive_message(QueueUrl=standard).get("Messages", [])
    ]


def events_scenario(out: dict) -> None:
    import boto3

    events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", "us-east-1")
    queue = sqs.create_queue(QueueName="targets")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(
        Rule="r",
        Targets=[
            {"Id": "plain", "Arn": arn["QueueArn"]},
            {
                "Id": "shaped",
                "Arn": arn["QueueArn"],
                "InputTransformer": {
                    "InputPathsMap": {"kind": "$.detail-type", "n": "$.detail.n"},
                    "InputTemplate": '{"kind": "<kind>", "n": <n>}',
                },
            },
        ],
    )
    for n in range(3):
        detail = json.dumps({"n": n})
        events.put_events(Entries=[{"Source": "app", "DetailType": "T", "Detail": detail}])
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            body = json.loads(message["Body"])
            body.pop("id", None), body.pop("time", None)  # new per event
            bodies.append(json.dumps(body, sort_keys=True))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    out["events delivered"] = sorted(bodies)


def run_scenario(patched: bool) -> dict:
    from moto import mock_aws

    if patched:
        from greenhook_dev.moto_speedups import install

        install()
    out: dict = {}
    with mock_aws():
        dynamodb_scenario(out)
        sqs_scenario(out)
        events_scenario(out)
    return out


def _run(patched: bool) -> dict:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, str(Path(__file__)), "patched" if patched else "moto"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_patched_moto_behaves_as_moto() -> None:
    shipped, patched = _run(patched=False), _run(patched=True)
    assert shipped["update 4"] != "ok"  # the scenario does reach moto's validation errors
    assert shipped["dlq"] != ["0", "0", "0"]  # and its redrive
    assert shipped["content deduplicated"][0] == "2"  # and content-based deduplication
    assert len(shipped["events delivered"]) == 6  # and both targets' rendering
    assert patched == shipped


if __name__ == "__main__":
    print(json.dumps(run_scenario(sys.argv[1] == "patched"), default=str))
