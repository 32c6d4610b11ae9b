"""Each resource kind's error codes and tag calls, checked against botocore's service models.

A kind declares what AWS answers ("not found", "already exists") and how to
tag; a typo there would only show on real AWS (the sandbox answers with
moto's own codes).  Every code must be an error shape the service's model
lists, or be named in ``UNMODELLED_CODES`` with where AWS documents it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.model import ServiceModel

from vivr_provision.steps.kinds import KINDS, UNMODELLED_CODES, Kind


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _error_codes(service: str) -> set[str]:
    model = _model(service)
    codes = set()
    for shape in model.error_shapes:
        codes.add(shape.name)
        codes.add(shape.error_code)
    return codes


@pytest.mark.parametrize("name", sorted(KINDS))
def test_error_codes_are_the_service_models(name: str) -> None:
    kind = KINDS[name]
    known = _error_codes(kind.service)
    unknown = sorted(code for code in kind.not_found | kind.already_exists
                     if code not in known and (kind.service, code) not in UNMODELLED_CODES)
    assert unknown == [], f"{name}: not errors of {kind.service}'s model: {unknown}"


def _pascal(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


@pytest.mark.parametrize("name", sorted(n for n, k in KINDS.items() if k.tags is not None))
def test_tag_requests_match_the_operation(name: str) -> None:
    kind: Kind = KINDS[name]
    assert kind.tags is not None
    operation = _model(kind.service).operation_model(_pascal(kind.tags.write))
    members = operation.input_shape.members
    request = kind.tags.request("arn:aws:x", {"Project": "vivr"})
    assert set(request) <= set(members), (name, sorted(members))
    tags_shape = members[kind.tags.tags_param]
    if kind.tags.key is None:
        assert tags_shape.type_name == "map"
    else:
        assert tags_shape.type_name == "list"
        assert set(tags_shape.member.members) >= {kind.tags.key, kind.tags.value}
    id_shape = members[kind.tags.id_param]
    assert (id_shape.type_name == "list") is kind.tags.id_as_list


def _operation(service: str, method: str) -> Any:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="unit",
                          aws_secret_access_key="unit")
    return _model(service).operation_model(client.meta.method_to_api_mapping[method])


def _top(path: str) -> str:
    """The reply member a JMESPath starts with (``DBInstances[0]`` -> ``DBInstances``)."""
    return path.split("[", 1)[0].split(".", 1)[0]


@pytest.mark.parametrize("name", sorted(n for n, k in KINDS.items() if k.read is not None))
def test_reads_match_the_operation(name: str) -> None:
    kind: Kind = KINDS[name]
    read = kind.read
    assert read is not None
    operation = _operation(kind.service, read.operation)
    members = operation.input_shape.members
    assert set(read.request("vivr-x")) <= set(members), (name, sorted(members))
    assert (members[read.name_param].type_name == "list") is read.name_as_list
    output = operation.output_shape.members
    if read.item == "@":  # the reply is the resource itself (DescribeSecret)
        fields = output
    else:
        assert _top(read.item) in output, (name, sorted(output))
        item = output[_top(read.item)]
        item_shape = item.member if item.type_name == "list" else item
        fields = item_shape.members
    if read.by_id is not None:
        assert read.by_id in members, (name, read.by_id, sorted(members))
        assert (members[read.by_id].type_name == "list") is read.name_as_list
    for path in (read.id_field, read.tag_target, read.tags, read.name_field):
        if path is not None:
            assert _top(path) in fields, (name, path, sorted(fields))
    if read.tags is None:
        assert kind.tags is not None and kind.tags.list_call is not None, \
            f"{name}: no inline tags and no tag list call"


@pytest.mark.parametrize("name", sorted(n for n, k in KINDS.items()
                                        if k.tags is not None and k.tags.list_call))
def test_tag_lists_match_the_operation(name: str) -> None:
    kind: Kind = KINDS[name]
    assert kind.tags is not None and kind.tags.list_call is not None
    operation = _operation(kind.service, kind.tags.list_call)
    assert set(kind.tags.list_request("arn:aws:x")) <= set(operation.input_shape.members)
    assert _top(kind.tags.listed) in operation.output_shape.members
