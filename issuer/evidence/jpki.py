"""My Number card (JPKI) signature certificate check: chain, revocation, signature, basic four items.

The card's signing key (署名用電子証明書) signs a challenge the issuer chose; the certificate chains
to the configured JPKI signing CA and carries the resident register's basic four items (基本4情報)
in subjectAltName ``otherName`` entries, each value a DER UTF8String. The object identifiers are
those of the J-LIS certificate profile (公的個人認証サービスにおけるオブジェクト識別子の体系,
profile specification 3.2, p. 32), as open-source JPKI readers also read them
(kjur/jsrsasign-oid-jpki, whose README shows an ASN.1 dump of a real certificate; independent Go
and Java readers agree)::

    1.2.392.200149.8.5.5.1  name (氏名), family name first, full-width space between: "山田　花子"
    1.2.392.200149.8.5.5.2  positions of substitute characters in the name (代替文字)
    1.2.392.200149.8.5.5.3  gender (性別): "1" male, "2" female, "3" not known
    1.2.392.200149.8.5.5.4  date of birth (生年月日): era digit + Gregorian YYYYMMDD, "419980715"
    1.2.392.200149.8.5.5.5  address (住所)
    1.2.392.200149.8.5.5.6  positions of substitute characters in the address

The era digit (1 明治 … 4 平成, 5 令和) is kept out of the date: the eight digits after it are
already the Gregorian date. "1" = male is confirmed by a dump of a real certificate; "2" and "3"
follow the resident register's coding and are akashi's reading.

Rules of :func:`verify_jpki_signature`, in the order they run (comments reuse the numbers):

1. Parse: sizes within :class:`JpkiTrust`'s limits, every certificate DER that parses, with
   well-formed extensions. → MalformedInput
2. Chain: :mod:`issuer.evidence.pki` rules 1-2 — a path from the card certificate through the
   given intermediates to a configured root (the J-LIS signing CA certificates) of at most
   ``max_chain`` certificates, every signature verified (→ InvalidSignature; no path to a
   configured root → UnknownKey); CA constraints (→ KeyStateError); no unprocessed critical
   extension or weak hash (→ UnsupportedAlgorithm).
3. Validity of every certificate of the path at ``now`` (pki rule 3). → Expired, or TimeError
   before notBefore.
4. Revocation of every certificate below the root against its issuer's CRLs (pki rule 4): a CRL
   not signed by the issuer → InvalidSignature; listed → Revoked (certificateHold → Suspended);
   no CRL, or none current (nextUpdate passed) → PolicyError, "revocation status unknown": the
   operator must refresh the CRLs, the person can do nothing about it.
5. Key usage: the card certificate's keyUsage is present and allows digitalSignature or
   nonRepudiation. → KeyStateError
6. Signature: RSA (≥ ``min_rsa_bits``) PKCS#1 v1.5 with SHA-256 over the challenge bytes, as the
   card computes it. → InvalidSignature (non-RSA key → UnsupportedAlgorithm)
7. The basic four items: name, date of birth, gender and address each present exactly once as a
   UTF8String; a complete date; a known gender code. → MalformedInput
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from identity.credentials.kyc import Address, JpkiEvidence, PersonClaims
from identity.errors import InvalidSignature, KeyStateError, MalformedInput, UnsupportedAlgorithm
from issuer.evidence import pki
from issuer.evidence.names import split_full_name

__all__ = [
    "GENDER_CODES",
    "OID_ADDRESS",
    "OID_ADDRESS_SUBSTITUTES",
    "OID_DATE_OF_BIRTH",
    "OID_GENDER",
    "OID_NAME",
    "OID_NAME_SUBSTITUTES",
    "BasicFour",
    "JpkiResult",
    "JpkiTrust",
    "read_basic_four",
    "verify_jpki_signature",
]

_ARC = "1.2.392.200149.8.5.5"
OID_NAME = x509.ObjectIdentifier(_ARC + ".1")
OID_NAME_SUBSTITUTES = x509.ObjectIdentifier(_ARC + ".2")
OID_GENDER = x509.ObjectIdentifier(_ARC + ".3")
OID_DATE_OF_BIRTH = x509.ObjectIdentifier(_ARC + ".4")
OID_ADDRESS = x509.ObjectIdentifier(_ARC + ".5")
OID_ADDRESS_SUBSTITUTES = x509.ObjectIdentifier(_ARC + ".6")

#: JPKI gender code → OpenID Connect ``gender``; "3" (not known) gives no gender claim.
GENDER_CODES: dict[str, str | None] = {"1": "male", "2": "female", "3": None}


@dataclass(frozen=True, slots=True)
class JpkiTrust:
    """The JPKI trust anchors and CRLs an issuer is configured with, and the limits of a check."""

    roots: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    max_chain: int = 4  # certificates in a path, card and root included (real JPKI: 2)
    max_intermediates: int = 4
    max_certificate_bytes: int = 16 * 1024
    min_rsa_bits: int = 2048

    def __post_init__(self) -> None:
        if not self.roots:
            raise KeyStateError("no JPKI root certificate is configured")
        for root in self.roots:
            if not pki.is_ca(root):
                raise KeyStateError(f"trust anchor {pki.dn(root.subject)} is not a CA certificate")
        for crl in self.crls:
            pki.check_crl_supported(crl)

    @classmethod
    def load(cls, roots: Sequence[bytes], crls: Sequence[bytes] = (), **limits: int) -> JpkiTrust:
        """Trust from PEM or DER bytes (e.g. files the issuer's config names)."""
        return cls(
            roots=tuple(pki.load_certificate(r, "root certificate") for r in roots),
            crls=tuple(pki.load_crl(c) for c in crls),
            **limits,
        )

    def with_crls(self, crls: Sequence[x509.CertificateRevocationList]) -> JpkiTrust:
        """The same anchors with a fresh set of CRLs."""
        return replace(self, crls=tuple(crls))


@dataclass(frozen=True, slots=True)
class BasicFour:
    """The basic four items as the certificate carries them, before mapping to claims."""

    name: str
    date_of_birth: str  # era digit + YYYYMMDD
    gender: str  # JPKI code
    address: str
    name_substitutes: str | None = None
    address_substitutes: str | None = None

    @property
    def birthdate(self) -> date:
        """The Gregorian date of birth. → MalformedInput when incomplete or not a date"""
        raw = self.date_of_birth
        if len(raw) != 9 or not (raw.isascii() and raw.isdigit()):
            raise MalformedInput("the JPKI date of birth is not an era digit and eight digits")
        try:
            return date(int(raw[1:5]), int(raw[5:7]), int(raw[7:9]))
        except ValueError as exc:
            raise MalformedInput("the JPKI date of birth is incomplete or not a date") from exc

    def to_person(self) -> PersonClaims:
        """PersonClaims: the name split at its first space, gender in OpenID words."""
        if self.gender not in GENDER_CODES:
            raise MalformedInput("the JPKI gender code is not 1, 2 or 3")
        family, given = split_full_name(self.name)
        return PersonClaims(
            family_name=family,
            given_name=given,
            birthdate=self.birthdate,
            address=Address(formatted=self.address),
            gender=GENDER_CODES[self.gender],
        )


@dataclass(frozen=True, slots=True)
class JpkiResult:
    """A verified JPKI signature: the person's claims and the evidence for the record."""

    person: PersonClaims
    evidence: JpkiEvidence
    basic_four: BasicFour  # the items exactly as certified (full name, codes, substitutes)
    certificate_not_after: datetime


def _der_utf8_string(der: bytes) -> str:
    """The text of one DER UTF8String (tag 12) that fills ``der`` exactly (rule 7)."""
    if len(der) < 2 or der[0] != 0x0C:
        raise MalformedInput("a JPKI personal data item is not a UTF8String")
    first = der[1]
    if first < 0x80:
        length, start = first, 2
    elif first == 0x81 and len(der) >= 3 and der[2] >= 0x80:
        length, start = der[2], 3
    elif first == 0x82 and len(der) >= 4 and der[2] != 0:
        length, start = int.from_bytes(der[2:4], "big"), 4
    else:  # non-minimal (not DER) or absurdly long
        raise MalformedInput("a JPKI personal data item has a bad DER length")
    if start + length != len(der):
        raise MalformedInput("a JPKI personal data item's length does not match its bytes")
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("a JPKI personal data item is not UTF-8") from exc


def read_basic_four(cert: x509.Certificate) -> BasicFour:
    """The basic four items from a JPKI signature certificate's subjectAltName (rule 7).

    This only reads: call it on a certificate :func:`verify_jpki_signature` accepted, or use that
    function's result.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise MalformedInput("the card certificate has no subjectAltName with the basic four items") from exc
    items: dict[x509.ObjectIdentifier, str] = {}
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string.startswith(_ARC + "."):
            if other.type_id in items:
                raise MalformedInput(f"the personal data item {other.type_id.dotted_string} appears twice")
            items[other.type_id] = _der_utf8_string(other.value)
    needed = {
        OID_NAME: "name",
        OID_DATE_OF_BIRTH: "date of birth",
        OID_GENDER: "gender",
        OID_ADDRESS: "address",
    }
    missing = [label for oid, label in needed.items() if not items.get(oid)]
    if missing:
        raise MalformedInput(f"the card certificate lacks the {', '.join(missing)} item(s)")
    return BasicFour(
        name=items[OID_NAME],
        date_of_birth=items[OID_DATE_OF_BIRTH],
        gender=items[OID_GENDER],
        address=items[OID_ADDRESS],
        name_substitutes=items.get(OID_NAME_SUBSTITUTES) or None,
        address_substitutes=items.get(OID_ADDRESS_SUBSTITUTES) or None,
    )


# --- the check ---------------------------------------------------------------------------------------


def verify_jpki_signature(
    card_certificate_der: bytes,
    intermediates_der: Sequence[bytes],
    challenge: bytes,
    signature: bytes,
    trust: JpkiTrust,
    *,
    now: datetime,
) -> JpkiResult:
    """Verify a JPKI signature over ``challenge`` and its certificate; return the verified claims.

    Runs rules 1-7 of the module docstring; each failure raises its identity.errors exception.
    ``now`` must carry a time zone (a naive time is a programming error: ValueError).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    # 1. parse, within limits
    if len(intermediates_der) > trust.max_intermediates:
        raise MalformedInput(f"more than {trust.max_intermediates} intermediate certificates")
    for der in (card_certificate_der, *intermediates_der):
        if len(der) > trust.max_certificate_bytes:
            raise MalformedInput(f"a certificate is larger than {trust.max_certificate_bytes} bytes")
    card = pki.load_certificate(card_certificate_der, "card certificate")
    intermediates = [pki.load_certificate(der, "intermediate certificate") for der in intermediates_der]
    # 2. chain to a configured root
    path = pki.build_path(card, intermediates, trust.roots, trust.max_chain)
    pki.check_profile(path)
    # 3. validity of every certificate
    pki.check_validity(path, now)
    # 4. revocation of every certificate below the root
    for cert, issuer in pairwise(path):
        pki.check_revocation(cert, issuer, trust.crls, now)
    # 5. key usage of the card certificate
    usage = pki.key_usage(card)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise KeyStateError("the card certificate's key is not for signatures (keyUsage)")
    # 6. the signature over the challenge
    try:
        key = card.public_key()
    except (ValueError, _CryptoUnsupported) as exc:
        raise UnsupportedAlgorithm("the card certificate's key type is not supported") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("a JPKI card key is RSA; this certificate's is not")
    if key.key_size < trust.min_rsa_bits:
        raise UnsupportedAlgorithm(f"the card key has {key.key_size} bits, fewer than {trust.min_rsa_bits}")
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except _CryptoInvalidSignature as exc:
        raise InvalidSignature("invalid signature") from exc
    # 7. the basic four items
    basic_four = read_basic_four(card)
    evidence = JpkiEvidence(issuer=pki.dn(card.issuer), serial_number=str(card.serial_number), created_at=now)
    return JpkiResult(
        person=basic_four.to_person(),
        evidence=evidence,
        basic_four=basic_four,
        certificate_not_after=card.not_valid_after_utc,
    )
