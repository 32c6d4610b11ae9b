"""AWS errors in each wire protocol's real shape, for answers the sandbox makes itself.

moto shapes its own errors; the sandbox answers some requests without
moto (an injected throttle, a refused idempotency token) and must spell
them as the service would, or botocore would parse another code than AWS
sends.  Shapes per botocore's parsers: EC2's ``<Response><Errors>``, the
query protocol's ``<ErrorResponse>``, S3's bare ``<Error>``, JSON's
``__type``, REST-JSON's ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping


@functools.lru_cache(maxsize=64)
def _model_protocol(service: str) -> str | None:
    """botocore's protocol of the service whose signing name is ``service``, when a
    model has that name (``backup``, ``scheduler``); None otherwise."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return None
    return str(model.metadata.get("protocol"))


def protocol_of(headers: Mapping[str, str], body: bytes, service: str | None) -> str:
    """The wire protocol of a request: how its service spells an error.

    A REST-JSON request without a body (a GET or DELETE of AWS Backup or
    EventBridge Scheduler) carries no JSON content type: its service's
    model says the protocol.
    """
    if "x-amz-target" in headers:
        return "json"
    if b"Action=" in body[:200] and "x-www-form-urlencoded" in headers.get("content-type", ""):
        return "ec2" if service == "ec2" else "query"
    if service == "s3":
        return "s3"
    if "json" in headers.get("content-type", ""):
        return "rest-json"
    if service is not None and _model_protocol(service) == "rest-json":
        return "rest-json"
    return "rest-xml"


#: (throttling code, status) per protocol, as AWS answers (and botocore's
#: standard retry mode classifies) them.
THROTTLING = {"ec2": ("RequestLimitExceeded", 503), "query": ("Throttling", 400),
              "rest-xml": ("Throttling", 400), "s3": ("SlowDown", 503),
              "json": ("ThrottlingException", 400),
              "rest-json": ("TooManyRequestsException", 429)}
SERVER_ERROR = {"ec2": ("InternalError", 500), "query": ("InternalFailure", 500),
                "rest-xml": ("InternalFailure", 500), "s3": ("InternalError", 500),
                "json": ("InternalFailure", 500),
                "rest-json": ("InternalFailure", 500)}


def error_reply(protocol: str, code: str, status: int,
                message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an AWS error in ``protocol``'s shape."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol in ("json", "rest-json"):
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "ec2":
        headers.append(("Content-Type", "text/xml"))
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>").encode()
    elif protocol == "s3":
        headers.append(("Content-Type", "application/xml"))
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId>"
                "</Error>").encode()
    else:
        headers.append(("Content-Type", "text/xml"))
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
    return status, headers, body


__all__ = ["SERVER_ERROR", "THROTTLING", "error_reply", "protocol_of"]
