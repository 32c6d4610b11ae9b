"""RSA key pairs for CloudFront field-level encryption, with ``cryptography``.

The private key is generated here at apply time and stored only as a
Secrets Manager value (:class:`~vivr_provision.steps.secrets.KeyPairSecretStep`);
the public half is derived from it whenever a step needs it
(:class:`~vivr_provision.steps.cloudfront.fle.PublicKeyStep`), so the secret is
the one source of truth and the two halves cannot drift apart.

Formats are what each consumer takes: PKCS#8 PEM for the private key (what
OpenSSL, Node's ``crypto`` and the AWS Encryption SDK read) and
SubjectPublicKeyInfo PEM for the public key (CloudFront's ``EncodedKey``,
"the public key in PEM format", CloudFront Developer Guide, "Set up
field-level encryption").  The key is RSA 2048 with exponent 65537: field-level
encryption "is only compatible with RSA 2048 key signatures" (API reference,
PublicKey).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vivr_provision import log

#: CloudFront field-level encryption takes RSA 2048 keys only.
RSA_BITS = 2048
PUBLIC_EXPONENT = 65537


def generate_private_key_pem() -> str:
    """A fresh RSA 2048 private key, PKCS#8 PEM, unencrypted (Secrets Manager and
    the platform KMS key protect it at rest)."""
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=RSA_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    register_private_key(pem)
    _PUBLIC_HALVES[pem] = _public_pem(key)  # a key made here needs no consistency check
    return pem


def register_private_key(private_pem: str) -> None:
    """Register a private key PEM for redaction, whole and line by line.

    A log line may show the PEM with its newlines escaped (the repr of a
    request's parameters): the 64-character base64 lines are then still
    found and replaced.
    """
    log.register_secret(private_pem)
    for line in private_pem.splitlines():
        if not line.startswith("-----"):
            log.register_secret(line)


#: Private key PEM -> its public half, for the keys this process made or checked
#: (in memory only; a run holds one or two).
_PUBLIC_HALVES: dict[str, str] = {}


def public_key_pem(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a private key PEM.

    Raises ``ValueError`` for anything that is not an RSA 2048 private key
    (an operator who replaced the secret's value by hand): CloudFront would
    refuse the public half anyway.  Remembered per key (in memory only): loading
    a private key checks its RSA consistency, ~27 ms of CPU, and a run derives
    the same key's public half for its find, diff and create.
    """
    if (known := _PUBLIC_HALVES.get(private_pem)) is not None:
        return known
    wrong = f"does not hold an RSA {RSA_BITS} private key (PEM)"
    try:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(wrong) from None  # never chain: the message may quote the value
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_BITS:
        raise ValueError(wrong)
    public = _PUBLIC_HALVES[private_pem] = _public_pem(key)
    return public


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(public_pem: str) -> str:
    """A short, stable name for a public key: SHA-256 of its DER, first 16 hex digits.

    Whitespace and line breaks in the PEM do not change it (CloudFront returns
    the key with a trailing newline it may add or drop).
    """
    key = serialization.load_pem_public_key(public_pem.strip().encode() + b"\n")
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


__all__ = ["RSA_BITS", "fingerprint", "generate_private_key_pem", "public_key_pem",
           "register_private_key"]
