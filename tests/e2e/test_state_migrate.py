"""``state migrate`` between a local file and S3, keeping the serial and the lineage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

BUCKET = "acme-vivr-state"
URL = f"s3://{BUCKET}/vivr/production.json"


@pytest.fixture
def s3(aws: Aws) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def _object(s3: Any) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read())


def test_local_state_moves_to_s3_and_back_unchanged(aws: Aws, s3: Any) -> None:
    code, report = aws.cli_json("apply", "--target", "vpc")
    assert code == 0, report
    local = aws.state_path.read_bytes()
    serial, lineage = json.loads(local)["serial"], json.loads(local)["lineage"]

    result = aws.cli("state", "migrate", "--to", URL)
    assert result.returncode == 0, result.stderr
    assert f"serial {serial}, lineage {lineage}," in result.stdout
    assert _object(s3) == local, "same serial, lineage and steps"
    assert aws.state_path.read_bytes() == local, "the source is left as it was"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["vivr/production.json"], "the destination's lock is released"

    again = aws.cli("state", "migrate", "--to", URL)
    assert again.returncode == 2
    assert again.stderr == (f"error: {URL} already exists; nothing was written "
                            "(--force replaces it)\n")

    code, listing = aws.cli_json("state", "list", state=URL)
    assert (listing["serial"], listing["lineage"]) == (serial, lineage)
    assert listing["steps"][0]["step"] == "vpc"
    code, report = aws.cli_json("apply", "--target", "vpc", state=URL)
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}, report

    back = aws.workdir / "back.json"
    result = aws.cli("state", "migrate", "--to", str(back), state=URL)
    assert result.returncode == 0, result.stderr
    assert back.read_bytes() == _object(s3)
