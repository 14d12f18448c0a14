"""The credentials the issuer offers, and which of their claims a holder may disclose alone.

Two SD-JWT VC types, so that an operator can ask for exactly what it needs:

* **KYC** (``…/vct/kyc``): OpenID Identity Assurance ``verified_claims`` under
  ``jp_aml``. The verification object (trust framework, time, process) and each
  evidence's ``type`` and AML method letter stay visible — so "verified under
  jp_aml by method ワ" is provable with no personal data —; the person's claims,
  each address part, and the evidence details (certificate serial, licence
  number) are selectively disclosable one by one; ``age_over_18`` and
  ``age_over_20`` too, each on its own.
* **Driving licence** (``…/vct/licence``): categories and expiry (what a
  car-sharing operator checks) apart from the name, birth date and number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from identity.credentials.kyc import DrivingLicence, PersonClaims, Verification, kyc_claims, licence_claims
from identity.credentials.sdjwt import SD

__all__ = [
    "KYC",
    "LICENCE",
    "CredentialType",
    "kyc_layout",
    "kyc_payload",
    "licence_layout",
    "licence_payload",
]


class CredentialType:
    """One credential configuration: its OpenID4VCI id, ``vct`` path and display names."""

    def __init__(self, configuration_id: str, path: str, name_ja: str, name_en: str) -> None:
        self.configuration_id = configuration_id
        self.path = path
        self.name_ja = name_ja
        self.name_en = name_en

    def vct(self, issuer_url: str) -> str:
        """The ``vct`` URL, served by this issuer as the type's metadata."""
        return issuer_url.rstrip("/") + self.path


KYC = CredentialType("akashi_kyc", "/vct/kyc", "本人確認済み証明書", "Verified identity (KYC)")
LICENCE = CredentialType("akashi_licence", "/vct/licence", "運転免許証明書", "Driving licence")

#: Evidence members that stay visible: what kind of check, and which AML method it satisfies.
_VISIBLE_EVIDENCE = frozenset({"type", "jp_aml_method"})


def _each_disclosable(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {name: SD(value) for name, value in obj.items()}


def kyc_payload(person: PersonClaims, verification: Verification, today: date) -> dict[str, Any]:
    """The KYC credential's claims with their disclosure layout (before ``iss``, ``cnf``…)."""
    return kyc_layout(kyc_claims(person, verification, today))


def kyc_layout(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The disclosure layout of KYC claims as :func:`identity.credentials.kyc.kyc_claims` gives them."""
    verified = claims["verified_claims"]
    evidence = [
        {name: value if name in _VISIBLE_EVIDENCE else SD(value) for name, value in item.items()}
        for item in verified["verification"]["evidence"]
    ]
    personal = _each_disclosable(verified["claims"])
    if "address" in verified["claims"]:
        personal["address"] = SD(_each_disclosable(verified["claims"]["address"]))
    return {
        "verified_claims": {
            "verification": {**verified["verification"], "evidence": evidence},
            "claims": personal,
        },
        "age_over_18": SD(claims["age_over_18"]),
        "age_over_20": SD(claims["age_over_20"]),
    }


def licence_payload(person: PersonClaims, licence: DrivingLicence) -> dict[str, Any]:
    """The licence credential's claims: every member disclosable on its own, each category too."""
    return licence_layout(licence_claims(person, licence))


def licence_layout(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The disclosure layout of licence claims as ``licence_claims`` gives them."""
    layout = _each_disclosable({k: v for k, v in claims.items() if k != "categories"})
    layout["categories"] = SD([SD(category) for category in claims["categories"]])
    return layout
