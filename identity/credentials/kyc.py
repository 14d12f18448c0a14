"""KYC claims: OpenID Identity Assurance ``verified_claims`` for Japan's AML act, ages, licences.

Plain typed builders and validators; nothing here signs (the SD-JWT layer does).

``verified_claims`` follows OpenID Identity Assurance 1.0 (openid-ida-verified-claims,
section "Verified Claims") with ``trust_framework`` ``jp_aml``. Two kinds of evidence:

* the My Number card's JPKI signing certificate: ``electronic_signature`` with
  ``signature_type``, ``issuer`` (the certificate's issuer DN), ``serial_number``
  and ``created_at`` (section "Evidence Type electronic_signature");
* the driver's licence IC chip: ``document`` whose ``document_details.type`` is
  ``jp_drivers_license``, with ``check_details`` ``vcrypt`` (the chip's signed data
  verified cryptographically) and, when the provider compared the customer's live
  face with the chip photo, ``bvr`` (section "Evidence Type document").

Each evidence names, in akashi's extension member ``jp_aml_method``, the method
letter of Article 6(1)(i) of the Ordinance for Enforcement of the Act on Prevention
of Transfer of Criminal Proceeds it satisfies. The rules :func:`parse_verified_claims`
checks beyond the schema:

1. ``ワ`` only on ``electronic_signature`` evidence (JPKI signature certificate).
2. ``ヘ`` only on ``jp_drivers_license`` document evidence that carries both a
   ``vcrypt`` check and a ``bvr`` face comparison; chip data alone satisfies no method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from identity.errors import MalformedInput
from identity.schemas import validate

__all__ = [
    "CHECK_FACE",
    "CHECK_VCRYPT",
    "JPKI_SIGNATURE_TYPE",
    "LICENCE_DOCUMENT_TYPE",
    "TRUST_FRAMEWORK",
    "Address",
    "AmlMethod",
    "DrivingLicence",
    "FaceComparison",
    "JpkiEvidence",
    "LicenceCategory",
    "LicenceChipEvidence",
    "ParsedVerifiedClaims",
    "PersonClaims",
    "Verification",
    "age_attained_on",
    "age_claims",
    "age_on",
    "build_verified_claims",
    "kyc_claims",
    "licence_claims",
    "parse_licence_claims",
    "parse_verified_claims",
]

TRUST_FRAMEWORK = "jp_aml"
JPKI_SIGNATURE_TYPE = "jp_jpki"  # akashi's value; IDA leaves the range to the trust framework
LICENCE_DOCUMENT_TYPE = "jp_drivers_license"
CHECK_VCRYPT = "vcrypt"  # IDA predefined check_method: cryptographic security features verified
CHECK_FACE = "bvr"  # IDA predefined check_method: biometric comparison, remote


class AmlMethod(StrEnum):
    """Method letters of Ordinance Article 6(1)(i) (犯罪収益移転防止法施行規則第6条第1項第1号)."""

    HE = "ヘ"  # IC chip data of a photo ID + the customer's face image, compared by the provider
    WA = "ワ"  # the JPKI signature certificate and a signature made with it (公的個人認証)


def _iso_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("times in verified_claims need a time zone")
    return value.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Address:
    """OpenID Connect Core 1.0 section 5.1.1 ``address``; every member optional."""

    formatted: str | None = None
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def to_json(self) -> dict[str, str]:
        """The claim value, without absent members."""
        members = {
            "formatted": self.formatted,
            "street_address": self.street_address,
            "locality": self.locality,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }
        return {name: value for name, value in members.items() if value is not None}


@dataclass(frozen=True, slots=True)
class PersonClaims:
    """The claims that were verified about the person."""

    family_name: str
    given_name: str
    birthdate: date
    address: Address | None = None
    gender: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``verified_claims.claims`` object."""
        out: dict[str, Any] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birthdate": self.birthdate.isoformat(),
        }
        if self.address is not None:
            out["address"] = self.address.to_json()
        if self.gender is not None:
            out["gender"] = self.gender
        return out


@dataclass(frozen=True, slots=True)
class JpkiEvidence:
    """A signature made with the My Number card's JPKI signing certificate (method ワ)."""

    issuer: str  # issuer DN of the signing certificate
    serial_number: str
    created_at: datetime
    signature_type: str = JPKI_SIGNATURE_TYPE

    @property
    def aml_method(self) -> AmlMethod:
        """Always ワ: the certificate and signature are the whole method."""
        return AmlMethod.WA

    def to_json(self) -> dict[str, Any]:
        """The ``electronic_signature`` evidence object."""
        return {
            "type": "electronic_signature",
            "signature_type": self.signature_type,
            "issuer": self.issuer,
            "serial_number": self.serial_number,
            "created_at": _iso_time(self.created_at),
            "jp_aml_method": self.aml_method.value,
        }


@dataclass(frozen=True, slots=True)
class FaceComparison:
    """The provider's attestation that the customer's live face matched the chip photo."""

    time: datetime
    organization: str


@dataclass(frozen=True, slots=True)
class LicenceChipEvidence:
    """Signed data read from a driver's licence IC chip, verified against its issuer."""

    document_number: str
    issuer: str  # the issuing public safety commission, e.g. 東京都公安委員会
    date_of_issuance: date
    date_of_expiry: date
    checked_at: datetime
    organization: str  # who verified the chip data
    face_comparison: FaceComparison | None = None

    @property
    def aml_method(self) -> AmlMethod | None:
        """ヘ with a face comparison; the chip alone satisfies no method (rule 2)."""
        return AmlMethod.HE if self.face_comparison is not None else None

    def to_json(self) -> dict[str, Any]:
        """The ``document`` evidence object."""
        checks = [
            {"check_method": CHECK_VCRYPT, "organization": self.organization,
             "time": _iso_time(self.checked_at)},
        ]
        if self.face_comparison is not None:
            checks.append({"check_method": CHECK_FACE,
                           "organization": self.face_comparison.organization,
                           "time": _iso_time(self.face_comparison.time)})
        out: dict[str, Any] = {
            "type": "document",
            "check_details": checks,
            "document_details": {
                "type": LICENCE_DOCUMENT_TYPE,
                "document_number": self.document_number,
                "issuer": {"name": self.issuer, "country_code": "JPN"},
                "date_of_issuance": self.date_of_issuance.isoformat(),
                "date_of_expiry": self.date_of_expiry.isoformat(),
            },
        }
        if self.aml_method is not None:
            out["jp_aml_method"] = self.aml_method.value
        return out


Evidence = JpkiEvidence | LicenceChipEvidence


@dataclass(frozen=True, slots=True)
class Verification:
    """How the claims were verified. The checking organisation of each check is named in its
    ``check_details``; otherwise it is the credential's issuer (``iss``)."""

    time: datetime
    verification_process: str  # the provider's reference for audits and disputes
    evidence: tuple[Evidence, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``verified_claims.verification`` object."""
        return {
            "trust_framework": TRUST_FRAMEWORK,
            "time": _iso_time(self.time),
            "verification_process": self.verification_process,
            "evidence": [item.to_json() for item in self.evidence],
        }


def build_verified_claims(person: PersonClaims, verification: Verification) -> dict[str, Any]:
    """The ``verified_claims`` object, checked against its schema and the rules above."""
    out = {"verification": verification.to_json(), "claims": person.to_json()}
    parse_verified_claims(out)
    return out


@dataclass(frozen=True, slots=True)
class ParsedVerifiedClaims:
    """What a relying party reads from checked ``verified_claims``."""

    claims: dict[str, Any]
    time: str
    verification_process: str
    aml_methods: tuple[AmlMethod, ...]


def _evidence_method(evidence: Mapping[str, Any]) -> AmlMethod | None:
    letter = evidence.get("jp_aml_method")
    if letter is None:
        return None
    method = AmlMethod(letter)  # the schema allowed only known letters
    if method is AmlMethod.WA and evidence["type"] != "electronic_signature":  # rule 1
        raise MalformedInput("method ワ needs JPKI electronic_signature evidence")
    if method is AmlMethod.HE:  # rule 2
        checks = {c["check_method"] for c in evidence.get("check_details", [])}
        is_licence = evidence["type"] == "document" and (
            evidence["document_details"]["type"] == LICENCE_DOCUMENT_TYPE
        )
        if not is_licence or not {CHECK_VCRYPT, CHECK_FACE} <= checks:
            raise MalformedInput("method ヘ needs licence chip evidence with vcrypt and bvr checks")
    return method


def parse_verified_claims(obj: Any) -> ParsedVerifiedClaims:
    """Check ``verified_claims`` against specs/verified-claims-jp-aml and rules 1-2."""
    validate(obj, "verified-claims-jp-aml")
    verification = obj["verification"]
    methods = [_evidence_method(item) for item in verification["evidence"]]
    return ParsedVerifiedClaims(
        claims=obj["claims"],
        time=verification["time"],
        verification_process=verification["verification_process"],
        aml_methods=tuple(m for m in methods if m is not None),
    )


# --- ages -----------------------------------------------------------------------------


def age_attained_on(birthdate: date, years: int) -> date:
    """The day on which a person born on ``birthdate`` reaches ``years`` years of age.

    Japanese law (Act on Counting Age, 年齢計算ニ関スル法律, with Civil Code Article 143)
    counts from the day of birth, so the period of ``years`` years ends at the close of the
    day *before* the anniversary; where the anniversary does not exist (29 February in a
    common year) it ends at the close of the month's last day, 28 February. akashi
    counts the person as having that age for the whole of that day, as Japanese practice
    does (a person born on 2 April belongs to the school year that ends on 1 April).
    Someone born on 29 February therefore reaches every age on 28 February.
    """
    if years < 1:
        raise ValueError("ages are counted from 1 year")
    year = birthdate.year + years
    if birthdate.month == 2 and birthdate.day == 29:
        return date(year, 2, 28)
    return date.fromordinal(date(year, birthdate.month, birthdate.day).toordinal() - 1)


def age_on(birthdate: date, today: date) -> int:
    """Age in whole years on ``today`` under :func:`age_attained_on`'s rule."""
    if today < birthdate:
        raise MalformedInput("birthdate is after the day the age is asked for")
    guess = today.year - birthdate.year + 1  # at most one more, when the eve crosses a year end
    for years in (guess, guess - 1, guess - 2):
        if years >= 1 and age_attained_on(birthdate, years) <= today:
            return years
    return 0


def age_claims(birthdate: date, today: date) -> dict[str, bool]:
    """Derived claims ``age_over_18`` (adulthood since 2022) and ``age_over_20``."""
    age = age_on(birthdate, today)
    return {"age_over_18": age >= 18, "age_over_20": age >= 20}


def kyc_claims(person: PersonClaims, verification: Verification, today: date) -> dict[str, Any]:
    """The personal claims of a KYC credential, before the SD-JWT layer adds ``iss``, ``cnf``…"""
    return {
        "verified_claims": build_verified_claims(person, verification),
        **age_claims(person.birthdate, today),
    }


# --- driving licence ------------------------------------------------------------------


class LicenceCategory(StrEnum):
    """Licence classes as the card's 種類 field abbreviates them (Road Traffic Act Art. 84)."""

    LARGE = "大型"
    MEDIUM = "中型"
    SEMI_MEDIUM = "準中型"
    ORDINARY = "普通"
    LARGE_SPECIAL = "大特"
    LARGE_MOTORCYCLE = "大自二"
    ORDINARY_MOTORCYCLE = "普自二"
    SMALL_SPECIAL = "小特"
    MOPED = "原付"
    TOWING = "け引"
    LARGE_SECOND = "大二"
    MEDIUM_SECOND = "中二"
    ORDINARY_SECOND = "普二"
    LARGE_SPECIAL_SECOND = "大特二"
    TOWING_SECOND = "け引二"


@dataclass(frozen=True, slots=True)
class DrivingLicence:
    """A Japanese driver's licence as read from its IC chip."""

    number: str  # 12 digits
    categories: tuple[LicenceCategory, ...]
    date_of_issuance: date
    date_of_expiry: date  # the card says "…まで有効": valid through this day
    issuing_authority: str  # e.g. 東京都公安委員会

    def __post_init__(self) -> None:
        if not (len(self.number) == 12 and self.number.isascii() and self.number.isdigit()):
            raise MalformedInput("a driver's licence number is 12 digits")
        if self.date_of_expiry < self.date_of_issuance:
            raise MalformedInput("a driver's licence cannot expire before it is issued")

    def valid_on(self, day: date) -> bool:
        """True from the day of issuance through the day of expiry, both included."""
        return self.date_of_issuance <= day <= self.date_of_expiry

    def permits(self, category: LicenceCategory, day: date) -> bool:
        """True if the licence lists ``category`` and is valid on ``day``."""
        return category in self.categories and self.valid_on(day)

    def to_claims(self) -> dict[str, Any]:
        """The licence members of a licence credential."""
        return {
            "document_number": self.number,
            "categories": [c.value for c in self.categories],
            "date_of_issuance": self.date_of_issuance.isoformat(),
            "date_of_expiry": self.date_of_expiry.isoformat(),
            "issuing_authority": self.issuing_authority,
        }


def licence_claims(person: PersonClaims, licence: DrivingLicence) -> dict[str, Any]:
    """The personal claims of a licence credential, before the SD-JWT layer adds ``iss``…"""
    return {
        "family_name": person.family_name,
        "given_name": person.given_name,
        "birthdate": person.birthdate.isoformat(),
        **licence.to_claims(),
    }


def parse_licence_claims(payload: Mapping[str, Any]) -> DrivingLicence:
    """Read the licence from a disclosed licence credential payload, checked against
    specs/licence-credential-claims. The licence members must all be disclosed."""
    validate(dict(payload), "licence-credential-claims")
    needed = ("document_number", "categories", "date_of_issuance", "date_of_expiry",
              "issuing_authority")
    missing = [name for name in needed if name not in payload]
    if missing:
        raise MalformedInput(f"licence credential does not disclose {', '.join(missing)}")
    return DrivingLicence(
        number=payload["document_number"],
        categories=tuple(LicenceCategory(c) for c in payload["categories"]),
        date_of_issuance=date.fromisoformat(payload["date_of_issuance"]),
        date_of_expiry=date.fromisoformat(payload["date_of_expiry"]),
        issuing_authority=payload["issuing_authority"],
    )
