"""Driver's licence IC chip check: the authority-signed licence data (運転免許証 IC チップ).

The real chip holds fixed-layout files of the card's printed items signed by the issuing
prefectural public safety commission (公安委員会). akashi simulates that content as
:class:`LicenceData`: one JSON object (specs/licence-chip-data.schema.json) whose RFC 8785 (JCS)
canonical bytes the authority signs with ECDSA P-256 / SHA-256; the signature is the 64-byte
``r || s`` (as JWS ES256 writes it). The authority's certificate is configured in
:class:`LicenceTrust` (pinned: each commission's certificate, no chain) and its subject
commonName is the authority's name as the data writes it (``東京都公安委員会``).

Rules of :func:`verify_licence`, in order (comments reuse the numbers):

1. Size: the data within ``max_data_bytes``. → MalformedInput
2. Authority: the certificate the chip presented must be one of the configured ones (→
   UnknownKey); without one, the configured certificates of the authority the data names (read
   before verification, only to pick the key) are tried; none configured → UnknownKey.
3. Signature: 64 bytes, ECDSA P-256 / SHA-256 over the received bytes. → InvalidSignature
4. Parse the signed bytes: strict JSON (no duplicate names), canonical JCS, the schema. →
   MalformedInput / SchemaViolation
5. Binding: the data names the authority whose key signed it (a Tokyo key cannot vouch for an
   Osaka licence), and that certificate was valid on the licence's day of issuance. →
   KeyStateError
6. Validity: the licence is valid on today's date in Japan (through its day of expiry). →
   Expired after it, TimeError before the day of issuance.

The face comparison is not checked here: the identity provider's own process attests it and
the caller passes it in; with it the evidence satisfies AML method ヘ, without it none
(identity.credentials.kyc rule 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from identity.credentials.kyc import (
    Address,
    DrivingLicence,
    FaceComparison,
    LicenceCategory,
    LicenceChipEvidence,
    PersonClaims,
)
from identity.crypto.jcs import canonicalize
from identity.crypto.strict_json import loads_object
from identity.errors import (
    Expired,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    TimeError,
    UnknownKey,
    UnsupportedAlgorithm,
)
from identity.schemas import validate
from issuer.evidence import pki
from issuer.evidence.names import day_in_japan, split_full_name

__all__ = [
    "LICENCE_FORMAT",
    "SIGNATURE_BYTES",
    "LicenceData",
    "LicenceResult",
    "LicenceTrust",
    "authority_name",
    "verify_licence",
]

LICENCE_FORMAT = "akashi-jp-licence-chip/1"
SIGNATURE_BYTES = 64  # r || s, 32 bytes each
_SCHEMA = "licence-chip-data"


@dataclass(frozen=True, slots=True)
class LicenceData:
    """The items the chip carries, as the authority signed them."""

    licence_number: str
    name: str  # 氏名, family name first: 山田　花子
    birthdate: date
    address: str
    date_of_issuance: date
    date_of_expiry: date
    categories: tuple[LicenceCategory, ...]
    issuing_authority: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of specs/licence-chip-data."""
        return {
            "format": LICENCE_FORMAT,
            "licence_number": self.licence_number,
            "name": self.name,
            "birthdate": self.birthdate.isoformat(),
            "address": self.address,
            "date_of_issuance": self.date_of_issuance.isoformat(),
            "date_of_expiry": self.date_of_expiry.isoformat(),
            "categories": [c.value for c in self.categories],
            "issuing_authority": self.issuing_authority,
        }

    def encode(self) -> bytes:
        """The canonical bytes the authority signs (checked against the schema first)."""
        obj = self.to_json()
        validate(obj, _SCHEMA)
        return canonicalize(obj)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LicenceData:
        """From a JSON object checked against specs/licence-chip-data. → SchemaViolation"""
        validate(dict(obj), _SCHEMA)
        try:
            return cls(
                licence_number=obj["licence_number"],
                name=obj["name"],
                birthdate=date.fromisoformat(obj["birthdate"]),
                address=obj["address"],
                date_of_issuance=date.fromisoformat(obj["date_of_issuance"]),
                date_of_expiry=date.fromisoformat(obj["date_of_expiry"]),
                categories=tuple(LicenceCategory(c) for c in obj["categories"]),
                issuing_authority=obj["issuing_authority"],
            )
        except ValueError as exc:  # a date the pattern allowed but the calendar does not
            raise MalformedInput(f"licence data holds an impossible date: {exc}") from exc


def authority_name(cert: x509.Certificate) -> str:
    """The authority a licence-signing certificate speaks for: its subject commonName."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str) or not names[0].value:
        raise MalformedInput("a licence authority certificate needs exactly one subject commonName")
    return names[0].value


@dataclass(frozen=True, slots=True)
class LicenceTrust:
    """The licence-issuing authorities' certificates an issuer trusts, and the data size limit."""

    authority_certificates: tuple[x509.Certificate, ...]
    max_data_bytes: int = 8 * 1024

    def __post_init__(self) -> None:
        for cert in self.authority_certificates:
            key = cert.public_key()
            if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
                raise UnsupportedAlgorithm(f"licence authority {pki.dn(cert.subject)}: key is not P-256")
            authority_name(cert)  # each one names its authority

    @classmethod
    def load(cls, certificates: Sequence[bytes], **limits: int) -> LicenceTrust:
        """Trust from PEM or DER certificate bytes."""
        return cls(
            tuple(pki.load_certificate(c, "licence authority certificate") for c in certificates), **limits
        )

    def of_authority(self, name: str) -> list[x509.Certificate]:
        """The configured certificates of the authority called ``name``."""
        return [c for c in self.authority_certificates if authority_name(c) == name]


@dataclass(frozen=True, slots=True)
class LicenceResult:
    """A verified licence: the person's claims, the licence, and the evidence for the record."""

    person: PersonClaims
    licence: DrivingLicence
    evidence: LicenceChipEvidence
    name: str  # the full name exactly as signed


def _candidates(
    data: bytes, authority_certificate_der: bytes | None, trust: LicenceTrust
) -> list[x509.Certificate]:
    """Rule 2: the keys that may have signed ``data``."""
    if authority_certificate_der is not None:
        presented = pki.load_certificate(authority_certificate_der, "licence authority certificate")
        if presented not in trust.authority_certificates:
            raise UnknownKey("the licence is signed under an authority certificate that is not configured")
        return [presented]
    claimed = loads_object(data, what="licence data").get("issuing_authority")  # unverified: picks keys
    found = trust.of_authority(claimed) if isinstance(claimed, str) else []
    if not found:
        raise UnknownKey(f"no certificate of the licence authority {claimed!r} is configured")
    return found


def _verify_signature(data: bytes, signature: bytes, candidates: list[x509.Certificate]) -> x509.Certificate:
    """Rule 3: the candidate whose key signed ``data``."""
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignature("invalid signature")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    for cert in candidates:
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):  # LicenceTrust admits P-256 keys only
            continue
        try:
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        except _CryptoInvalidSignature:
            continue
        return cert
    raise InvalidSignature("invalid signature")


def verify_licence(
    data: bytes,
    signature: bytes,
    authority_certificate_der: bytes | None,
    trust: LicenceTrust,
    *,
    now: datetime,
    face_comparison: FaceComparison | None,
    organization: str,
) -> LicenceResult:
    """Verify licence chip data and its authority's signature; return the verified claims.

    Runs rules 1-6 of the module docstring. ``now`` must carry a time zone; the evidence records
    it as the time of the ``vcrypt`` check by ``organization``.
    """
    today = day_in_japan(now)
    if face_comparison is not None:
        day_in_japan(face_comparison.time)  # an aware time, or a programming error
    if len(data) > trust.max_data_bytes:  # 1.
        raise MalformedInput(f"licence data larger than {trust.max_data_bytes} bytes")
    signer = _verify_signature(data, signature, _candidates(data, authority_certificate_der, trust))  # 2, 3
    obj = loads_object(data, what="licence data")  # 4.
    if canonicalize(obj) != data:
        raise MalformedInput("licence data is not in canonical (JCS) form")
    licence_data = LicenceData.from_json(obj)
    if licence_data.issuing_authority != authority_name(signer):  # 5.
        raise KeyStateError(
            f"the licence names {licence_data.issuing_authority} as its issuer but "
            f"{authority_name(signer)} signed it"
        )
    valid_from = day_in_japan(signer.not_valid_before_utc)
    valid_to = day_in_japan(signer.not_valid_after_utc)
    if not valid_from <= licence_data.date_of_issuance <= valid_to:
        raise KeyStateError("the authority's certificate was not valid on the licence's day of issuance")
    licence = DrivingLicence(
        number=licence_data.licence_number,
        categories=licence_data.categories,
        date_of_issuance=licence_data.date_of_issuance,
        date_of_expiry=licence_data.date_of_expiry,
        issuing_authority=licence_data.issuing_authority,
    )
    if today > licence.date_of_expiry:  # 6.
        raise Expired(f"the driver's licence expired after {licence.date_of_expiry.isoformat()}")
    if today < licence.date_of_issuance:
        raise TimeError(f"the driver's licence is not valid before {licence.date_of_issuance.isoformat()}")
    family, given = split_full_name(licence_data.name)
    person = PersonClaims(
        family_name=family,
        given_name=given,
        birthdate=licence_data.birthdate,
        address=Address(formatted=licence_data.address),
    )
    evidence = LicenceChipEvidence(
        document_number=licence.number,
        issuer=licence.issuing_authority,
        date_of_issuance=licence.date_of_issuance,
        date_of_expiry=licence.date_of_expiry,
        checked_at=now,
        organization=organization,
        face_comparison=face_comparison,
    )
    return LicenceResult(person=person, licence=licence, evidence=evidence, name=licence_data.name)
