"""The unit seam for steps: a ``StepContext`` whose clients are botocore ``Stubber``s.

A step under test talks to real botocore clients (real parameter
validation against the service model) whose every call must have been
announced with :meth:`StubbedAws.expect`; an unannounced call, a call with
other parameters, or an announced call never made fails the test.  No
network, no sandbox: a drift rule or a request shape is proven in
milliseconds.

    aws = StubbedAws()
    aws.expect("ec2", "describe_managed_prefix_lists", {"PrefixLists": [...]},
               {"Filters": [...]})
    with aws:
        changes = step.diff(aws.context(config, outputs), resource)

A context reads directly unless the test asks for the run's batches
(``batched=True``, :class:`StrictBatches`): then each batch call must be
announced too, as every other call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.stub import Stubber, StubResponseError

from vivr_provision.batch_reads import BatchReads
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.steps.base import StepContext

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def production_config() -> PlatformConfig:
    """The repository's production config, as the CLI loads it."""
    return load_config(REPO / "config" / "production.yaml", "production")



class Unbatched(BatchReads):
    """A run whose batches hold nothing: every lookup reads directly."""

    def take(self, key: Hashable, ident: str,
             load: Callable[[], Mapping[str, Mapping[str, Any]]],
             reader: str = "") -> Mapping[str, Any] | None:
        return None

class StrictBatches(BatchReads):
    """A run's batches, except that a batch call the test did not announce (or announced
    otherwise) fails the test.  :class:`BatchReads` takes any botocore error as a
    refused batch and lets each step read its own, and Stubber's errors are botocore
    errors: a missing stub would pass unseen.  A stubbed AWS error (a ``ClientError``)
    is still a refused batch."""

    def take(self, key: Hashable, ident: str,
             load: Callable[[], Mapping[str, Mapping[str, Any]]],
             reader: str = "") -> Mapping[str, Any] | None:
        def strict() -> Mapping[str, Mapping[str, Any]]:
            try:
                return load()
            except StubResponseError as exc:
                raise AssertionError(f"batch call not as announced: {exc}") from None
        return super().take(key, ident, strict, reader)


class StubbedAws:
    """One stubbed client per (service, region), made on first use, checked on exit."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self._stubs: dict[tuple[str, str], tuple[Any, Stubber]] = {}

    def _stub(self, service: str, region: str | None) -> tuple[Any, Stubber]:
        key = (service, region or self.region)
        if key not in self._stubs:
            client = boto3.client(service, region_name=key[1], aws_access_key_id="unit",
                                  aws_secret_access_key="unit")
            stubber = Stubber(client)
            stubber.activate()
            self._stubs[key] = (client, stubber)
        return self._stubs[key]

    # The ClientFactory interface a StepContext uses.
    def client(self, service: str, region: str | None = None) -> Any:
        return self._stub(service, region)[0]

    def expect(self, service: str, operation: str, response: Mapping[str, Any],
               params: Mapping[str, Any] | None = None, *, region: str | None = None) -> None:
        """Announce one call and its reply; ``params`` None accepts any parameters."""
        self._stub(service, region)[1].add_response(operation, dict(response),
                                                   None if params is None else dict(params))

    def expect_error(self, service: str, operation: str, code: str, message: str = "",
                     params: Mapping[str, Any] | None = None, *, status: int = 400,
                     region: str | None = None) -> None:
        """Announce one call that AWS answers with the error ``code``."""
        self._stub(service, region)[1].add_client_error(
            operation, service_error_code=code, service_message=message or code,
            http_status_code=status, expected_params=None if params is None else dict(params))

    def expect_tag_batch(self, tags: Mapping[str, str], *, region: str | None = None,
                         listed: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Announce the tag batch of ``region`` for resources owned as ``tags`` say (one
        ``GetResources``, :mod:`vivr_provision.tag_batch`), answering ``listed``
        (ARN -> tags; nothing by default, so each step reads its own tags)."""
        from vivr_provision import tag_batch  # after the steps: it imports them

        self.expect("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": [
            {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in found.items()]}
            for arn, found in (listed or {}).items()]}, tag_batch.request(tags), region=region)

    def context(self, config: PlatformConfig,
                outputs: Mapping[str, Mapping[str, Any]] | None = None, *,
                batched: bool = False) -> StepContext:
        """A StepContext over these clients; ``outputs`` are the dependencies' outputs.
        ``batched``: first lookups go through the run's batches (:class:`StrictBatches`);
        otherwise every lookup reads directly (:class:`Unbatched`)."""
        recorded = dict(outputs or {})
        ctx = StepContext(config, self, recorded.get,  # type: ignore[arg-type]
                          account_id=ACCOUNT)
        ctx.reads = StrictBatches() if batched else Unbatched()
        return ctx

    def verify(self) -> None:
        """Every announced call was made."""
        for _, stubber in self._stubs.values():
            stubber.assert_no_pending_responses()

    def __enter__(self) -> StubbedAws:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.verify()
        for _, stubber in self._stubs.values():
            stubber.deactivate()
