"""S3 fixes: per-account bucket namespaces, replication round trip, tags at creation,
access-log delivery left to "later", ListBuckets' regions and pages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap

#: One lock over the sandbox-wide bucket-name table (names are global on AWS too).
_s3_names = threading.Lock()


def _fix_s3_account_namespaces() -> None:
    """S3: each sandbox account has its own bucket namespace.

    moto 5.2.5 keeps one name table for all accounts (``s3_backends.bucket_accounts``),
    as AWS does, and serves another account's bucket to anyone who names it.  The
    sandbox routes access keys to accounts so that test runs and demos sharing a
    server never see each other's resources; with S3 they do: the second account
    that applies the same config gets ``BucketAlreadyExists``, and after a delete
    ``HeadBucket`` still answers 200 from the other account's bucket, so the
    ``bucket_not_exists`` waiter never succeeds.  The fix keeps the name check and
    the lookups within the caller's account.  (Names taken by another account are
    tested with fault injection: ``VIVR_FAULT_FAIL=s3.CreateBucket``.)
    """
    from moto.s3.exceptions import BucketAlreadyExists, MissingBucket
    from moto.s3.models import S3Backend, s3_backends

    @wrap(S3Backend, "get_bucket")
    def get_bucket(original: Any, self: Any, bucket_name: str) -> Any:
        if bucket_name in self.buckets or bucket_name in self.table_buckets:
            return original(self, bucket_name)
        raise MissingBucket(bucket=bucket_name)

    @wrap(S3Backend, "create_bucket")
    def create_bucket(original: Any, self: Any, bucket_name: str, *args: Any,
                      **kwargs: Any) -> Any:
        with _s3_names:
            if bucket_name in self.buckets:
                raise BucketAlreadyExists(bucket=bucket_name)
            # The global table is only read by the uniqueness check bypassed here.
            s3_backends.bucket_accounts.pop(bucket_name, None)
            return original(self, bucket_name, *args, **kwargs)


def _blank(value: Any) -> Any:
    """xmltodict reads ``<Prefix></Prefix>`` as None; S3 answers an empty string."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items() if not k.startswith("@")}
    return value


def _fix_s3_replication_round_trip() -> None:
    """S3: GetBucketReplication returns each rule's Filter, DeleteMarkerReplication and
    SourceSelectionCriteria as they were put.

    moto 5.2.5 stores the whole rule but answers ``DeleteMarkerReplication:
    Disabled`` and ``Filter: {Prefix: ""}`` for every rule and drops
    ``SourceSelectionCriteria`` (SSE-KMS objects) and ``ExistingObjectReplication``.
    AWS returns what was put, so a tool that compares the configuration with
    its config sees drift after every apply.  The fix answers from the stored rule.
    """
    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    @wrap(S3Response, "get_bucket_replication")
    def get_bucket_replication(original: Any, self: Any) -> Any:
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            return original(self)  # ReplicationConfigurationNotFoundError
        rules = []
        for rule in replication["Rule"]:
            shaped = {"ID": rule["ID"], "Priority": rule["Priority"], "Status": rule["Status"],
                      "Destination": _blank(rule["Destination"])}
            for key in ("Filter", "Prefix", "DeleteMarkerReplication",
                        "SourceSelectionCriteria", "ExistingObjectReplication"):
                if key in rule:
                    shaped[key] = _blank(rule[key])
            rules.append(shaped)
        self.data["Action"] = "GetBucketReplication"
        return self.serialized(ActionResult({"ReplicationConfiguration": {
            "Role": replication["Role"], "Rules": rules}}))


def _fix_s3_create_bucket_tags() -> None:
    """S3: CreateBucket applies CreateBucketConfiguration.Tags to the new bucket.

    moto 5.2.5 ignores them.  AWS tags the bucket atomically with its creation
    (general purpose buckets, since 2025), which is what lets a tool recognise
    a bucket it created just before a crash by its ownership tags.  The fix
    tags a bucket the call created (not an existing one a repeated us-east-1
    create returns).
    """
    import xmltodict
    from moto.s3.responses import S3Response

    @wrap(S3Response, "_bucket_response_put")
    def _bucket_response_put(original: Any, self: Any, request: Any, bucket_name: str,
                             querystring: dict[str, Any]) -> Any:
        existed = bucket_name in self.backend.buckets
        result = original(self, request, bucket_name, querystring)
        if querystring or existed or not self.body or bucket_name not in self.backend.buckets:
            return result
        config = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
        tags = (config.get("Tags") or {}).get("Tag") or []
        tags = [tags] if isinstance(tags, dict) else tags
        if tags:
            self.backend.put_bucket_tagging(
                bucket_name, {t["Key"]: t.get("Value") or "" for t in tags})
        return result


def _fix_s3_access_log_delivery_timing() -> None:
    """S3: server access logs are not written into the target bucket during the request.

    moto 5.2.5 writes one log object into the target bucket synchronously on
    every request to a bucket that logs, the caller's own reads included, so
    the log bucket holds objects before the very apply that enabled logging
    has finished.  AWS delivers access logs on a best-effort basis, usually
    within a few hours (S3 User Guide, "Logging requests with server access
    logging": "Best-effort server log delivery").  Delivered that late, a
    sandbox apply followed by destroy finds an empty log bucket, as on AWS
    minutes after enabling it; with moto's timing destroy would refuse the
    log bucket (it never deletes data) in every test.  The logging
    configuration itself (PutBucketLogging, with moto's checks of the target
    and its policy) is kept; only the delivery is dropped, and README's
    emulator section says delivery is unverified.
    """
    from moto.s3.models import S3Backend

    @wrap(S3Backend, "log_incoming_request")
    def log_incoming_request(original: Any, self: Any, request: Any, bucket_name: str) -> None:
        return None


def _fix_s3_list_buckets_region_and_pages() -> None:
    """S3: ListBuckets reports each bucket's BucketRegion and pages with ContinuationToken.

    moto 5.2.5 answers only Name and CreationDate, and cuts the list at
    ``max-buckets`` without a ``ContinuationToken``, so the rest is silently
    lost.  AWS (S3 API Reference, ListBuckets) lists the caller's buckets in
    name order, includes ``BucketRegion`` when the request carries any of
    ``prefix``, ``bucket-region``, ``max-buckets``, ``continuation-token``,
    pages with a default size of 10,000 when one of them is sent, and
    returns a ``ContinuationToken`` while more buckets follow.  A tool that
    takes the region from the listing instead of GetBucketLocation needs
    both.  The fix answers from the account's own buckets (see the
    namespace fix); the token is the last listed name, encoded.
    """
    import base64

    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    @wrap(S3Response, "all_buckets")
    def all_buckets(original: Any, self: Any) -> Any:
        names = ("prefix", "bucket-region", "max-buckets", "continuation-token")
        if not any(self._get_param(name) is not None for name in names):
            return original(self)  # no parameter: AWS answers without BucketRegion too
        self.data["Action"] = "ListAllMyBuckets"
        self._authenticate_and_authorize_s3_action()
        prefix = self._get_param("prefix")
        listed = sorted(self.backend.list_buckets(
            prefix=prefix, bucket_region=self._get_param("bucket-region"), max_buckets=None),
            key=lambda bucket: bucket.name)
        token = self._get_param("continuation-token")
        if token:
            after = base64.urlsafe_b64decode(token.encode()).decode()
            listed = [bucket for bucket in listed if bucket.name > after]
        size = int(self._get_param("max-buckets") or 10_000)
        page, rest = listed[:size], listed[size:]
        result: dict[str, Any] = {
            "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},
            "Buckets": [{"Name": b.name, "CreationDate": b.creation_date_ISO8601,
                         "BucketRegion": b.region_name} for b in page]}
        if rest:
            result["ContinuationToken"] = base64.urlsafe_b64encode(
                page[-1].name.encode()).decode()
        if prefix is not None:
            result["Prefix"] = prefix
        self.data["Action"] = "ListBuckets"
        return self.serialized(ActionResult(result))


#: The fixes of this module, in application order.
FIXES: list[Callable[[], None]] = [
    _fix_s3_account_namespaces,
    _fix_s3_replication_round_trip,
    _fix_s3_create_bucket_tags,
    _fix_s3_access_log_delivery_timing,
    _fix_s3_list_buckets_region_and_pages,
]
