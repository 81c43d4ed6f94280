"""Create greenhook's AWS resources from template.yaml in any boto3 endpoint (moto).

moto's CloudFormation cannot run this SAM template (no HttpApi, no Lambda without Docker),
so the local stack and the tests build the queues, table (and its stream), secrets, bucket,
event bus and its archive themselves from the template's own resource properties: change
the template and they follow.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenhook_dev import moto_atomic, moto_firehose, moto_move_task, moto_states

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
_NO_VALUE = object()


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub ...) into long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):  # the two intrinsics without the Fn:: prefix
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict:
    """Parse a CloudFormation/SAM template, intrinsic short tags included."""
    return yaml.load(path.read_text(), Loader=_CfnLoader)


@dataclass
class LocalStack:
    """What was created: physical ids for Ref, attributes for GetAtt, per logical id."""

    template: dict
    stack_name: str
    region: str
    parameters: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    # -- intrinsic functions -------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve intrinsic functions against the created resources and parameters."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg
                if logical_id not in self.attributes and self._is_role(logical_id):
                    # moto does not check roles: an ARN is all a local resource needs
                    return f"arn:aws:iam::{ACCOUNT_ID}:role/{self.stack_name}-{logical_id}"
                if logical_id not in self.attributes and self._is_function(logical_id):
                    # functions run in-process (lambda_runtime), named as LocalFunction does
                    return function_arn(self.region, f"{self.stack_name}-{logical_id}")
                return self.attributes[logical_id][attribute]
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _is_role(self, logical_id: str) -> bool:
        resource = self.template["Resources"].get(logical_id, {})
        return resource.get("Type") == "AWS::IAM::Role"

    def _is_function(self, logical_id: str) -> bool:
        resource = self.template["Resources"].get(logical_id, {})
        return resource.get("Type") == "AWS::Serverless::Function"

    def condition(self, name: str) -> bool:
        return self._evaluate(self.template["Conditions"][name])

    def _evaluate(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self._evaluate(arg[0])
            if key == "Fn::And":
                return all(self._evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self._evaluate(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.refs and self._is_function(name):
            return f"{self.stack_name}-{name}"  # a function's Ref is its name (LocalFunction's)
        return self.refs[name]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self.attributes[logical_id][attribute])
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # -- functions -----------------------------------------------------------------------
    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function gets: Globals plus its own, intrinsics resolved."""
        globals_env = (
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        ).get("Variables", {})
        own_env = (self.template["Resources"][logical_id]["Properties"].get("Environment", {})).get(
            "Variables", {}
        )
        merged = {**globals_env, **own_env}
        return {k: str(self.resolve(v)) for k, v in merged.items()}

    def function_properties(self, logical_id: str) -> dict:
        """A function's properties with Globals applied (shallow, as SAM does for scalars)."""
        props = dict(self.template.get("Globals", {}).get("Function", {}))
        props.update(self.template["Resources"][logical_id]["Properties"])
        return props


def _parameter_values(template: dict, overrides: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        value = (overrides or {}).get(name, spec.get("Default", ""))
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, list):
            value = str(value)  # as CloudFormation: a Ref to a parameter is a string
        values[name] = value
    return values


def _name(stack: LocalStack, logical_id: str) -> str:
    return f"{stack.stack_name}-{logical_id}"


def _create_queue(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    sqs = session.client("sqs")
    name = _name(stack, logical_id) + (".fifo" if props.get("FifoQueue") else "")
    attributes = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags"):
            continue
        if isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        attributes[key] = str(value)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{stack.region}:{ACCOUNT_ID}:{name}"
    stack.refs[logical_id] = url
    stack.attributes[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}


def _create_table(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    dynamodb = session.client("dynamodb")
    name = _name(stack, logical_id)
    kwargs = {
        k: props[k]
        for k in ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")
        if k in props
    }
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    table = dynamodb.create_table(TableName=name, **kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {
        "Arn": f"arn:aws:dynamodb:{stack.region}:{ACCOUNT_ID}:table/{name}"
    }
    if "LatestStreamArn" in table:
        stack.attributes[logical_id]["StreamArn"] = table["LatestStreamArn"]


def _generate_secret_string(spec: dict) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "GenerateStringKey" not in spec:
        return password
    document = json.loads(spec.get("SecretStringTemplate", "{}"))
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


def _create_secret(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    client = session.client("secretsmanager")
    if "SecretString" in props:
        value = props["SecretString"]
    else:
        value = _generate_secret_string(props.get("GenerateSecretString", {}))
    arn = client.create_secret(Name=_name(stack, logical_id), SecretString=value)["ARN"]
    stack.refs[logical_id] = arn
    stack.attributes[logical_id] = {"Arn": arn}


def _create_bucket(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    name = _name(stack, logical_id).lower()
    kwargs: dict[str, Any] = {"Bucket": name}
    if stack.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    session.client("s3").create_bucket(**kwargs)
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {"Arn": f"arn:aws:s3:::{name}"}


def _create_event_bus(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    arn = session.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
    stack.refs[logical_id] = props["Name"]
    stack.attributes[logical_id] = {"Arn": arn, "Name": props["Name"]}


def _create_archive(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    name = _name(stack, logical_id)[:48]
    kwargs = {k: props[k] for k in ("Description", "EventPattern", "RetentionDays") if k in props}
    if isinstance(kwargs.get("EventPattern"), dict):
        kwargs["EventPattern"] = json.dumps(kwargs["EventPattern"])
    kwargs["RetentionDays"] = int(kwargs.get("RetentionDays", 0))
    response = session.client("events").create_archive(
        ArchiveName=name, EventSourceArn=props["SourceArn"], **kwargs
    )
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {"Arn": response["ArchiveArn"]}


def _create_delivery_stream(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    moto_firehose.install()  # prefixes and gzip as Data Firehose writes them
    name = _name(stack, logical_id)[:64]
    destination = props["ExtendedS3DestinationConfiguration"]
    kept = ("BucketARN", "RoleARN", "Prefix", "ErrorOutputPrefix", "CompressionFormat")
    response = session.client("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
        ExtendedS3DestinationConfiguration={k: destination[k] for k in kept if k in destination},
    )
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {"Arn": response["DeliveryStreamARN"]}


def _create_log_group(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    name = props.get("LogGroupName") or f"/{stack.stack_name}/{logical_id}"
    logs = session.client("logs")
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {
        "Arn": f"arn:aws:logs:{stack.region}:{ACCOUNT_ID}:log-group:{name}:*"
    }


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def _create_schedule(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    """An EventBridge Scheduler schedule in moto (which keeps it; greenhook_dev.schedules
    runs its target on the local stack)."""
    name = _name(stack, logical_id)[:64]
    kept = ("ScheduleExpression", "FlexibleTimeWindow", "Target", "State", "Description")
    response = session.client("scheduler").create_schedule(
        Name=name, **{k: props[k] for k in kept if k in props}
    )
    stack.refs[logical_id] = name
    stack.attributes[logical_id] = {"Arn": response["ScheduleArn"]}


def _create_state_machine(stack: LocalStack, logical_id: str, props: dict, session) -> None:
    """A Step Functions state machine in moto, whose own ASL engine runs its executions
    (greenhook_dev.moto_states; the local stack routes its Lambda tasks in-process)."""
    moto_states.install()
    definition = json.dumps(props["Definition"])
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + name + "}", str(value))
    name = _name(stack, logical_id)[:80]
    response = session.client("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",  # moto does not check roles
        type=props.get("Type", "STANDARD"),
    )
    stack.refs[logical_id] = response["stateMachineArn"]
    stack.attributes[logical_id] = {"Arn": response["stateMachineArn"], "Name": name}


_CREATORS = {
    "AWS::Serverless::StateMachine": _create_state_machine,
    "AWS::Scheduler::Schedule": _create_schedule,
    "AWS::Logs::LogGroup": _create_log_group,
    "AWS::KinesisFirehose::DeliveryStream": _create_delivery_stream,
    "AWS::SQS::Queue": _create_queue,
    "AWS::DynamoDB::Table": _create_table,
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::Events::EventBus": _create_event_bus,
    "AWS::Events::Archive": _create_archive,
}


def references(value: Any) -> set[str]:
    """Every name a value refers to: Ref, GetAtt and ${...} inside Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
            found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def create_stack(
    session,
    *,
    stack_name: str = "greenhook-local",
    parameters: dict[str, Any] | None = None,
    template: dict | None = None,
) -> LocalStack:
    """Create every queue, table, secret and bucket of the template through `session`."""
    moto_atomic.install()  # each request atomic, as on AWS, whatever thread sends it
    moto_move_task.install()  # the DLQ redrive (SQS's message move task)
    template = template or load_template()
    stack = LocalStack(
        template=template,
        stack_name=stack_name,
        region=session.region_name,
        parameters=_parameter_values(template, parameters),
    )
    pending = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in _CREATORS
        and ("Condition" not in resource or stack.condition(resource["Condition"]))
    }
    while pending:
        ready = [
            logical_id
            for logical_id, resource in pending.items()
            if not (references(resource.get("Properties", {})) & pending.keys())
        ]
        if not ready:
            raise ValueError(f"circular references between {sorted(pending)}")
        for logical_id in ready:
            resource = pending.pop(logical_id)
            props = stack.resolve(resource.get("Properties", {}))
            _CREATORS[resource["Type"]](stack, logical_id, props, session)
    return stack
