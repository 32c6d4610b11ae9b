"""The state file's text: byte for byte what ``json.dumps(indent=2, sort_keys=True)`` writes,
however the records change between saves (the encoder reuses unchanged records' text)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from vivr_provision.state import StepRecord, indented_json
from vivr_provision.state.codec import decode, encode
from vivr_provision.state.model import State


def _reference(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False)


def _state() -> State:
    state = State(project="vivr", environment="production", created_at="t0", updated_at="t0")
    for n in range(5):
        record = state.record(f"subnet.private-{n}")
        record.status = "ready"
        record.resource_id = f"subnet-{n:04x}"
        record.outputs = {"arn": f"arn:aws:ec2:us-east-1:1:subnet/subnet-{n}", "az": "us-east-1a",
                          "cidr": f"10.0.{n}.0/24", "ids": [n, n + 1], "nested": {"b": 1, "a": []}}
    state.record("empty")
    return state


def test_a_state_reads_back_as_written() -> None:
    state = _state()
    raw = encode(state)
    assert raw.decode() == _reference({**state.model_dump(mode="json"),
                                       "schema_version": state.schema_version}) + "\n"
    assert encode(decode(raw, "state.json", "move it away")) == raw


@pytest.mark.parametrize("change", [
    pytest.param(lambda r: setattr(r, "status", "deleting"), id="status"),
    pytest.param(lambda r: r.outputs.update(az="us-east-1b"), id="output"),
    pytest.param(lambda r: r.outputs.update(flag=True), id="new-key"),
    pytest.param(lambda r: r.outputs.update(text='line 1\nline 2 "quoted" \u00e9\u2603'),
                 id="escapes"),
    pytest.param(lambda r: r.outputs.clear(), id="emptied"),
    pytest.param(lambda r: r.written.append({"zone": "Z1", "name": "a."}), id="written"),
])
def test_each_save_matches_the_reference_after_a_change(change: Any) -> None:
    state = _state()
    encode(state)  # the previous save: its records are reused where unchanged
    change(state.steps["subnet.private-2"])
    state.steps["new"] = StepRecord(status="creating", token="t")
    document = state.model_dump(mode="json")
    assert indented_json.dumps(document) == _reference(document)


def test_values_that_compare_equal_keep_their_own_json_type() -> None:
    """True == 1 == 1.0 in Python; the file must still say which one it was."""
    seen = []
    for value in (1, True, 1.0, 0.0, -0.0, 1):
        document = {"steps": {"a": {"outputs": {"v": value}}}, "serial": 1}
        text = indented_json.dumps(document)
        assert text == _reference(document)
        seen.append(json.loads(text)["steps"]["a"]["outputs"]["v"])
    assert [type(v) for v in seen] == [int, bool, float, float, float, int]
    assert math.copysign(1, seen[4]) == -1


@pytest.mark.parametrize("document", [
    {}, {"steps": {}}, {"steps": {"a": {}}, "list": [], "none": None},
    {"steps": {"b": [1, {"x": [[], {}]}], "a": "text"}, "dr": {"history": [{"id": "1"}]}},
    {"a\u00e9": {"\n": {"k": "\t"}}, "z": 3.25},
], ids=["empty", "empty-steps", "empty-record", "nested", "escaped-keys"])
def test_documents_of_any_shape(document: dict[str, Any]) -> None:
    assert indented_json.dumps(document) == _reference(document)
    assert indented_json.dumps(document) == _reference(document)  # from the cache


@pytest.mark.parametrize(("value", "error"), [(math.nan, ValueError), (object(), TypeError)],
                         ids=["nan", "object"])
def test_a_value_that_is_not_plain_json_fails(value: Any, error: type[Exception]) -> None:
    """As json.dumps does, whether the record is new or was encoded before."""
    document: dict[str, Any] = {"steps": {"a": {"v": 1}}}
    indented_json.dumps(document)
    document["steps"]["a"]["v"] = value
    with pytest.raises(error):
        indented_json.dumps(document)
    with pytest.raises(error):
        indented_json.dumps({"steps": {"b": {"v": value}}})
