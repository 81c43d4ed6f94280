"""template.yaml holds the properties DESIGN.md relies on, and `sam build` ships arm64 code.

The first part reads the template (no AWS, no SAM CLI). The `sam`-marked test runs a real
`sam build` from .venv-sam into a temporary directory and inspects the artifacts' bytes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from greenhook import archive, keys
from greenhook.greenapi import WEBHOOK_SWITCHES
from greenhook.queue import payload_key
from greenhook.storage import Payloads, RawWebhook
from greenhook_dev.template_resources import REPO_ROOT, TEMPLATE_PATH, load_template, references

SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"

# green-api-webhooks.md, section 1.1 "Current (12 IPs)".
GREEN_API_SENDER_IPS = frozenset(
    {
        "46.101.109.139",
        "51.250.12.167",
        "51.250.84.44",
        "51.250.95.149",
        "89.169.137.216",
        "158.160.49.84",
        "165.22.93.202",
        "167.172.162.71",
        "104.248.252.93",
        "158.160.139.176",
        "64.226.111.11",
        "207.154.255.195",
    }
)

# Exactly what each function's code calls (see greenhook.ingest, queue, process, storage).
ALLOWED_ACTIONS = {
    "IngestFunction": {"sqs:SendMessage", "s3:PutObject", "secretsmanager:GetSecretValue"},
    "ProcessFunction": {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "s3:GetObject",
        "s3:PutObject",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "firehose:PutRecordBatch",
    },
    "RegisterFunction": {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"},
    "MonitorFunction": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",  # a backfilled message's activity marker; a parked entry
        "s3:PutObject",  # backfilled content too large for an item
    },
    "RotateFunction": {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"},
    "PublishFunction": {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "events:PutEvents",
        "sqs:SendMessage",
    },
}

ELF_MACHINE_AARCH64 = 0xB7
PYC_MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"
PYC_FLAG_HASH_UNCHECKED = 0b01  # hash-based, source never checked


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict) -> dict:
    return template["Resources"]


def _of_type(resources: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in resources.items() if r["Type"] == type_}


def _function_props(template: dict, name: str) -> dict:
    """A function's properties over the Globals (SAM merges them; lists and scalars win)."""
    return {**template["Globals"]["Function"], **template["Resources"][name]["Properties"]}


# -- queue --------------------------------------------------------------------------------


def test_queue_is_fifo_in_high_throughput_mode(resources: dict) -> None:
    queue = resources["WebhookQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["DeduplicationScope"] == "messageGroup"
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    # Ingest sets MessageDeduplicationId itself (sha256 of the raw body).
    assert queue.get("ContentBasedDeduplication", False) is False


def test_dead_letter_queue_is_fifo_after_five_receives(resources: dict) -> None:
    redrive = resources["WebhookQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDLQ", "Arn"]}
    assert redrive["maxReceiveCount"] == 5
    assert resources["WebhookDLQ"]["Properties"]["FifoQueue"] is True


def test_dead_letter_queue_has_an_alarm(resources: dict) -> None:
    alarm = resources["WebhookDLQAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["WebhookDLQ", "QueueName"]}}
    ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0


def test_visibility_timeout_is_at_least_six_process_timeouts(template: dict) -> None:
    timeout = _function_props(template, "ProcessFunction").get("Timeout", 3)
    visibility = template["Resources"]["WebhookQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * timeout


def test_process_reads_the_queue_with_partial_failures_and_a_concurrency_cap(
    template: dict,
) -> None:
    # An explicit mapping, not a SAM SQS event (which adds a managed policy on every queue).
    assert "Events" not in _function_props(template, "ProcessFunction")
    (event,) = (
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "ProcessFunction"}
    )
    assert event["EventSourceArn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    assert 1 <= event["BatchSize"] <= 10  # a FIFO event source allows at most 10
    assert "MaximumBatchingWindowInSeconds" not in event  # not supported for FIFO
    concurrency = event["ScalingConfig"]["MaximumConcurrency"]
    assert concurrency == {"Ref": "ProcessMaxConcurrency"}
    assert template["Parameters"]["ProcessMaxConcurrency"]["MinValue"] >= 2  # AWS minimum


def test_publish_reads_the_table_stream_with_partial_failures_and_a_failure_destination(
    template: dict,
) -> None:
    from greenhook.changes import EVENT_SORT_KEYS, PARKED_SK

    (event,) = (
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "PublishFunction"}
    )
    stream = template["Resources"]["WebhookTable"]["Properties"]["StreamSpecification"]
    assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"  # changes are old vs new
    assert event["EventSourceArn"] == {"Fn::GetAtt": ["WebhookTable", "StreamArn"]}
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    assert event["BisectBatchOnFunctionError"] is True
    assert event["StartingPosition"] == "TRIM_HORIZON"  # nothing before the first poll is lost
    assert event["MaximumRecordAgeInSeconds"] == 86400  # the stream keeps records 24 h
    destination = event["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    # The filters let through exactly the items whose changes can be events.
    patterns = [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]]
    assert patterns[0]["dynamodb"]["Keys"]["SK"]["S"] == list(EVENT_SORT_KEYS)
    assert patterns[1] == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"SK": {"S": [PARKED_SK]}}},
    }


def test_failed_events_alarm_on_the_first_one(resources: dict) -> None:
    alarm = resources["FailedEventsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedEventsQueue", "QueueName"]}}
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_bus_has_an_archive_unless_its_retention_is_zero(template: dict) -> None:
    archive = template["Resources"]["EventBusArchive"]
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert template["Conditions"][archive["Condition"]] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "EventArchiveRetentionDays"}, 0]}]
    }


# -- table and bucket ---------------------------------------------------------------------


def test_table_is_on_demand_with_ttl_and_point_in_time_recovery(resources: dict) -> None:
    table = resources["WebhookTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"]["Enabled"] is True
    assert props["TimeToLiveSpecification"]["AttributeName"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_bucket_lifecycle_expires_payloads_and_the_archive_but_keeps_parked_bodies(
    resources: dict,
) -> None:
    rules = resources["PayloadBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    payload_prefix = payload_key("0" * 64, "2026-01-01T00:00:00Z").split("/", 1)[0] + "/"
    prefixes = [rule["Prefix"] for rule in rules]
    assert prefixes == [payload_prefix, archive.PREFIX, "archive-errors/"]
    for prefix in prefixes:
        assert not Payloads.PARKED_PREFIX.startswith(prefix)
        assert not Payloads.MESSAGES_PREFIX.startswith(prefix)
    stream = resources["ArchiveStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert stream["Prefix"].startswith(archive.PREFIX)
    assert stream["ErrorOutputPrefix"].startswith("archive-errors/")
    assert stream["CompressionFormat"] == "GZIP"


def test_the_archive_table_has_the_columns_of_an_archived_line(resources: dict) -> None:
    table = resources["ArchiveTable"]["Properties"]["TableInput"]
    columns = {c["Name"] for c in table["StorageDescriptor"]["Columns"]}
    raw = RawWebhook(
        sha256="0" * 64,
        body=b"\xff",
        received_at="2026-12-01T00:00:00.000+00:00",
        source_ip="1.2.3.4",
        payload_s3_key="payloads/x",
        type_webhook="t",
        id_instance=1,
        timestamp=1,
        repairs=("r",),
    )
    text = RawWebhook(**{**raw.__dict__, "body": b"{}", "payload_s3_key": None})
    binary = RawWebhook(**{**raw.__dict__, "payload_s3_key": None})
    assert (
        set(archive.record(raw)) | set(archive.record(text)) | set(archive.record(binary))
        == columns
    )
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]


# -- functions and layer ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["IngestFunction", "ProcessFunction", "PublishFunction"])
def test_functions_run_python313_on_arm64_with_the_layer(template: dict, name: str) -> None:
    props = _function_props(template, name)
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Layers"] == [{"Ref": "GreenhookLayer"}]
    assert props["Handler"] == "app.lambda_handler"
    assert (REPO_ROOT / props["CodeUri"] / "app.py").is_file()


def test_layer_matches_the_functions_runtime(resources: dict) -> None:
    layer = resources["GreenhookLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"


def test_every_artifact_builds_with_its_makefile_target(resources: dict) -> None:
    """BuildMethod makefile everywhere (arm64 without Docker), and the target exists."""
    built = {
        name: r["Properties"].get("CodeUri") or r["Properties"].get("ContentUri")
        for name, r in resources.items()
        if r["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    }
    assert set(built) == {
        "GreenhookLayer",
        "IngestFunction",
        "ProcessFunction",
        "PublishFunction",
        "RegisterFunction",
        "MonitorFunction",
        "RotateFunction",
    }
    for name, code_uri in built.items():
        assert resources[name]["Metadata"]["BuildMethod"] == "makefile", name
        makefile = (REPO_ROOT / code_uri / "Makefile").read_text()
        assert re.search(rf"^build-{name}:", makefile, re.MULTILINE), name


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_functions_get_exactly_the_permissions_their_code_uses(resources: dict, name: str) -> None:
    policies = resources[name]["Properties"]["Policies"]
    # Inline statements only: SAM policy templates grant more than the code calls.
    assert all(set(p) == {"Statement"} for p in policies), policies
    statements = [s for p in policies for s in p["Statement"]]
    actions = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
        resource = statement["Resource"]
        for item in resource if isinstance(resource, list) else [resource]:
            assert item != "*", statement["Sid"]
    assert actions == ALLOWED_ACTIONS[name]
    assert not any("*" in a for a in actions)


def test_s3_permissions_are_scoped_to_the_prefixes_the_code_writes(resources: dict) -> None:
    def s3_resources(function: str, action: str) -> list:
        return [
            s["Resource"]
            for p in resources[function]["Properties"]["Policies"]
            for s in p["Statement"]
            if s["Action"] == action
        ]

    payloads = payload_key("0" * 64, "2026-01-01T00:00:00Z").split("/", 1)[0]
    parked = Payloads.PARKED_PREFIX.rstrip("/")
    messages = Payloads.MESSAGES_PREFIX.rstrip("/")
    assert s3_resources("IngestFunction", "s3:PutObject") == [
        {"Fn::Sub": f"${{PayloadBucket.Arn}}/{payloads}/*"}
    ]
    assert s3_resources("ProcessFunction", "s3:GetObject") == [
        {"Fn::Sub": f"${{PayloadBucket.Arn}}/{payloads}/*"}
    ]
    assert s3_resources("ProcessFunction", "s3:PutObject") == [
        [
            {"Fn::Sub": f"${{PayloadBucket.Arn}}/{parked}/*"},
            {"Fn::Sub": f"${{PayloadBucket.Arn}}/{messages}/*"},
        ]
    ]


def test_the_listing_index_holds_keys_only(resources: dict) -> None:
    # A status, edit or reaction must not write the index (the write-unit ceilings).
    (gsi2,) = [
        index
        for index in resources["WebhookTable"]["Properties"]["GlobalSecondaryIndexes"]
        if index["IndexName"] == keys.GSI2
    ]
    assert gsi2["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_no_secret_reaches_an_environment_variable(template: dict) -> None:
    secret_params = {n for n, p in template["Parameters"].items() if p.get("NoEcho")}
    assert "WebhookToken" in secret_params
    for name in _of_type(template["Resources"], "AWS::Serverless::Function"):
        env = _function_props(template, name).get("Environment", {}).get("Variables", {})
        for variable, value in env.items():
            assert not (references(value) & secret_params), f"{name}.{variable}"
            assert "{{resolve:" not in str(value), f"{name}.{variable}"
    ingest_env = template["Resources"]["IngestFunction"]["Properties"]["Environment"]
    assert ingest_env["Variables"]["TOKEN_SECRET_NAME"] == {"Ref": "WebhookTokenSecret"}


# -- parameters and outputs ---------------------------------------------------------------


def test_allowed_cidrs_default_is_green_api_senders(template: dict) -> None:
    default = template["Parameters"]["AllowedCidrs"]["Default"].split(",")
    assert len(default) == len(GREEN_API_SENDER_IPS)
    assert {cidr.strip() for cidr in default} == {f"{ip}/32" for ip in GREEN_API_SENDER_IPS}


def test_outputs_give_what_an_operator_needs(template: dict) -> None:
    assert set(template["Outputs"]) >= {
        "WebhookUrl",
        "QueueUrl",
        "DlqUrl",
        "TableName",
        "TokenSecretArn",
        "PayloadBucketName",
        "EventBusName",
        "EventBusArn",
        "FailedEventsQueueUrl",
    }
    url = template["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("/green-api/webhook")
    routes = template["Resources"]["IngestFunction"]["Properties"]["Events"]
    assert routes["Webhook"]["Properties"]["Path"] == "/green-api/webhook"


# -- sam build ----------------------------------------------------------------------------


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    assert header[4] == 2 and header[5] == 1, path  # 64-bit, little-endian
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SAM.exists():
        pytest.skip(f"{SAM.relative_to(REPO_ROOT)} is missing: run `make sam-install`")
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    started = time.monotonic()
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(TEMPLATE_PATH),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(build_dir.parent / "cache"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"sam build took {time.monotonic() - started:.1f} s")
    return build_dir


@pytest.mark.sam
def test_sam_build_ships_aarch64_binaries(sam_build: Path) -> None:
    layer = sam_build / "GreenhookLayer" / "python"
    (core,) = layer.glob("pydantic_core/_pydantic_core*.so")
    assert _elf_machine(core) == ELF_MACHINE_AARCH64
    for shared_object in layer.rglob("*.so*"):
        assert _elf_machine(shared_object) == ELF_MACHINE_AARCH64, shared_object
    # boto3 comes with the runtime; a copy in /opt/python would shadow it.
    assert not (layer / "boto3").exists()
    assert not (layer / "botocore").exists()


@pytest.mark.sam
def test_sam_build_ships_bytecode_lambda_will_use(sam_build: Path) -> None:
    """Every module has a CPython 3.13 .pyc that does not depend on file dates.

    SAM zips every file dated 1980-01-01, so a default (timestamp) .pyc would never match
    its source on Lambda and would be silently ignored: only hash-based ones count.
    """
    layer = sam_build / "GreenhookLayer" / "python"
    sources = list(layer.rglob("*.py"))
    greenhook = [s for s in sources if s.parent.name == "greenhook"]
    assert len(greenhook) >= 5
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), source
        header = pyc.read_bytes()[:8]
        assert header[:4] == PYC_MAGIC_313, pyc
        assert int.from_bytes(header[4:8], "little") == PYC_FLAG_HASH_UNCHECKED, pyc
    stray = [p for p in layer.rglob("*.pyc") if ".cpython-313." not in p.name]
    assert stray == []


@pytest.mark.sam
@pytest.mark.parametrize("name", ["IngestFunction", "ProcessFunction", "PublishFunction"])
def test_sam_build_ships_only_the_handler_in_functions(sam_build: Path, name: str) -> None:
    files = sorted(p.name for p in (sam_build / name).iterdir())
    assert files == ["app.py"]
    built = load_template(sam_build / "template.yaml")["Resources"][name]["Properties"]
    assert built["CodeUri"] == name


def test_registration_runs_only_with_credentials_and_on_every_deploy(template: dict) -> None:
    resources = template["Resources"]
    for name in ("RegisterFunction", "GreenApiRegistration", "RegistrationStateSecret"):
        assert resources[name]["Condition"] == "RegisterWithGreenApi"
    props = resources["GreenApiRegistration"]["Properties"]
    assert props["DeployId"] == {"Ref": "DeployId"}
    assert "DeployId=$$(date +%s)" in (REPO_ROOT / "mk" / "sam.mk").read_text()
    # Every webhook switch of GREEN-API's SetSettings is a template parameter.
    assert sorted(props["Settings"]) == sorted(WEBHOOK_SWITCHES)
    for value in props["Settings"].values():
        assert template["Parameters"][value["Ref"]]["AllowedValues"] == ["yes", "no"]
    # The API token only ever travels as a NoEcho parameter into a secret.
    assert template["Parameters"]["GreenApiTokenInstance"]["NoEcho"] is True
    timeout = resources["RegisterFunction"]["Properties"]["Timeout"]
    assert timeout == 900  # room to wait for settings to apply; the watchdog answers before it

    # CloudFormation waits ServiceTimeout seconds for an answer (1 to 3600, default 3600):
    # long enough for the function's own retries, short enough not to hang a stack an hour.
    service_timeout = props["ServiceTimeout"]
    assert isinstance(service_timeout, int)
    assert timeout < service_timeout <= min(timeout + 120, 3600)


def test_every_checkov_skip_says_why(resources: dict) -> None:
    """`make validate` fails on checkov findings unless a resource skips one with a reason."""
    skips = {
        (name, skip.get("id")): skip.get("comment", "")
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert skips  # the template does skip some (each decided in template.yaml)
    for (name, check), comment in skips.items():
        assert re.fullmatch(r"CKV_AWS_\d+", str(check)), (name, check)
        assert len(comment.split()) >= 8, (name, check, comment)


def test_the_webhook_api_logs_each_request_as_json_without_headers(resources: dict) -> None:
    settings = resources["WebhookApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}
    log_group = resources["WebhookApiAccessLogGroup"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    line = json.loads(settings["Format"])
    assert line["requestId"] == "$context.requestId"  # required by API Gateway
    assert line["ip"] == "$context.identity.sourceIp"
    assert all(value.startswith("$context.") for value in line.values())
    assert "header" not in settings["Format"].lower()  # Authorization carries the token


SAM_PYTHON = REPO_ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    for key in ("CodeUri", "ContentUri"):  # the transform wants S3 locations
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = "s3://bucket/key.zip"


class NoManagedPolicies:
    def load(self):
        return {}


print(json.dumps(transform(template, {}, NoManagedPolicies())["Resources"]))
"""


def test_sams_transform_adds_no_managed_policy_beyond_logs_and_tracing() -> None:
    """SAM's SQS event would attach AWSLambdaSQSQueueExecutionRole (SQS on every queue)."""
    if not SAM_PYTHON.exists():
        pytest.skip(f"{SAM_PYTHON.relative_to(REPO_ROOT)} is missing: run `make sam-install`")
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", TRANSFORM, str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": "eu-central-1"},
        check=True,
    )
    resources = json.loads(done.stdout)
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert {
        "IngestFunctionRole",
        "ProcessFunctionRole",
        "PublishFunctionRole",
        "RegisterFunctionRole",
    } <= set(roles)
    for name, role in roles.items():
        managed = {
            arn.rsplit("/", 1)[-1] for arn in role["Properties"].get("ManagedPolicyArns", [])
        }
        assert managed <= {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}, name


# -- logs and the instance monitor ----------------------------------------------------------


def test_every_function_logs_json_to_its_own_group_with_the_retention(resources: dict) -> None:
    functions = _of_type(resources, "AWS::Serverless::Function")
    assert {"IngestFunction", "ProcessFunction", "PublishFunction", "MonitorFunction"} <= set(
        functions
    )
    for name, function in functions.items():
        logging_config = function["Properties"]["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON", name
        assert logging_config["SystemLogLevel"] == "WARN", name
        group = resources[logging_config["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group.get("Condition") == function.get("Condition"), name  # exists with it


def _local(template: dict, **parameters: str) -> object:
    from greenhook_dev.template_resources import LocalStack, _parameter_values

    return LocalStack(  # every resource as if created, named after its logical id
        template=template,
        stack_name="s",
        region="eu-central-1",
        parameters=_parameter_values(template, {"GreenApiIdInstance": "1101", **parameters}),
        refs={name: f"s-{name}" for name in template["Resources"]},
        attributes={name: _Attributes(name) for name in template["Resources"]},
    )


class _Attributes(dict):
    """Any GetAtt of a resource: its Arn as `arn:s-<id>`, anything else `s-<id>-<name>`."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(Arn=f"arn:s-{logical_id}")
        self.logical_id = logical_id

    def __missing__(self, name: str) -> str:
        return f"s-{self.logical_id}-{name}"


def test_the_monitor_runs_on_a_schedule_that_may_invoke_only_it(template: dict) -> None:
    resources = template["Resources"]
    schedule = resources["MonitorSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Condition"] == resources["MonitorFunction"]["Condition"]
    assert schedule["DependsOn"] == "GreenApiRegistration"  # checks start after registering
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["MonitorFunction", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}  # the next check is the retry
    assert target["RoleArn"] == {"Fn::GetAtt": ["MonitorScheduleRole", "Arn"]}
    expression = schedule["Properties"]["ScheduleExpression"]
    assert _local(template).resolve(expression) == "rate(5 minutes)"  # the default
    assert _local(template, MonitorIntervalMinutes="1").resolve(expression) == "rate(1 minute)"
    role = resources["MonitorScheduleRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert (grant["Action"], grant["Resource"]) == (
        "lambda:InvokeFunction",
        {"Fn::GetAtt": ["MonitorFunction", "Arn"]},
    )


def test_the_monitor_checks_exactly_what_the_deploy_hook_registers(template: dict) -> None:
    local = _local(template, IncomingCallWebhook="no", AutoHeal="false")
    environment = local.function_environment("MonitorFunction")
    registered = local.resolve(
        template["Resources"]["GreenApiRegistration"]["Properties"]["Settings"]
    )
    assert json.loads(environment["WEBHOOK_SWITCHES"]) == registered
    assert set(registered) == set(WEBHOOK_SWITCHES)
    assert registered["incomingCallWebhook"] == "no"
    assert environment["AUTO_HEAL"] == "false"
    assert environment["WEBHOOK_URL"] == local.resolve(
        template["Resources"]["GreenApiRegistration"]["Properties"]["WebhookUrl"]
    )


# -- alarms and the dashboard ---------------------------------------------------------------


def _alarms(resources: dict) -> dict[str, dict]:
    return _of_type(resources, "AWS::CloudWatch::Alarm")


def test_every_alarm_notifies_a_topic_whether_or_not_one_is_given(template: dict) -> None:
    alarms = _alarms(template["Resources"])
    assert len(alarms) >= 11
    given = _local(template, AlarmTopicArn="arn:aws:sns:eu-central-1:1:ops")
    created = _local(template)
    assert created.condition("CreateAlarmTopic") and not given.condition("CreateAlarmTopic")
    for name, alarm in alarms.items():
        actions = alarm["Properties"]["AlarmActions"]
        assert given.resolve(actions) == ["arn:aws:sns:eu-central-1:1:ops"], name
        assert created.resolve(actions) == ["s-AlarmTopic"], name  # Ref of a topic: its ARN


def test_every_alarm_has_a_runbook_section_that_its_description_names() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    runbook = readme[readme.index("### Runbook") :]
    sections = set(re.findall(r"^#### (\w+)$", runbook, re.MULTILINE))
    alarms = _alarms(load_template()["Resources"])
    assert sections == set(alarms)
    for name, alarm in alarms.items():
        description = " ".join(alarm["Properties"]["AlarmDescription"].split())
        assert f'README "Runbook", {name}' in description, name


def _emitted_metrics() -> set[str]:
    """The names greenhook's code emits in its namespace: literal names given to Metrics or
    log_metric, and ingest's `WebhookRejected<status>` for each status it rejects with."""
    from greenhook import ingest

    names = set()
    for path in (REPO_ROOT / "layers" / "greenhook" / "greenhook").glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'add_metric\(\s*(?:name=)?"(\w+)"', text))
        names |= set(re.findall(r'\(\s*"(\w+)",\s*MetricUnit', text))
        names |= set(re.findall(r'log_metric\(\s*"\w+",\s*"[^"]*",\s*"(\w+)"', text))
        names |= set(re.findall(r'\("\w+", "(Webhook\w+)"\)', text))  # (outcome, metric) pairs
    ingest_code = (REPO_ROOT / "layers" / "greenhook" / "greenhook" / "ingest.py").read_text()
    assert 'f"WebhookRejected{rejection.status}"' in ingest_code
    names |= {f"WebhookRejected{c.status}" for c in ingest.Rejected.__subclasses__()}
    return names


def test_the_dashboard_and_alarms_read_metrics_the_code_emits(template: dict) -> None:
    emitted = _emitted_metrics()
    assert {"WebhookAccepted", "WebhookStored", "SettingsDrift", "WebhookRejected401"} <= emitted
    dashboard = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    body = json.loads(_local(template).resolve(dashboard))
    shown = {
        (metric[0], metric[1])
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
    }
    alarmed = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in _alarms(template["Resources"]).values()
    }
    for namespace, name in shown | alarmed:
        if namespace == "Greenhook":
            assert name in emitted, name
    assert {name for namespace, name in shown if namespace == "Greenhook"} >= {
        "WebhookAccepted",
        "WebhookRejected401",
        "WebhookRejected403",
        "WebhookRejected503",
        "WebhookStored",
        "WebhookParked",
        "InstanceNotAuthorized",
        "SettingsDrift",
    }


# -- token rotation: a Step Functions state machine ------------------------------------------
ROTATION_TASKS = ("StoreNewToken", "Register", "Confirm", "RetireOldToken")


def test_every_rotation_step_is_the_rotate_function_and_a_failure_ends_in_rotation_failed(
    resources: dict,
) -> None:
    machine = resources["TokenRotation"]
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    assert machine["Condition"] == resources["RotateFunction"]["Condition"]
    properties = machine["Properties"]
    assert properties["Type"] == "STANDARD"  # Wait states are free there, and may be long
    assert properties["DefinitionSubstitutions"] == {
        "RotateFunctionArn": {"Fn::GetAtt": ["RotateFunction", "Arn"]}
    }
    states = properties["Definition"]["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == set(ROTATION_TASKS)
    for name, task in tasks.items():
        assert task["Parameters"]["FunctionName"] == "${RotateFunctionArn}", name
        assert task["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RotationFailed"}
        ], name
        # Retried only where Lambda itself failed: a step's own error is final.
        (retry,) = task["Retry"]
        assert all(e.startswith("Lambda.") for e in retry["ErrorEquals"]), name
    assert states["RotationFailed"]["Type"] == "Fail"
    # The order of the steps, the old token retired last.
    order, name = [], properties["Definition"]["StartAt"]
    while name in states and states[name]["Type"] not in ("Succeed", "Fail"):
        order.append(name)
        state = states[name]
        name = state.get("Next") or next(
            c["Next"] for c in state["Choices"] if c.get("BooleanEquals") is True
        )
    assert order == [
        "StoreNewToken",
        "WaitForTokenCaches",
        "Register",
        "Confirm",
        "Confirmed",
        "GracePeriod",
        "RetireOldToken",
    ]
    assert states["Confirmed"]["Default"] == "WaitBeforeConfirming"
    assert states["WaitBeforeConfirming"]["Next"] == "Confirm"
    for wait in ("WaitForTokenCaches", "WaitBeforeConfirming", "GracePeriod"):
        assert states[wait]["Type"] == "Wait" and "SecondsPath" in states[wait], wait


def test_no_rotation_state_carries_a_token(resources: dict) -> None:
    """The history shows every state's data: steps pass `token_id`, never a token."""

    def paths(value: object) -> set[str]:  # every "name.$" field: data taken from a state
        if isinstance(value, dict):
            found = {k.removesuffix(".$") for k in value if k.endswith(".$")}
            return found.union(*(paths(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(paths(v) for v in value))
        return set()

    passed = paths(resources["TokenRotation"]["Properties"]["Definition"])
    assert "token_id" in passed
    assert {name for name in passed if "token" in name.lower()} == {"token_id"}


def test_the_rotation_schedule_sends_the_waits_the_code_would(template: dict) -> None:
    from greenhook.rotation import default_input

    resources = template["Resources"]
    schedule = resources["TokenRotationSchedule"]
    assert schedule["Condition"] == "RotateTokenOnSchedule"
    assert schedule["DependsOn"] == "GreenApiRegistration"
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == {"Ref": "TokenRotation"}
    cache = int(
        resources["IngestFunction"]["Properties"]["Environment"]["Variables"]["TOKEN_CACHE_SECONDS"]
    )
    assert json.loads(target["Input"]) == default_input(cache)
    expression = schedule["Properties"]["ScheduleExpression"]
    assert _local(template, TokenRotationDays="30").resolve(expression) == "rate(30 days)"
    assert _local(template, TokenRotationDays="1").resolve(expression) == "rate(1 day)"
    assert not _local(template).condition("RotateTokenOnSchedule")  # off by default
    role = resources["TokenRotationScheduleRole"]["Properties"]
    (policy,) = role["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert (grant["Action"], grant["Resource"]) == (
        "states:StartExecution",
        {"Ref": "TokenRotation"},
    )


def test_a_failed_rotation_raises_an_alarm(resources: dict) -> None:
    alarm = resources["TokenRotationFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "TokenRotation"}}]
    assert alarm["TreatMissingData"] == "notBreaching"
