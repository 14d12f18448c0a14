"""The verification pipeline against a real issuer and a real registry node (in process):
the honest path, and one test per attack, each refused with its own error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from issuer_world import NOW
from test_issuer_http import Setup, jpki_offer, wallet_redeem

from identity.credentials.sdjwt import SD, issue, present
from identity.credentials.status_list import StatusReference
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    BindingError,
    Expired,
    InvalidSignature,
    MalformedInput,
    PolicyError,
    ProofMismatch,
    Revoked,
    Suspended,
    TimeError,
)
from identity.protocols.dcql import claim, credential_set, dcql_query, sd_jwt_credential
from verifier.pipeline import TrustCache, _status_reference, verify_presentation, verify_vp_token

VERIFIER = "decentralized_identifier:did:akashi:QmCarSharing"
T = int(NOW.timestamp())


class World:
    def __init__(self, folder: Path) -> None:
        self.setup = Setup(folder)
        self.holder = Ed25519PrivateKey.generate()
        offer = jpki_offer(self.setup)
        answer = wallet_redeem(self.setup, offer["offer_url"], [self.holder]).json()
        self.credential: str = answer["credentials"][0]["credential"]
        self.digest: str = answer["credentials"][0]["akashi_anchor"]["entry"]["body"]["digest"]
        issuer = self.setup.world.issuer
        self.fetch = lambda uri: issuer.status_token(uri.rsplit("/", 1)[1])

    def present(
        self,
        paths: list[tuple[Any, ...]],
        *,
        nonce: str = "n-1",
        aud: str = VERIFIER,
        iat: int = T,
        key: Ed25519PrivateKey | None = None,
        credential: str | None = None,
    ) -> str:
        return present(
            credential or self.credential, paths, holder_key=key or self.holder, nonce=nonce, aud=aud, iat=iat
        )

    def verify(self, presentation: str, **changes: Any) -> Any:
        args: dict[str, Any] = {
            "ledger": self.setup.ledger,
            "fetch_status_list": self.fetch,
            "nonce": "n-1",
            "audience": VERIFIER,
            "now": T,
        }
        args.update(changes)
        return verify_presentation(presentation, **args)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.setup.close()


def kyc_query() -> Any:
    return dcql_query(
        [
            sd_jwt_credential(
                "kyc",
                [f"{'http://127.0.0.1:8471'}/vct/kyc"],
                claims=[
                    claim("verified_claims", "verification", "trust_framework", values=["jp_aml"]),
                    claim("age_over_20", values=[True]),
                ],
            )
        ],
        [credential_set(["kyc"])],
    )


def test_the_honest_path(world: World) -> None:
    verified = world.verify(world.present([("age_over_20",)]), query=kyc_query(), query_id="kyc")
    assert verified.claims["age_over_20"] is True
    assert verified.methods == ("jpki",)
    assert verified.issuer_name == "株式会社テスト本人確認"
    assert verified.anchor_index is not None
    answer = verify_vp_token(
        {"kyc": [world.present([("age_over_20",)])]},
        ledger=world.setup.ledger,
        fetch_status_list=world.fetch,
        nonce="n-1",
        audience=VERIFIER,
        now=T,
        query=kyc_query(),
    )
    assert answer["kyc"][0].digest == world.digest
    # The query paths each presentation answered (what a consent receipt must cover).
    asked = (("verified_claims", "verification", "trust_framework"), ("age_over_20",))
    assert verified.answered == answer["kyc"][0].answered == asked


def test_answered_paths_are_those_of_the_claim_set_met(world: World) -> None:
    query = dcql_query(
        [
            sd_jwt_credential(
                "kyc",
                ["http://127.0.0.1:8471/vct/kyc"],
                claims=[claim("age_over_21", id="a21"), claim("age_over_20", id="a20", values=[True])],
                claim_sets=[["a21"], ["a20"]],
            )
        ]
    )
    answer = verify_vp_token(
        {"kyc": [world.present([("age_over_20",)])]},
        ledger=world.setup.ledger,
        fetch_status_list=world.fetch,
        nonce="n-1",
        audience=VERIFIER,
        now=T,
        query=query,
    )
    assert answer["kyc"][0].answered == (("age_over_20",),)


def test_what_the_trust_cache_remembers_per_digest_is_checked_against_the_claim(world: World) -> None:
    cache = TrustCache(ttl=3600, memo=2)
    first = world.verify(world.present([("age_over_20",)]), cache=cache)
    again = world.verify(world.present([("age_over_20",)]), cache=cache)
    assert again.status == first.status and again.digest == first.digest
    # A status reference is reused only for an equal status claim (same digest or not).
    other = StatusReference(idx=first.status.idx + 1, uri=first.status.uri)
    claims = {"status": other.to_claim()}
    assert _status_reference(claims, first.digest, cache) == other
    for n in range(3):  # the memo starts afresh when full
        _status_reference({"status": other.to_claim()}, f"digest-{n}", cache)
    assert len(cache._references) <= 2
    with pytest.raises(MalformedInput):  # not ASCII: refused before any digest is looked up
        world.verify("é" + world.present([("age_over_20",)]), cache=cache)


def test_wrong_issuer_key(world: World) -> None:
    # Same claims, same kid, signed by a key that is not the issuer's.
    import base64

    header, payload = (
        json.loads(base64.urlsafe_b64decode(p + "==")) for p in world.credential.split("~")[0].split(".")[:2]
    )
    forged = issue(
        {k: payload[k] for k in ("iss", "vct", "iat", "exp")} | {"age_over_20": SD(True)},
        Ed25519PrivateKey.generate(),
        header={"typ": "dc+sd-jwt", "kid": header["kid"]},
        holder_key=world.holder.public_key,
    )
    with pytest.raises(InvalidSignature):
        world.verify(world.present([("age_over_20",)], credential=forged))


def test_unaccredited_issuer(world: World) -> None:
    from registry.genesis import sign_member_entry
    from registry.service import read_private_key

    governance = [
        read_private_key(p) for p in sorted((world.setup.world.folder / "registry" / "governance").iterdir())
    ]
    did = world.setup.world.issuer.identity.did
    world.setup.ledger.submit(sign_member_entry("member.remove", {"did": did, "version": 2}, governance[:2]))
    with pytest.raises(PolicyError, match="not an active issuer"):
        world.verify(world.present([("age_over_20",)]))


def test_revoked_and_suspended(world: World) -> None:
    issuer = world.setup.world.issuer
    issuer.change_status(world.digest, "suspend")
    with pytest.raises(Suspended):
        world.verify(world.present([("age_over_20",)]))
    issuer.change_status(world.digest, "reinstate")
    world.verify(world.present([("age_over_20",)]))
    issuer.change_status(world.digest, "revoke")
    with pytest.raises(Revoked):
        world.verify(world.present([("age_over_20",)]))


def test_expired_credential(world: World) -> None:
    later = T + 2 * 365 * 86400
    with pytest.raises(Expired):
        world.verify(world.present([("age_over_20",)], iat=later), now=later)


@pytest.mark.parametrize(
    ("presented", "expected", "error"),
    [
        ({"nonce": "n-replayed"}, {}, BindingError),
        ({"aud": "decentralized_identifier:did:akashi:QmSomeoneElse"}, {}, BindingError),
        ({"iat": T - 3600}, {}, TimeError),
        ({"key": Ed25519PrivateKey.generate()}, {}, InvalidSignature),
    ],
    ids=["replayed nonce", "wrong audience", "stale KB-JWT", "KB-JWT by another key"],
)
def test_key_binding_attacks(
    world: World, presented: dict[str, Any], expected: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        world.verify(world.present([("age_over_20",)], **presented), **expected)


def test_disclosures_swapped_from_another_credential(world: World) -> None:
    other = wallet_redeem(world.setup, jpki_offer(world.setup)["offer_url"], [world.holder]).json()
    other_credential = other["credentials"][0]["credential"]
    jwt, _, kb_jwt = world.present([("age_over_20",)]).split("~")
    _, their_disclosure, _ = present(other_credential, [("age_over_20",)]).split("~")
    with pytest.raises(ProofMismatch):
        world.verify(f"{jwt}~{their_disclosure}~{kb_jwt}")


def test_a_claim_outside_the_request_is_refused(world: World) -> None:
    presentation = world.present([("age_over_20",), ("verified_claims", "claims", "family_name")])
    with pytest.raises(PolicyError, match="did not ask"):
        world.verify(presentation, query=kyc_query(), query_id="kyc")


def test_a_credential_not_anchored(world: World) -> None:
    from datetime import date

    from identity.credentials.kyc import Address, JpkiEvidence, PersonClaims, Verification, kyc_claims
    from issuer.credentials import KYC

    person = PersonClaims("山田", "花子", date(1998, 7, 15), Address(formatted="東京都千代田区霞が関2-1-2"))
    evidence = JpkiEvidence(issuer="CN=JPKI", serial_number="1", created_at=NOW)
    claims = kyc_claims(
        person, Verification(time=NOW, verification_process="x", evidence=(evidence,)), NOW.date()
    )
    # Signed by the real issuer key, but never anchored (the issuer's _issue alone, no ledger step).
    ((credential, _),) = world.setup.world.issuer._issue(KYC, claims, [world.holder.public_key], T)
    with pytest.raises(ProofMismatch, match="not anchored"):
        world.verify(world.present([("age_over_20",)], credential=credential))
