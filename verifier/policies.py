"""Verification policies: what an operator asks a customer's wallet to prove, and why.

A policy is declarative data in ``policies.json`` in the verifier's data folder
(``specs/verifier-policies.schema.json``). :func:`parse_policies` applies, in order:

1. The JSON Schema (structure, known claims, evidence methods, ages, licence categories).
2. Policy ``id`` values are unique.
3. A policy asks for something: KYC, an age, a licence or at least one claim.

:func:`check_purposes` then holds the policies to the trust registry (issue 5: "the purpose
must be one the verifier registered"):

4. The member record is an active verifier.
5. Every policy's ``purpose_id`` is one of its registered purposes.

:func:`to_dcql` turns a policy into a DCQL query (OpenID4VP 1.0 section 6): the KYC
credential with ``trust_framework`` ``jp_aml`` and the accepted AML method letters as
``values`` on ``verified_claims.verification.evidence[*].jp_aml_method`` (``null`` path
element, section 7.1: one matching evidence is enough, so "JPKI or licence IC" is one
Claims Query); ``age_over_NN`` with ``values`` ``[true]``; the licence credential as a
second Credential Query; ``credential_sets`` making each needed credential required.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from identity.errors import Expired, MalformedInput, NotFound, PolicyError
from identity.protocols.dcql import (
    ClaimsQuery,
    DcqlQuery,
    claim,
    credential_set,
    dcql_query,
    path_within,
    sd_jwt_credential,
)
from identity.schemas import validate

__all__ = [
    "DEFAULT_POLICIES_FILE",
    "EVIDENCE_LETTERS",
    "KYC_QUERY_ID",
    "LICENCE_QUERY_ID",
    "KycRequirement",
    "LicenceRequirement",
    "MemberRecord",
    "Policy",
    "VctValues",
    "check_purposes",
    "default_policies",
    "find_policy",
    "licence_valid_today",
    "load_policies",
    "parse_policies",
    "purpose_claims",
    "registered_purposes",
    "to_dcql",
    "write_default_policies",
]

DEFAULT_POLICIES_FILE = "policies.json"
KYC_QUERY_ID = "kyc"
LICENCE_QUERY_ID = "licence"
#: Evidence method (as the trust registry accredits issuers) → its AML method letter in credentials.
EVIDENCE_LETTERS = {"jpki": "ワ", "drivers_licence_ic": "ヘ"}
#: The issuer's credential type paths (issuer/credentials.py; roles do not import each other).
_KYC_VCT_PATH = "/vct/kyc"
_LICENCE_VCT_PATH = "/vct/licence"
_TRUST_FRAMEWORK = ("verified_claims", "verification", "trust_framework")
_EVIDENCE_METHOD = ("verified_claims", "verification", "evidence", None, "jp_aml_method")


@dataclass(frozen=True, slots=True)
class KycRequirement:
    """KYC under ``jp_aml`` by any one of ``evidence`` (keys of :data:`EVIDENCE_LETTERS`)."""

    required: bool
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LicenceRequirement:
    """A driving licence listing ``category`` (and, with ``valid_today``, not expired)."""

    category: str
    valid_today: bool = True


@dataclass(frozen=True, slots=True)
class Policy:
    """One named verification policy."""

    id: str
    purpose_id: str
    purpose_ja: str
    purpose_en: str
    claims: tuple[str, ...]
    updates_allowed: bool
    kyc: KycRequirement
    age_over: int | None
    licence: LicenceRequirement | None
    consent_days: int

    @property
    def receipt_required(self) -> bool:
        """A policy asking for customer-data updates needs the holder's signed consent receipt."""
        return self.updates_allowed

    def to_json(self) -> dict[str, Any]:
        """The policy as ``policies.json`` holds it."""
        return {
            "id": self.id,
            "purpose_id": self.purpose_id,
            "purpose": {"ja": self.purpose_ja, "en": self.purpose_en},
            "claims": list(self.claims),
            "updates_allowed": self.updates_allowed,
            "kyc": {"required": self.kyc.required, "evidence": list(self.kyc.evidence)},
            "age_over": self.age_over,
            "licence": None
            if self.licence is None
            else {"category": self.licence.category, "valid_today": self.licence.valid_today},
            "consent_days": self.consent_days,
        }


def _policy(obj: Mapping[str, Any]) -> Policy:
    licence = obj["licence"]
    return Policy(
        id=obj["id"],
        purpose_id=obj["purpose_id"],
        purpose_ja=obj["purpose"]["ja"],
        purpose_en=obj["purpose"]["en"],
        claims=tuple(obj["claims"]),
        updates_allowed=obj["updates_allowed"],
        kyc=KycRequirement(obj["kyc"]["required"], tuple(obj["kyc"]["evidence"])),
        age_over=obj["age_over"],
        licence=None if licence is None else LicenceRequirement(licence["category"], licence["valid_today"]),
        consent_days=obj["consent_days"],
    )


def parse_policies(obj: Any) -> dict[str, Policy]:
    """Rules 1-3 on a decoded policies document; the policies by id, in file order."""
    validate(obj, "verifier-policies")  # rule 1
    policies: dict[str, Policy] = {}
    for raw in obj["policies"]:
        policy = _policy(raw)
        if policy.id in policies:  # rule 2
            raise MalformedInput(f"policy id {policy.id!r} is used more than once")
        if not (policy.kyc.required or policy.age_over or policy.licence or policy.claims):  # rule 3
            raise MalformedInput(f"policy {policy.id!r} asks for nothing")
        policies[policy.id] = policy
    return policies


def load_policies(path: Path | str) -> dict[str, Policy]:
    """Read and check ``policies.json``; :class:`NotFound` if missing, :class:`MalformedInput` if bad."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"no policies file at {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"cannot read the policies file {path}: {exc}") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise MalformedInput(f"the policies file {path} is not JSON: {exc}") from exc
    return parse_policies(obj)


def find_policy(policies: Mapping[str, Policy], policy_id: str) -> Policy:
    """The policy named ``policy_id``; :class:`NotFound` naming the known ones otherwise."""
    try:
        return policies[policy_id]
    except KeyError:
        known = ", ".join(sorted(policies)) or "none"
        raise NotFound(f"no policy {policy_id!r} (known: {known})") from None


# -- the three policies of issue 5 ------------------------------------------------------------


def default_policies() -> dict[str, Any]:
    """The default ``policies.json`` document: car-sharing, space-sharing, parcel-locker."""
    both = ["jpki", "drivers_licence_ic"]
    return {
        "version": 1,
        "policies": [
            {
                "id": "car-sharing",
                "purpose_id": "car-sharing",
                "purpose": {
                    "ja": "カーシェアリングの会員登録: 犯罪収益移転防止法に基づく本人確認、20歳以上であること"
                    "と有効な普通免許の確認、契約のための氏名・住所の取得",
                    "en": "Car-sharing membership: identity verification under the AML act, age 20 or "
                    "over and a valid ordinary driving licence, name and address for the contract",
                },
                "claims": ["family_name", "given_name", "address"],
                "updates_allowed": True,
                "kyc": {"required": True, "evidence": both},
                "age_over": 20,
                "licence": {"category": "普通", "valid_today": True},
                "consent_days": 365,
            },
            {
                "id": "space-sharing",
                "purpose_id": "space-sharing",
                "purpose": {
                    "ja": "スペースシェアリングの利用登録: 本人確認済みであることと18歳以上であることの確認",
                    "en": "Space-sharing sign-up: proof of a verified identity and of being 18 or over",
                },
                "claims": [],
                "updates_allowed": False,
                "kyc": {"required": True, "evidence": both},
                "age_over": 18,
                "licence": None,
                "consent_days": 30,
            },
            {
                "id": "parcel-locker",
                "purpose_id": "parcel-locker",
                "purpose": {
                    "ja": "宅配ロッカーの利用登録: 荷物の受け取りのための氏名・住所の取得",
                    "en": "Parcel-locker sign-up: name and address to deliver parcels",
                },
                "claims": ["family_name", "given_name", "address"],
                "updates_allowed": True,
                "kyc": {"required": False, "evidence": []},
                "age_over": None,
                "licence": None,
                "consent_days": 365,
            },
        ],
    }


def write_default_policies(path: Path | str, *, overwrite: bool = False) -> Path:
    """Write :func:`default_policies` to ``path`` (refusing to replace a file unless ``overwrite``)."""
    target = Path(path)
    document = default_policies()
    parse_policies(document)  # the defaults obey the rules they are held to
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w" if overwrite else "x", encoding="utf-8") as out:
        out.write(text)
    return target


# -- the trust registry -------------------------------------------------------------------


class RegisteredPurpose(Protocol):
    """A purpose as the registry lists it (``registry.client`` members' ``Purpose``)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def claims(self) -> tuple[tuple[str | int | None, ...], ...] | None: ...


class MemberRecord(Protocol):
    """What :func:`check_purposes` reads of a member record from ``RegistryClient.member``."""

    @property
    def did(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def active(self) -> bool: ...
    def purpose(self, purpose_id: str) -> RegisteredPurpose | None: ...


def check_purposes(policies: Iterable[Policy], member: MemberRecord) -> dict[str, str]:
    """Rules 4-6: every policy's purpose is registered by this verifier, and covers every
    claim the policy asks for (when the purpose registered its claims).

    Returns policy id → the registered purpose text (what a wallet shows). Raises
    :class:`PolicyError` naming the first policy whose purpose is missing.
    """
    if member.role != "verifier" or not member.active:  # rule 4
        raise PolicyError(f"{member.did} is not an active verifier in the trust registry")
    texts: dict[str, str] = {}
    for policy in policies:
        registered = member.purpose(policy.purpose_id)
        if registered is None:  # rule 5
            raise PolicyError(
                f"policy {policy.id!r}: purpose {policy.purpose_id!r} is not registered for {member.did}"
            )
        if registered.claims is not None:  # rule 6
            outside = [p for p in purpose_claims(policy) if not path_within(p, registered.claims)]
            if outside:
                raise PolicyError(
                    f"policy {policy.id!r} asks for {', '.join(map(_dotted, outside))}, which purpose "
                    f"{policy.purpose_id!r} did not register: wallets would refuse it"
                )
        texts[policy.id] = registered.text
    return texts


def purpose_claims(policy: Policy) -> tuple[tuple[str | int | None, ...], ...]:
    """Every claim path the policy's query asks for: what its purpose must register
    (``purposes[].claims`` of the member entry), so that wallets can hold the request to it."""
    query = to_dcql(policy, "https://issuer.invalid")  # the paths do not depend on the issuer
    paths = {tuple(item.path) for credential in query.credentials for item in credential.claims or ()}
    return tuple(sorted(paths, key=_dotted))


def registered_purposes(policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    """The ``purposes`` of this verifier's member entry: each purpose its policies use, with its
    text and every claim those policies ask for under it."""
    purposes: dict[str, dict[str, Any]] = {}
    for policy in policies.values():
        fresh = {"id": policy.purpose_id, "text": policy.purpose_ja, "claims": []}
        entry = purposes.setdefault(policy.purpose_id, fresh)
        for path in purpose_claims(policy):
            if list(path) not in entry["claims"]:
                entry["claims"].append(list(path))
    return list(purposes.values())


def _dotted(path: Sequence[str | int | None]) -> str:
    return ".".join("*" if step is None else str(step) for step in path)


# -- DCQL -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VctValues:
    """The ``vct`` values a query accepts for each credential type."""

    kyc: tuple[str, ...]
    licence: tuple[str, ...]

    @classmethod
    def for_issuers(cls, issuer_urls: Iterable[str]) -> VctValues:
        """The types akashi issuers serve under their URLs (``<url>/vct/kyc``, ``/vct/licence``)."""
        urls = [u.rstrip("/") for u in issuer_urls]
        if not urls:
            raise ValueError("at least one issuer URL is needed")
        return cls(tuple(u + _KYC_VCT_PATH for u in urls), tuple(u + _LICENCE_VCT_PATH for u in urls))


def _kyc_claims(policy: Policy) -> list[ClaimsQuery]:
    claims: list[ClaimsQuery] = []
    if policy.kyc.required:
        claims.append(claim(*_TRUST_FRAMEWORK, values=["jp_aml"]))
        letters = [EVIDENCE_LETTERS[method] for method in policy.kyc.evidence]
        claims.append(claim(*_EVIDENCE_METHOD, values=letters))
    if policy.age_over is not None:
        claims.append(claim(f"age_over_{policy.age_over}", values=[True]))
    claims.extend(claim("verified_claims", "claims", *name.split(".")) for name in policy.claims)
    return claims


def to_dcql(policy: Policy, issuers: VctValues | str | Sequence[str]) -> DcqlQuery:
    """The DCQL query asking for exactly what ``policy`` needs (``issuers``: URL(s) or vct values)."""
    if isinstance(issuers, str):
        issuers = [issuers]
    vcts = issuers if isinstance(issuers, VctValues) else VctValues.for_issuers(issuers)
    credentials, sets = [], []
    kyc = _kyc_claims(policy)
    if kyc:
        credentials.append(sd_jwt_credential(KYC_QUERY_ID, vcts.kyc, claims=kyc))
        sets.append(credential_set([KYC_QUERY_ID]))
    if policy.licence is not None:
        licence = [claim("categories", None, values=[policy.licence.category])]
        if policy.licence.valid_today:
            licence.append(claim("date_of_expiry"))
        credentials.append(sd_jwt_credential(LICENCE_QUERY_ID, vcts.licence, claims=licence))
        sets.append(credential_set([LICENCE_QUERY_ID]))
    return dcql_query(credentials, sets)


def licence_valid_today(claims: Mapping[str, Any], category: str, today: date) -> date:
    """Check disclosed licence claims: ``category`` is listed and ``date_of_expiry`` is not
    before ``today`` (the card is valid through its day of expiry). Returns the expiry date.

    Raises :class:`PolicyError` (category not listed), :class:`Expired`, or
    :class:`MalformedInput` (claims missing or not dates).
    """
    categories = claims.get("categories")
    if not isinstance(categories, list) or category not in categories:
        raise PolicyError(f"the licence does not permit category {category}")
    raw = claims.get("date_of_expiry")
    try:
        expiry = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        expiry = None
    if expiry is None:
        raise MalformedInput("the licence's date_of_expiry is missing or not a date")
    if expiry < today:
        raise Expired(f"the driving licence expired after {expiry.isoformat()}")
    issued = claims.get("date_of_issuance")
    if isinstance(issued, str):
        try:
            not_yet = date.fromisoformat(issued) > today
        except ValueError as exc:
            raise MalformedInput("the licence's date_of_issuance is not a date") from exc
        if not_yet:
            raise PolicyError("the driving licence is not valid yet")
    return expiry
