"""ACM under a timing profile: a DNS-validated certificate is PENDING_VALIDATION for AWS's time.

moto 5.2.5 issues an Amazon-issued certificate once its fixed
``MOTO_ACM_VALIDATION_WAIT`` (1 s in the sandbox) has passed, and the
sandbox's DNS fix keeps it pending while its zone is not delegated.  On AWS
DNS validation takes minutes after the CNAME is resolvable.  Under a profile,
a certificate stays PENDING_VALIDATION for the profile's duration (counted
from RequestCertificate), then is issued as soon as its names resolve, and
the profile, not moto's fixed wait, decides when.  ``certificate_validated``
retries on ValidationStatus PENDING_VALIDATION (success is SUCCESS on every
name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.clock import begin, phase_of

KIND = "acm_certificate"


def _time_certificates() -> None:
    """ACM: certificates stay PENDING_VALIDATION for the profile's validation duration."""
    from moto.acm.models import AWSCertificateManagerBackend, CertBundle

    from vivr_sandbox.dns import names_resolvable

    @wrap(AWSCertificateManagerBackend, "request_certificate")
    def request_certificate(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        arn = original(self, *args, **kwargs)
        certificate = self._certificates.get(arn)
        if certificate is not None and phase_of(certificate) is None:  # not a token repeat
            begin(certificate, KIND, "create", {})
        return arn

    @wrap(CertBundle, "check")
    def check(original: Any, self: Any) -> None:
        phase = phase_of(self)
        if phase is not None and phase.kind == KIND:
            if phase.active():
                return
            if self.status == "PENDING_VALIDATION" and names_resolvable(
                    str(self.arn).split(":")[4], {self.common_name, *self.sans}):
                self.status = "ISSUED"
        original(self)


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_certificates]
