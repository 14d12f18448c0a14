"""A small consortium for the ledger-rules tests: real keys, DIDs, credentials and consents.

Everything is derived from fixed seeds, so every run builds the same entries. A
:class:`World` is a ledger state (``MemoryState`` after the genesis) plus the
people and organisations who write to it, with one builder per entry type. The
personal data of the story (山田 花子, born 1998-07-15, her address and licence)
goes into real credentials, consent receipts and sealed updates — and so must never
reach the ledger, which sees only their digests.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from identity.credentials.consent import consent_grant_body, new_consent_receipt, sign_consent_receipt
from identity.credentials.kyc import (
    Address,
    FaceComparison,
    JpkiEvidence,
    LicenceChipEvidence,
    PersonClaims,
    Verification,
    kyc_claims,
)
from identity.credentials.sdjwt import SD, issue
from identity.credentials.status_list import StatusList, sign_status_list_token
from identity.credentials.updates import new_customer_update, seal_update, sign_update
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, X25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.did.key_events import KeyState, deactivate, incept, rotate, sign_event, update
from identity.did.multikey import encode_multikey
from identity.ledger.envelope import Envelope, sign_envelope
from registry.genesis import Genesis, create_genesis, genesis_changes, sign_member_entry
from registry.rules import check, notice_id
from registry.state import Member, MemoryState, Purpose, StateChange, get_did

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
YEAR = 365 * 86400
ISSUER_CN = "4011001098993"  # real published 法人番号 (check digit 4)
VERIFIER_CN = "2120901007402"
OTHER_CN = "7000012050002"  # 国税庁 (National Tax Agency)

PERSON = PersonClaims(
    family_name="山田",
    given_name="花子",
    birthdate=date(1998, 7, 15),
    address=Address(formatted="東京都千代田区霞が関2-1-2", locality="千代田区", country="JP"),
)
LICENCE_NUMBER = "301234567890"
NEW_ADDRESS = "大阪府大阪市北区梅田3-1-1"
#: Personal values of the story: none may appear on the ledger.
PERSONAL = [
    "山田", "花子", "Yamada", "Hanako", "1998-07-15", "19980715", "霞が関", "千代田区",
    "梅田", "大阪市", LICENCE_NUMBER, "JPKI-SERIAL-0042",
]


def key(name: str) -> Ed25519PrivateKey:
    """A fixed test key."""
    return Ed25519PrivateKey.from_seed(sha256(b"registry-rules-test:" + name.encode()))


def counter_random(label: str) -> Any:
    """A deterministic stand-in for os.urandom (salts, receipt ids)."""
    state = {"n": 0}

    def random(size: int) -> bytes:
        state["n"] += 1
        return sha256(f"{label}:{state['n']}".encode())[:size]

    return random


def mk(private: Ed25519PrivateKey) -> str:
    return encode_multikey(private.public_key)


@dataclass
class Org:
    """An organisation with a did:akashi: current key, next key, the one after."""

    name: str
    keys: list[Ed25519PrivateKey] = field(default_factory=list)
    x25519: X25519PrivateKey | None = None

    def __post_init__(self) -> None:
        self.keys = [key(f"{self.name}-{i}") for i in range(4)]
        self.x25519 = X25519PrivateKey(sha256(b"x25519:" + self.name.encode()))
        self.inception = incept(
            [self.keys[0].public_key], [self.keys[1].public_key], key_agreement=[self.x25519.public_key]
        )
        self.did: str = self.inception["id"]

    def signer(self, private: Ed25519PrivateKey) -> str:
        return f"{self.did}#{mk(private)}"


@dataclass
class Holder:
    """A person's pairwise did:key towards one verifier."""

    name: str

    def __post_init__(self) -> None:
        self.key = key("holder-" + self.name)
        self.did = did_key_from_public_key(self.key.public_key)
        self.signer = f"{self.did}#{self.did.removeprefix('did:key:')}"


GOVERNANCE = [key(f"governance-{i}") for i in range(3)]
LOG_KEY = key("log")


def make_genesis(members: tuple[Member, ...] = ()) -> Genesis:
    return create_genesis(
        origin="akashi.test/registry",
        log_key=LOG_KEY.public_key,
        governance_keys=[k.public_key for k in GOVERNANCE],
        threshold=2,
        created_at=T0 - 86400,
        members=members,
    )


def kyc_credential(issuer: Org) -> str:
    """A real KYC SD-JWT VC about 山田 花子, every personal claim disclosable."""
    checked = datetime.fromtimestamp(T0 - 600, UTC)
    verification = Verification(
        time=checked,
        verification_process="kyc-0001",
        evidence=(
            JpkiEvidence(issuer="CN=JPKI, C=JP", serial_number="JPKI-SERIAL-0042", created_at=checked),
            LicenceChipEvidence(
                document_number=LICENCE_NUMBER, issuer="東京都公安委員会",
                date_of_issuance=date(2024, 8, 1), date_of_expiry=date(2029, 8, 15),
                checked_at=checked, organization="issuer",
                face_comparison=FaceComparison(time=checked, organization="issuer"),
            ),
        ),
    )
    personal = kyc_claims(PERSON, verification, date(2026, 1, 1))
    verified = personal["verified_claims"]
    claims = {
        "iss": issuer.did,
        "vct": "https://akashi.test/vct/kyc",
        "iat": T0,
        "exp": T0 + YEAR,
        "verified_claims": {
            "verification": verified["verification"],
            "claims": {k: SD(v) for k, v in verified["claims"].items()},
        },
        "age_over_18": SD(personal["age_over_18"]),
    }
    return issue(claims, issuer.keys[0], holder_key=key("holder-hanako").public_key,
                 random=counter_random("kyc"))


def jwt_digest(token: str) -> str:
    """base64url SHA-256 of an issuer-signed JWT (the part before the first '~')."""
    return b64url_encode(sha256(token.split("~")[0].encode("ascii")))


class World:
    """Ledger state plus the parties writing to it. ``submit`` applies an entry that must pass."""

    def __init__(self) -> None:
        self.genesis = make_genesis()
        self.state = MemoryState()
        self.state.apply(genesis_changes(self.genesis))
        self.history: list[Envelope] = []
        self.issuer = Org("issuer")
        self.issuer_b = Org("issuer-b")
        self.verifier = Org("verifier")
        self.outsider = Org("outsider")
        self.hanako = Holder("hanako")
        self.taro = Holder("taro")
        self.receipts: dict[str, str] = {}

    def copy(self) -> World:
        return copy.deepcopy(self)

    def check(self, envelope: Envelope) -> list[StateChange]:
        return check(self.state, envelope, genesis=self.genesis)

    def submit(self, envelope: Envelope) -> Envelope:
        self.state.apply(self.check(envelope))
        self.history.append(envelope)
        return envelope

    # --- did:akashi ---------------------------------------------------------------------------

    def key_state(self, org: Org) -> KeyState:
        record = get_did(self.state, org.did)
        if record is None:
            raise LookupError(org.did)
        return record.state

    def create(self, org: Org) -> Envelope:
        signed = sign_event(org.inception, [org.keys[0]])
        return sign_envelope("did.create", signed, org.signer(org.keys[0]), org.keys[0])

    def rotate(self, org: Org, step: int = 1) -> Envelope:
        """Rotation to keys[step] (pre-committed), committing to keys[step + 1]."""
        new, following = org.keys[step], org.keys[step + 1]
        event = rotate(self.key_state(org), [new.public_key], [following.public_key])
        return sign_envelope("did.rotate", sign_event(event, [new]), org.signer(new), new)

    def update(self, org: Org, current: int = 0, envelope_signer: int | None = None) -> Envelope:
        state = self.key_state(org)
        event = update(state, key_agreement=[key("x").to_x25519().public_key])
        signed = sign_event(event, [org.keys[current]], state=state)
        signer = org.keys[current if envelope_signer is None else envelope_signer]
        return sign_envelope("did.update", signed, org.signer(signer), signer)

    def deactivate(self, org: Org, step: int = 1) -> Envelope:
        revealed = org.keys[step]
        event = deactivate(self.key_state(org), [revealed.public_key])
        return sign_envelope("did.deactivate", sign_event(event, [revealed]), org.signer(revealed), revealed)

    # --- trust registry -------------------------------------------------------------------------

    def issuer_member(self, org: Org, methods: tuple[str, ...] = ("jpki",), version: int = 1) -> Member:
        return Member(org.did, "issuer", f"株式会社{org.name}", ISSUER_CN, version,
                      evidence_methods=methods)

    def verifier_member(self, org: Org, version: int = 1) -> Member:
        purposes = (Purpose("account-opening", "カーシェア会員登録時の本人確認"),
                    Purpose("age-check", "年齢確認"))
        return Member(org.did, "verifier", "株式会社カーシェア", VERIFIER_CN, version, purposes=purposes)

    def member_entry(self, entry_type: str, member: dict[str, Any], approvers: int = 2) -> Envelope:
        return sign_member_entry(entry_type, member, GOVERNANCE[:approvers])

    def add(self, member: Member) -> Envelope:
        return self.member_entry("member.add", member.to_body())

    def remove(self, did: str, version: int) -> Envelope:
        return self.member_entry("member.remove", {"did": did, "version": version})

    # --- issuers ----------------------------------------------------------------------------------

    def anchor(self, org: Org, digest: str, *, signer: int = 0, **changes: Any) -> Envelope:
        body: dict[str, Any] = {
            "digest": digest,
            "issuer": org.did,
            "vct": "https://akashi.test/vct/kyc",
            "method": "jpki",
            "status": {"idx": 7, "uri": f"https://{org.name}.test/status/1"},
            "iat": T0,
            "exp": T0 + YEAR,
            **changes,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return sign_envelope("attestation.anchor", body, org.signer(org.keys[signer]), org.keys[signer])

    def publish(
        self, org: Org, *, uri: str | None = None, iat: int = T0, issuer: str | None = None
    ) -> Envelope:
        uri = uri or f"https://{org.name}.test/status/1"
        token = sign_status_list_token(StatusList.new(1, 1024), uri=uri, iat=iat, key=org.keys[0])
        body = {"uri": uri, "issuer": issuer or org.did, "digest": b64url_encode(sha256(token.encode())),
                "iat": iat}
        return sign_envelope("status.publish", body, org.signer(org.keys[0]), org.keys[0])

    # --- holders -----------------------------------------------------------------------------------

    def grant(self, holder: Holder, *, verifier: str | None = None, purpose: str = "account-opening",
              granted_at: int = T0, expires_at: int = T0 + YEAR, updates_allowed: bool = True,
              signer: Holder | None = None) -> Envelope:
        receipt = new_consent_receipt(
            holder.key.public_key, verifier=verifier or self.verifier.did, purpose_id=purpose,
            purpose="カーシェア会員登録時の本人確認", claims=["family_name", "given_name", "address"],
            granted_at=granted_at, expires_at=max(expires_at, granted_at + 1),
            updates_allowed=updates_allowed, random=counter_random(f"{holder.name}:{granted_at}:{purpose}"),
        )
        token = sign_consent_receipt(receipt, holder.key)
        body = {**consent_grant_body(token, receipt), "holder": receipt.holder,
                "purpose_id": receipt.purpose_id, "granted_at": receipt.granted_at,
                "expires_at": expires_at}
        self.receipts[body["receipt_digest"]] = token
        by = signer or holder
        return sign_envelope("consent.grant", body, by.signer, by.key)

    def revoke(self, holder: Holder, receipt_digest: str, revoked_at: int = T0 + 1000) -> Envelope:
        body = {"receipt_digest": receipt_digest, "revoked_at": revoked_at}
        return sign_envelope("consent.revoke", body, holder.signer, holder.key)

    def notice(self, holder: Holder, consent: str, *, sent_at: int = T0 + 100,
               recipient: str | None = None) -> Envelope:
        """A real sealed address update for the verifier, announced on the ledger."""
        change = new_customer_update(
            holder.key.public_key, kind="address", value={"formatted": NEW_ADDRESS},
            effective_date=date(2026, 2, 1), issued_at=sent_at, recipient=self.verifier.did,
            consent_digest=consent, random=counter_random(f"update:{sent_at}"),
        )
        assert self.verifier.x25519 is not None
        sealed = seal_update(sign_update(change, holder.key), self.verifier.x25519.public_key)
        body = {"consent": consent, "recipient": recipient or self.verifier.did,
                "ciphertext_digest": sealed.digest, "sent_at": sent_at}
        return sign_envelope("mailbox.notice", body, holder.signer, holder.key)

    def ack(self, notice: str, *, by: Org | None = None, signer: int = 0, acked_at: int = T0 + 200,
            status: str = "applied", reason: str | None = None) -> Envelope:
        org = by or self.verifier
        body: dict[str, Any] = {"notice": notice, "status": status, "acked_at": acked_at}
        if reason is not None:
            body["reason"] = reason
        return sign_envelope("mailbox.ack", body, org.signer(org.keys[signer]), org.keys[signer])


@dataclass
class Base:
    """The usual starting point of a scenario and the digests it created."""

    world: World
    credential: str
    attestation: str
    consent: str
    notice: str


def base() -> Base:
    """Issuers and a verifier on the ledger and in the trust registry; one KYC anchor, a status
    list, hanako's consent (updates allowed) and one notice under it."""
    w = World()
    for org in (w.issuer, w.issuer_b, w.verifier, w.outsider):
        w.submit(w.create(org))
    w.submit(w.add(w.issuer_member(w.issuer)))
    w.submit(w.add(w.issuer_member(w.issuer_b, ("jpki", "drivers_licence_ic"))))
    w.submit(w.add(w.verifier_member(w.verifier)))
    w.submit(w.publish(w.issuer))
    w.submit(w.publish(w.issuer_b))
    credential = kyc_credential(w.issuer)
    attestation = jwt_digest(credential)
    w.submit(w.anchor(w.issuer, attestation))
    grant = w.submit(w.grant(w.hanako))
    consent = grant["body"]["receipt_digest"]
    notice = w.submit(w.notice(w.hanako, consent))
    return Base(w, credential, attestation, consent, notice_id(notice))
