"""The team state store in S3 through the real CLI: lease lock, compare-and-swap
saves, and `state migrate` keeping serial and lineage."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Aws
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.errors import StateCorruptError, StateError, StateLockedError
from vivr_provision.state.codec import encode
from vivr_provision.state.s3 import S3StateStore

pytestmark = pytest.mark.e2e

BUCKET = "acme-vivr-state"
URL = f"s3://{BUCKET}/vivr/production.json"


@pytest.fixture
def s3(aws: Aws) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def store_for(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``store_for(lease_s)``: an in-process S3 store on this test's account."""
    for name, value in aws.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    clients = ClientFactory(AwsSettings(region="us-east-1", endpoint_url=aws.sandbox.url))

    def make(lease_s: float = 60.0) -> S3StateStore:
        return S3StateStore(URL, lambda: clients.client("s3"), lease_s=lease_s)

    yield make


def test_apply_and_status_keep_state_in_s3(aws: Aws, s3: Any) -> None:
    code, report = aws.cli_json("apply", "--target", "vpc", state=URL)
    assert code == 0, report
    body = json.loads(s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read())
    assert body["steps"]["vpc"]["status"] == "ready"
    code, status = aws.cli_json("status", state=URL)
    assert code == 0 and status["state_file"] == URL and status["exists"] is True
    code, report = aws.cli_json("apply", "--target", "vpc", state=URL)
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="vivr/production.json")["Versions"]
    assert len(versions) >= 2, "every save is a new object version (the .backup of S3)"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["vivr/production.json"], "the lock is released after the run"


def test_a_live_lock_exits_3_and_an_expired_one_is_taken_over(
        aws: Aws, s3: Any, store_for: Any) -> None:
    holder = store_for(lease_s=60)
    with holder.lock("apply"):
        result = aws.cli("apply", "--target", "vpc", state=URL)
        assert result.returncode == 3, result.stderr
        assert f"state is locked by PID {os.getpid()}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)

    stale = {"id": "dead", "pid": 999999, "host": "gone", "since": "2026-01-01T00:00:00Z",
             "operation": "apply", "expires": "2026-01-01T00:02:00Z",
             "expires_epoch": time.time() - 1}
    s3.put_object(Bucket=BUCKET, Key="vivr/production.json.lock", Body=json.dumps(stale))
    code, report = aws.cli_json("apply", "--target", "vpc", state=URL)
    assert code == 0, report
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="vivr/production.json.")


def test_a_save_after_someone_else_wrote_writes_nothing(s3: Any, store_for: Any) -> None:
    first, second = store_for(), store_for()
    state = first.load("vivr", "production")
    first.save(state)
    other = second.load("vivr", "production")
    second.save(other)
    before = s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read()
    with pytest.raises(StateError, match="changed by someone else"):
        first.save(state)
    assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read() == before


def test_a_lease_is_renewed_and_a_lost_lock_stops_saves(s3: Any, store_for: Any) -> None:
    store = store_for(lease_s=0.6)
    with store.lock("apply"):
        first = s3.head_object(Bucket=BUCKET, Key="vivr/production.json.lock")["ETag"]
        time.sleep(0.5)
        assert s3.head_object(Bucket=BUCKET, Key="vivr/production.json.lock")["ETag"] != first
        with pytest.raises(StateLockedError), store_for(lease_s=0.6).lock("apply"):
            pass
        s3.put_object(Bucket=BUCKET, Key="vivr/production.json.lock", Body=b"{}")
        time.sleep(0.5)
        with pytest.raises(StateError, match="lost the lock"):
            store.save(store.load("vivr", "production"))


def test_a_corrupt_object_exits_3_and_is_left_as_it_is(aws: Aws, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="vivr/production.json", Body=b'{"schema_version": 1,')
    result = aws.cli("apply", state=URL)
    assert result.returncode == 3 and "corrupt" in result.stderr and URL in result.stderr
    assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read() == \
        b'{"schema_version": 1,'


def test_a_bad_url_or_missing_bucket_is_one_line(aws: Aws) -> None:
    result = aws.cli("status", state="s3://only-a-bucket")
    assert result.returncode == 2 and "expected s3://BUCKET/KEY" in result.stderr
    result = aws.cli("apply", state="s3://no-such-bucket-here/x.json")
    assert result.returncode == 3 and "NoSuchBucket" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- state migrate between a local file and S3 (serial and lineage kept) ------
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


def _changed(*names: str) -> Any:
    """The engine's ``guard``: yields the changed records' names."""

    @contextlib.contextmanager
    def guard() -> Iterator[set[str]]:
        yield set(names)

    return guard()


def _ready(state: Any, name: str, resource_id: str) -> None:
    record = state.record(name)
    record.status, record.resource_id = "ready", resource_id


def _keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_transition_is_one_small_object_and_releasing_the_lock_compacts(
        s3: Any, store_for: Any) -> None:
    store = store_for()
    with store.lock("apply"):
        state = store.load("vivr", "production")
        _ready(state, "vpc", "vpc-1")
        store.save(state)  # nothing to hang a line on yet: a full save
        before = s3.get_object(Bucket=BUCKET, Key="vivr/production.json")
        for name in ("subnet", "bucket"):
            _ready(state, name, f"{name}-1")
            store.save_records(state, _changed(name))
        folder = "vivr/production.json.journal/" + before["ETag"].strip('"') + "/"
        assert [k for k in _keys(s3) if ".journal/" in k] == [
            f"{folder}000000000002.json", f"{folder}000000000003.json"]
        line = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{folder}000000000003.json")
                          ["Body"].read())
        assert list(line["steps"]) == ["bucket"]
        assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["ETag"] == \
            before["ETag"]  # the object is not rewritten
        assert encode(store_for().load("vivr", "production")) == encode(state)  # `status`
    assert _keys(s3) == ["vivr/production.json"]
    assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read() == \
        encode(state)


def test_a_crashed_runs_lines_are_folded_in_and_lines_of_a_replaced_object_are_dead(
        s3: Any, store_for: Any) -> None:
    crashed = store_for()  # appends and never releases: as if killed
    state = crashed.load("vivr", "production")
    crashed.save(state)
    _ready(state, "vpc", "vpc-1")
    crashed.save_records(state, _changed("vpc"))
    dead = "vivr/production.json.journal/0123456789abcdef/000000000003.json"
    s3.put_object(Bucket=BUCKET, Key=dead, Body=b'{"serial": 3, "updated_at": "x", '
                  b'"steps": {"vpc": null}}')

    assert encode(store_for().load("vivr", "production")) == encode(state)  # `status`
    after = store_for()
    with after.lock("apply"):
        assert encode(after.load("vivr", "production")) == encode(state)
    assert _keys(s3) == ["vivr/production.json"]
    assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read() == \
        encode(state)


def test_a_run_stalled_past_its_lease_writes_no_line_when_it_wakes(
        s3: Any, store_for: Any) -> None:
    """A process stopped longer than its lease (a suspended laptop) wakes before its
    renewer does: another run may have taken the lock over and folded the journal,
    so a line it wrote now would never be read.  It writes nothing and stops."""
    store = store_for(lease_s=60)
    with store.lock("apply"):
        state = store.load("vivr", "production")
        _ready(state, "vpc", "vpc-1")
        store.save(state)
        written = s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read()
        store.clock = lambda: time.time() + 61  # it woke after the lease ran out
        _ready(state, "subnet", "subnet-1")
        with pytest.raises(StateError, match=r"lost the lock .* lease ran out"):
            store.save_records(state, _changed("subnet"))
        assert [k for k in _keys(s3) if ".journal/" in k] == []
        assert s3.get_object(Bucket=BUCKET, Key="vivr/production.json")["Body"].read() == \
            written
    assert _keys(s3) == ["vivr/production.json"], "its own lock is still released"


def test_an_unreadable_journal_object_is_refused_in_one_line(s3: Any, store_for: Any) -> None:
    store = store_for()
    state = store.load("vivr", "production")
    store.save(state)
    etag = s3.head_object(Bucket=BUCKET, Key="vivr/production.json")["ETag"].strip('"')
    s3.put_object(Bucket=BUCKET, Key=f"vivr/production.json.journal/{etag}/000000000002.json",
                  Body=b"garbage")

    with pytest.raises(StateCorruptError) as caught:
        store_for().load("vivr", "production")
    assert "000000000002.json is corrupt (unreadable)" in str(caught.value)
    assert "\n" not in str(caught.value)
