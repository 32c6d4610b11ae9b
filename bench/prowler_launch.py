"""Run Prowler's CLI against the sandbox, with the one network fix the emulator needs.

This file runs under Prowler's own virtualenv (``bench/.prowler-venv``), never
under the project's: it imports nothing from the project.

S3 Control addresses the account in the host name
(``https://<account>.s3-control.<region>.amazonaws.com``, botocore's
``s3control`` endpoint rules); against ``AWS_ENDPOINT_URL=http://127.0.0.1:P``
that becomes ``http://<account>.127.0.0.1:P``, which does not resolve, so
Prowler's account-level S3 public-access-block check could not run.  The fix
strips the account label again just before the request is sent (the
``before-send`` event, after signing: moto does not verify signatures, and
it routes the request to S3 Control by its ``/v20180820/`` path).  It lives
here, in the bench, because real AWS needs no such help.

Usage: ``bench/.prowler-venv/bin/python bench/prowler_launch.py aws --services s3 ...``
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import botocore.session


def _endpoint_host() -> str:
    return urlsplit(os.environ.get("AWS_ENDPOINT_URL", "")).netloc


def _strip_account_label(request: Any, **_: Any) -> None:
    """``<account>.127.0.0.1:P`` -> ``127.0.0.1:P`` (only a host that ends with the endpoint's)."""
    host = _endpoint_host()
    parts = urlsplit(request.url)
    if host and parts.netloc != host and parts.netloc.endswith("." + host):
        request.url = urlunsplit(parts._replace(netloc=host))
        request.headers["Host"] = host


_original_create_client = botocore.session.Session.create_client


def _create_client(self: botocore.session.Session, service_name: str, *args: Any,
                   **kwargs: Any) -> Any:
    client = _original_create_client(self, service_name, *args, **kwargs)
    if service_name == "s3control":
        client.meta.events.register("before-send.s3-control", _strip_account_label)
    return client


def main() -> None:
    botocore.session.Session.create_client = _create_client  # type: ignore[method-assign]
    from prowler.__main__ import prowler

    sys.argv[0] = "prowler"
    prowler()


if __name__ == "__main__":
    main()
