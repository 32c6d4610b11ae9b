"""Sandbox fixes for WAFv2 (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _fix_wafv2_duplicate_item_code() -> None:
    """WAFv2: a duplicate answers WAFDuplicateItemException, the code AWS sends.

    moto 5.2.5 answers ``WafV2DuplicateItem``, a code no WAFv2 model lists;
    AWS sends ``WAFDuplicateItemException`` (botocore's wafv2 model).  A
    CreateWebACL retried after a lost answer is recognised by that code
    (the kind's already-exists codes), so with moto's spelling the retry
    failed only here.
    """
    from moto.wafv2.exceptions import WAFv2ClientError, WAFV2DuplicateItemException

    def init_with_aws_code(self: Any) -> None:
        WAFv2ClientError.__init__(
            self, "WAFDuplicateItemException", "AWS WAF could not perform the operation "
            "because some resource in your request is a duplicate of an existing one.")

    WAFV2DuplicateItemException.__init__ = init_with_aws_code  # type: ignore[method-assign]


FIXES: list[Callable[[], None]] = [_fix_wafv2_duplicate_item_code]
