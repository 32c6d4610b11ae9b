"""Each resource kind's error codes and tag calls, checked against botocore's service models.

A kind declares what AWS answers ("not found", "already exists") and how to
tag; a typo there would only show on real AWS (the sandbox answers with
moto's own codes).  Every code must be an error shape the service's model
lists, or be named in ``UNMODELLED_CODES`` with where AWS documents it.
"""

from __future__ import annotations

from functools import cache

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
