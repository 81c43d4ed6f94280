"""A stand-in for CloudFormation's pre-signed response URL, and custom resource events.

Tests and the local stack invoke the register function with the event CloudFormation would
send and read back the one response it PUTs.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from greenhook_dev.template_resources import ACCOUNT_ID, LocalStack


class ResponseReceiver:
    """An HTTP server on 127.0.0.1 that records every response PUT to it."""

    def __init__(self) -> None:
        self.responses: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.responses.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ResponseReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def resource_properties(stack: LocalStack, logical_id: str) -> dict:
    """A custom resource's properties as CloudFormation would send them (all strings)."""
    props = dict(stack.template["Resources"][logical_id]["Properties"])
    props.pop("ServiceToken", None)  # the function is called directly here
    return json.loads(json.dumps(stack.resolve(props)), parse_int=str)


def custom_resource_event(
    stack: LocalStack,
    logical_id: str,
    request_type: str,
    response_url: str,
    *,
    physical_id: str | None = None,
    properties: dict | None = None,
    old_properties: dict | None = None,
) -> dict:
    """The event CloudFormation sends a custom resource's function."""
    event = {
        "RequestType": request_type,
        "ServiceToken": f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:register",
        "ResponseURL": response_url,
        "StackId": f"arn:aws:cloudformation:{stack.region}:{ACCOUNT_ID}:stack/"
        f"{stack.stack_name}/{uuid.uuid4()}",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": logical_id,
        "ResourceType": stack.template["Resources"][logical_id]["Type"],
        "ResourceProperties": properties or resource_properties(stack, logical_id),
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    if old_properties is not None:
        event["OldResourceProperties"] = old_properties
    return event
