"""The lean model loader: what botocore needs to call AWS is untouched, the prose is gone.

Requests serialise and responses parse the same from the lean model as from
botocore's own, for one service of each protocol the tool uses; the clients
the factory builds use it.
"""

from __future__ import annotations

import copy
import gzip
import json
import marshal
import os
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from vivr_provision import aws_models
from vivr_provision.aws import AwsSettings, ClientFactory

#: One service per protocol (ec2, query, rest-xml, rest-json, json) and an operation each.
REQUESTS = [
    pytest.param("ec2", "DescribeVpcs",
                 {"Filters": [{"Name": "tag:vivr:project", "Values": ["vivr"]}]}, id="ec2"),
    pytest.param("iam", "CreateRole",
                 {"RoleName": "r", "AssumeRolePolicyDocument": "{}",
                  "Tags": [{"Key": "k", "Value": "v"}]}, id="query"),
    pytest.param("s3", "PutBucketTagging",
                 {"Bucket": "b", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}},
                 id="rest-xml"),
    pytest.param("lambda", "TagResource",
                 {"Resource": "arn:aws:lambda:us-east-1:1:function:f", "Tags": {"k": "v"}},
                 id="rest-json"),
    pytest.param("logs", "CreateLogGroup", {"logGroupName": "/vivr/app", "tags": {"k": "v"}},
                 id="json"),
]


def _models(service: str) -> tuple[ServiceModel, ServiceModel]:
    """botocore's own model of ``service`` and the lean one."""
    plain = botocore.loaders.Loader()
    lean = botocore.loaders.Loader(file_loader=aws_models.LeanJSONFileLoader())
    return (ServiceModel(plain.load_service_model(service, "service-2"), service),
            ServiceModel(lean.load_service_model(service, "service-2"), service))


@pytest.mark.parametrize(("service", "operation", "params"), REQUESTS)
def test_requests_serialise_the_same(service: str, operation: str,
                                     params: dict[str, Any]) -> None:
    plain, lean = _models(service)
    requests = []
    for model in (plain, lean):
        serializer = create_serializer(model.metadata["protocol"])
        requests.append(serializer.serialize_to_request(
            copy.deepcopy(params), model.operation_model(operation)))
    assert requests[0] == requests[1]
    assert lean.operation_model(operation).documentation == ""
    assert plain.operation_model(operation).documentation  # there was prose to drop


def test_responses_parse_the_same() -> None:
    plain, lean = _models("ec2")
    body = (b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            b"<vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock>"
            b"<tagSet><item><key>Name</key><value>vivr</value></item></tagSet>"
            b"</item></vpcSet></DescribeVpcsResponse>")
    parsed = [create_parser("ec2").parse(
        {"status_code": 200, "headers": {}, "body": body},
        model.operation_model("DescribeVpcs").output_shape) for model in (plain, lean)]
    assert parsed[0] == parsed[1]
    assert parsed[1]["Vpcs"][0]["Tags"] == [{"Key": "Name", "Value": "vivr"}]


def test_only_documentation_is_dropped() -> None:
    """Same keys in the same order, less the prose; what botocore indexes is kept."""
    plain = botocore.loaders.Loader().load_service_model("s3", "service-2")
    lean = botocore.loaders.Loader(
        file_loader=aws_models.LeanJSONFileLoader()).load_service_model("s3", "service-2")
    assert type(lean) is dict
    assert list(lean["shapes"]) == list(plain["shapes"])
    bucket = plain["shapes"]["CreateBucketRequest"]["members"]["Bucket"]
    assert "documentation" in bucket
    assert lean["shapes"]["CreateBucketRequest"]["members"]["Bucket"] == {
        k: v for k, v in bucket.items() if k != "documentation"}
    # ServiceModel.client_context_parameters reads param["documentation"]: kept.
    params = ServiceModel(lean, "s3").client_context_parameters
    assert params and all(p.documentation for p in params)


def test_other_data_files_load_as_botocore_loads_them() -> None:
    plain = botocore.loaders.Loader()
    lean = botocore.loaders.Loader(file_loader=aws_models.LeanJSONFileLoader())
    for name in ("endpoints", "partitions", "ec2/2016-11-15/waiters-2",
                 "s3/2006-03-01/endpoint-rule-set-1"):
        assert lean.load_data(name) == plain.load_data(name), name
    missing = os.path.join(os.path.dirname(botocore.loaders.__file__), "data", "no-such")
    assert aws_models.LeanJSONFileLoader().load_file(missing) is None
    assert not aws_models.LeanJSONFileLoader().exists(missing)


def test_the_factory_builds_clients_on_lean_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    factory = ClientFactory(AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    ec2 = factory.client("ec2", "us-west-2")
    model = ec2.meta.service_model
    assert model.documentation == ""
    assert model.operation_model("DescribeVpcs").documentation == ""
    assert model.shape_for("Vpc").members["VpcId"].documentation == ""
    assert ec2.meta.region_name == "us-west-2"
    assert factory.client("s3").meta.service_model.client_context_parameters


@pytest.fixture
def data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``service-2`` data file of our own (gzipped, as botocore ships them), and an
    empty cache directory."""
    monkeypatch.setenv("VIVR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "svc" / "2020-01-01"
    folder.mkdir(parents=True)
    _write_model(folder / "service-2.json.gz", "first")
    return folder / "service-2"


def _write_model(path: Path, version: str) -> None:
    path.write_bytes(gzip.compress(json.dumps({
        "metadata": {"apiVersion": version}, "documentation": "prose",
        "shapes": {"S": {"type": "string", "documentation": "prose"}}}).encode()))


def _no_json(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("decoded the JSON again")
    monkeypatch.setattr(aws_models.json, "loads", refuse)


def test_a_decoded_file_is_read_back_from_the_cache(data_file: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = aws_models.LeanJSONFileLoader().load_file(str(data_file))
    assert first == {"metadata": {"apiVersion": "first"}, "shapes": {"S": {"type": "string"}}}
    assert len(list((data_file.parents[3] / "cache").glob("botocore-*.marshal"))) == 1
    _no_json(monkeypatch)
    assert aws_models.LeanJSONFileLoader().load_file(str(data_file)) == first


def test_a_changed_file_is_never_answered_from_an_older_entry(data_file: Path) -> None:
    aws_models.LeanJSONFileLoader().load_file(str(data_file))
    gz = data_file.with_name("service-2.json.gz")
    _write_model(gz, "second-and-longer")
    os.utime(gz, ns=(gz.stat().st_atime_ns, gz.stat().st_mtime_ns + 1_000_000))
    again = aws_models.LeanJSONFileLoader().load_file(str(data_file))
    assert again["metadata"] == {"apiVersion": "second-and-longer"}


def test_a_damaged_entry_or_no_cache_only_costs_time(data_file: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    expected = aws_models.LeanJSONFileLoader().load_file(str(data_file))
    [entry] = (tmp_path / "cache").glob("botocore-*.marshal")
    entry.write_bytes(b"\x00damaged")
    assert aws_models.LeanJSONFileLoader().load_file(str(data_file)) == expected
    entry.write_bytes(marshal.dumps("a string is not a data file"))
    assert aws_models.LeanJSONFileLoader().load_file(str(data_file)) == expected
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("VIVR_CACHE_DIR", str(blocked / "cache"))
    assert aws_models.LeanJSONFileLoader().load_file(str(data_file)) == expected


def test_an_uncached_loader_writes_nothing(data_file: Path, tmp_path: Path) -> None:
    aws_models.LeanJSONFileLoader(cached=False).load_file(str(data_file))
    assert not (tmp_path / "cache").exists()
