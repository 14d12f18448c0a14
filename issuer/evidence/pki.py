"""X.509 paths and CRLs for the evidence checks (RFC 5280), with akashi's specific errors.

pyca/cryptography parses and verifies signatures (``verify_directly_issued_by``,
``is_signature_valid``); the path rules are ours, because each failure must raise its own
identity.errors exception (``cryptography.x509.verification`` reports one generic error and
applies the Web PKI profile, which a JPKI card certificate is not). Numbered rules, RFC 5280
section 6.1 and 6.3 in small:

1. Path (:func:`build_path`): each certificate's issuer name is the next one's subject and its
   signature verifies under that key, ending at a configured root, at most ``max_chain``
   certificates long. Names chain but a signature fails → InvalidSignature; a path longer than
   allowed → PolicyError; no path → UnknownKey.
2. Profile (:func:`check_profile`): the end-entity certificate is no CA; every issuer is a CA
   (basicConstraints cA) allowed to sign certificates (keyUsage keyCertSign when present) within
   its pathLenConstraint → KeyStateError. A critical extension akashi does not process, or a
   signature hash weaker than SHA-256, → UnsupportedAlgorithm. The root is trusted as configured.
3. Validity (:func:`check_validity`): notBefore ≤ now ≤ notAfter for every certificate →
   Expired after notAfter, TimeError before notBefore.
4. Revocation (:func:`check_revocation`): the issuer's CRLs (same issuer name) must each verify
   under the issuer's key (→ InvalidSignature), the issuer may sign CRLs (keyUsage cRLSign, →
   KeyStateError); a listed serial → Revoked, or Suspended for certificateHold; no CRL, or none
   current (thisUpdate ≤ now ≤ nextUpdate), → PolicyError: revocation status unknown.
5. CRL shape (:func:`check_crl_supported`): only complete CRLs — no delta CRL, no critical
   issuingDistributionPoint (partitioned) or critical entry extension (indirect CRL), →
   UnsupportedAlgorithm.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from identity.errors import (
    Expired,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    PolicyError,
    Revoked,
    Suspended,
    TimeError,
    UnknownKey,
    UnsupportedAlgorithm,
)

__all__ = [
    "build_path",
    "check_crl_supported",
    "check_profile",
    "check_revocation",
    "check_validity",
    "dn",
    "is_ca",
    "key_usage",
    "load_certificate",
    "load_crl",
]

# Extensions whose criticality akashi can honour: it processes them or, for identifiers and
# pointers, safely ignores them. Any other critical extension (name or policy constraints, a
# critical extendedKeyUsage…) is refused (rule 2).
_PROCESSED = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)
_CRL_PROCESSED = frozenset(
    {ExtensionOID.CRL_NUMBER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.ISSUER_ALTERNATIVE_NAME}
)
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_HASHLESS = frozenset({SignatureAlgorithmOID.ED25519, SignatureAlgorithmOID.ED448})
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    x509.DuplicateExtension,
    x509.InvalidVersion,
    x509.UnsupportedGeneralNameType,
    _CryptoUnsupported,
)


def dn(name: x509.Name) -> str:
    """A distinguished name as an RFC 4514 string (most specific attribute first)."""
    return name.rfc4514_string()


def load_certificate(data: bytes, what: str = "certificate") -> x509.Certificate:
    """A certificate from DER or PEM bytes, its extensions parsed. → MalformedInput"""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
        # Parts are parsed lazily: read each one now, so that a broken one is malformed input
        # here and not a foreign exception in the middle of a check.
        _ = (
            cert.extensions,
            cert.subject.rfc4514_string(),
            cert.issuer.rfc4514_string(),
            cert.serial_number,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            cert.signature_algorithm_oid,
        )
    except _PARSE_ERRORS as exc:
        raise MalformedInput(f"the {what} is not a well-formed X.509 certificate") from exc
    if cert.serial_number <= 0:  # RFC 5280 section 4.1.2.2; cryptography will refuse them too
        raise MalformedInput(f"the {what} has a serial number that is not positive")
    return cert


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER or PEM bytes, its extensions parsed. → MalformedInput"""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
        _ = (
            crl.extensions,
            crl.issuer.rfc4514_string(),
            crl.last_update_utc,
            crl.next_update_utc,
            crl.signature_algorithm_oid,
        )
        for entry in crl:
            _ = (entry.extensions, entry.serial_number, entry.revocation_date_utc)
        return crl
    except _PARSE_ERRORS as exc:
        raise MalformedInput("the CRL is not a well-formed X.509 CRL") from exc


def check_crl_supported(crl: x509.CertificateRevocationList) -> None:
    """Rule 5: a complete CRL, whose every critical extension akashi processes."""
    for ext in crl.extensions:
        if (ext.critical and ext.oid not in _CRL_PROCESSED) or ext.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            raise UnsupportedAlgorithm(
                f"CRL of {dn(crl.issuer)}: extension {ext.oid.dotted_string} "
                "is not supported (akashi needs complete CRLs)"
            )
    for entry in crl:
        for ext in entry.extensions:
            if ext.critical:
                raise UnsupportedAlgorithm(
                    f"CRL of {dn(crl.issuer)}: critical entry extension "
                    f"{ext.oid.dotted_string} is not supported"
                )


def is_ca(cert: x509.Certificate) -> bool:
    """True if basicConstraints says cA."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    """The keyUsage extension's value, or None without one."""
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (_CryptoInvalidSignature, *_PARSE_ERRORS):
        return False
    return True


def build_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    max_chain: int,
) -> list[x509.Certificate]:
    """Rule 1: leaf → intermediates… → root, depth first; names first, then signatures."""
    bad_signature = too_long = False

    def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        nonlocal bad_signature, too_long
        cert = path[-1]
        for root in roots:
            if root.subject == cert.issuer:
                if _issued_by(cert, root):
                    return [*path, root]
                bad_signature = True
        for ca in intermediates:
            if ca.subject != cert.issuer or ca in path:
                continue
            if len(path) + 2 > max_chain:  # no room left for this CA and a root above it
                too_long = True
                continue
            if not _issued_by(cert, ca):
                bad_signature = True
                continue
            found = extend([*path, ca])
            if found is not None:
                return found
        return None

    path = extend([leaf])
    if path is not None:
        return path
    if bad_signature:
        raise InvalidSignature("invalid certificate chain signature")
    if too_long:
        raise PolicyError(f"the certificate chain is longer than {max_chain} certificates")
    raise UnknownKey(f"the certificate does not chain to a configured root (its issuer is {dn(leaf.issuer)})")


def check_profile(path: Sequence[x509.Certificate]) -> None:
    """Rule 2 along a path from :func:`build_path` (end entity first, root last)."""
    if is_ca(path[0]):
        raise KeyStateError("the end-entity certificate is a CA certificate")
    for cert in path[:-1]:
        for ext in cert.extensions:
            if ext.critical and ext.oid not in _PROCESSED:
                raise UnsupportedAlgorithm(
                    f"certificate {dn(cert.subject)} has critical extension "
                    f"{ext.oid.dotted_string}, which akashi does not process"
                )
        try:
            digest = cert.signature_hash_algorithm
        except _CryptoUnsupported as exc:
            raise UnsupportedAlgorithm("a certificate's signature algorithm is not supported") from exc
        if not isinstance(digest, _STRONG_HASHES) and cert.signature_algorithm_oid not in _HASHLESS:
            raise UnsupportedAlgorithm("a certificate is signed with a hash weaker than SHA-256")
    for below, issuer in enumerate(path[1:]):  # `below`: CA certificates between it and the leaf
        if not is_ca(issuer):
            raise KeyStateError(f"{dn(issuer.subject)} issues certificates but is not a CA")
        usage = key_usage(issuer)
        if usage is not None and not usage.key_cert_sign:
            raise KeyStateError(f"{dn(issuer.subject)} may not sign certificates (keyUsage)")
        limit = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        if limit is not None and below > limit:
            raise KeyStateError(f"{dn(issuer.subject)} allows at most {limit} CAs below it")


def check_validity(path: Sequence[x509.Certificate], now: datetime) -> None:
    """Rule 3 for every certificate of the path."""
    for cert in path:
        if now > cert.not_valid_after_utc:
            raise Expired(f"certificate {dn(cert.subject)} expired at {cert.not_valid_after_utc.isoformat()}")
        if now < cert.not_valid_before_utc:
            raise TimeError(
                f"certificate {dn(cert.subject)} is not valid before {cert.not_valid_before_utc.isoformat()}"
            )


def check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    now: datetime,
) -> None:
    """Rule 4: ``cert`` against the CRLs that ``issuer`` published."""
    mine = [crl for crl in crls if crl.issuer == issuer.subject]
    if not mine:
        raise PolicyError(f"revocation status unknown: no CRL of {dn(issuer.subject)} is configured")
    usage = key_usage(issuer)
    if usage is not None and not usage.crl_sign:
        raise KeyStateError(f"{dn(issuer.subject)} may not sign CRLs (keyUsage)")
    for crl in mine:
        try:
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except _PARSE_ERRORS:
            valid = False
        if not valid:
            raise InvalidSignature("invalid CRL signature")
    for crl in mine:
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            continue
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        what = f"certificate {cert.serial_number} of {dn(issuer.subject)}"
        if reason is x509.ReasonFlags.certificate_hold:
            raise Suspended(f"{what} is on hold")
        raise Revoked(f"{what} was revoked on {entry.revocation_date_utc.date().isoformat()}")
    current = [
        crl
        for crl in mine
        if crl.last_update_utc <= now and crl.next_update_utc is not None and now <= crl.next_update_utc
    ]
    if not current:
        due = max((c.next_update_utc for c in mine if c.next_update_utc is not None), default=None)
        raise PolicyError(
            f"revocation status unknown: the CRL of {dn(issuer.subject)} is stale "
            f"(its next update was due {due.isoformat() if due else 'at no stated time'})"
        )
