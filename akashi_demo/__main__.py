"""``akashi-demo``: the whole story, narrated, on services running on loopback.

A registry node (SQLite, with its witness) and the issuer service start on
127.0.0.1 in this process; the counter and the wallet talk to them over HTTP.
Every step is checked; the demo exits non-zero if any check fails.

1. A consortium starts its ledger; the holder creates her wallet root
   (did:akashi, next keys 1 of 2: a paper recovery key and a second device)
   and a pairwise did:key for the car-sharing operator.
2. An identity provider creates its DID on the ledger and is accredited for
   JPKI checks by two governance keys.
3. Her My Number card (from a locally generated JPKI test CA) signs the
   issuer's challenge over the admin API; the issuer verifies chain and CRL.
4. Her wallet receives the KYC credential by OpenID4VCI (pre-authorized code,
   two copies bound to two keys); each copy's digest is anchored on the ledger.
5. The operator asks for "over 20" and her family name with a fresh nonce;
   the wallet presents exactly those two, with key binding.
6. The operator resolves the issuer's key, its accreditation and the
   credential's anchor from the ledger, all proven, and verifies; a tampered
   and a replayed presentation are refused; no personal value is in the
   registry's database files.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from akashi_demo.loopback import LoopbackIssuer, LoopbackRegistry
from identity.credentials.sdjwt import present, verify
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.akashi import replay
from identity.did.did_key import did_key_from_public_key
from identity.did.document import signing_key
from identity.did.key_events import incept, sign_event
from identity.errors import AkashiError, MalformedInput
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.merkle import leaf_hash
from identity.ledger.proofs import parse_inclusion_proof
from identity.protocols.oid4vci.offer import parse_offer_url
from identity.protocols.oid4vci.proof import build_proof_jwt
from identity.protocols.oid4vci.token import build_token_request
from identity.schemas import validate
from issuer.evidence import LicenceTrust
from issuer.evidence.testca import CardHolder, create_jpki_ca, create_licence_authority, sign_challenge
from registry.client import ClientTrust, RegistryClient
from registry.genesis import sign_member_entry
from registry.state import Member

#: Values that must never reach a verifier that did not ask for them.
SECRETS = ["花子", "1998-07-15", "霞が関", "千代田区", "female"]
HANAKO_CARD = CardHolder(
    name="山田　花子", birthdate=date(1998, 7, 15), gender="2", address="東京都千代田区霞が関2-1-2"
)


class Narrator:
    """Prints the story and counts failed checks."""

    def __init__(self) -> None:
        self.failures = 0
        self.step = 0

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}")

    def say(self, text: str) -> None:
        print(f"   {text}")

    def check(self, ok: bool, text: str) -> None:
        mark = "ok " if ok else "FAIL"
        print(f"   [{mark}] {text}")
        if not ok:
            self.failures += 1


def decoded_parts(presentation: str) -> str:
    """Everything a verifier receives, decoded to text, to search for personal data."""
    texts = []
    for part in presentation.split("~"):
        for segment in part.split("."):
            try:
                texts.append(b64url_decode(segment).decode("utf-8", "replace"))
            except AkashiError:
                texts.append(segment)
    return "\n".join(texts)


def run(now: int, workdir: Path) -> int:
    n = Narrator()

    n.title("A consortium of operators starts its ledger (a registry node on loopback)")
    registry = LoopbackRegistry(workdir / "registry", clock=lambda: now)
    try:
        return _story(n, now, registry, workdir)
    finally:
        registry.stop()


def _story(n: Narrator, now: int, registry: LoopbackRegistry, workdir: Path) -> int:
    genesis = registry.genesis
    witness_key = registry.service.witness_verifier.vkey
    n.say(f"node {registry.url}, log {genesis.origin}")
    n.say(
        f"trust-registry changes need {genesis.governance.threshold} of {len(genesis.governance.keys)} "
        "governance keys; every checkpoint is cosigned by a witness"
    )
    trust = ClientTrust.from_genesis(genesis, [witness_key], 1)

    n.title("Yamada Hanako (山田 花子) sets up her wallet")
    device = Ed25519PrivateKey.generate()
    paper = Ed25519PrivateKey.generate()  # printed on the recovery sheet, kept offline
    second_device = Ed25519PrivateKey.generate()
    inception = incept([device.public_key], [paper.public_key, second_device.public_key], kt=1, nt=1)
    root_state = replay([sign_event(inception, [device])])
    n.say(f"wallet root: {root_state.did}")
    n.say("its inception commits to the digests of two next keys (1 of 2): a paper")
    n.say("recovery key and a second device; losing one of them is survivable.")
    n.check(root_state.did == inception["id"], "the identifier is derived from its own inception event")
    holder_key = Ed25519PrivateKey.generate()
    pairwise = did_key_from_public_key(holder_key.public_key)
    n.say(f"pairwise identifier for the car-sharing operator: {pairwise[:32]}…")

    n.title("An identity provider joins the trust registry")
    ca = create_jpki_ca(datetime.fromtimestamp(now, UTC))
    card = ca.issue_card(HANAKO_CARD, datetime.fromtimestamp(now, UTC))
    authority = create_licence_authority(datetime.fromtimestamp(now, UTC))
    ledger = RegistryClient(registry.url, trust=trust, clock=lambda: now)
    provider = LoopbackIssuer(
        workdir / "issuer",
        jpki_trust=ca.trust(datetime.fromtimestamp(now, UTC)),
        licence_trust=LicenceTrust((authority.certificate,)),
        ledger=ledger,
        clock=lambda: now,
    )
    try:
        issuer_did = provider.identity.did
        issuer_signer = provider.identity.kid
        created = ledger.submit(provider.identity.did_create_entry())
        n.say(f"issuer service {provider.url}, {issuer_did} created at leaf {created.index}")
        member = Member(
            issuer_did, "issuer", "株式会社デモ本人確認", "4010001234567", 1, evidence_methods=("jpki",)
        )
        accredited = ledger.submit(sign_member_entry("member.add", member.to_body(), registry.governance[:2]))
        n.check(
            accredited.proof is not None,
            f"accredited for JPKI checks by 2 governance keys (leaf {accredited.index})",
        )

        n.title("At the counter: her My Number card signs the issuer's challenge (JPKI, method ワ)")
        admin = {"authorization": "Bearer " + provider.admin_token}
        with httpx.Client(base_url=provider.url, timeout=30) as counter:
            challenge = counter.post("/admin/challenges", headers=admin).json()
            # The card reader is the only simulated part: the card's key signs the challenge.
            signature = sign_challenge(
                cast(rsa.RSAPrivateKey, card.key), base64.urlsafe_b64decode(challenge["challenge"])
            )
            check = counter.post(
                "/admin/checks/jpki",
                headers=admin,
                json={
                    "challenge_id": challenge["id"],
                    "certificate": base64.b64encode(card.certificate.public_bytes(Encoding.DER)).decode(),
                    "signature": base64.b64encode(signature).decode(),
                    "operator": "counter-1",
                },
            )
        n.check(
            check.status_code == 201,
            "signature, certificate chain to the JPKI root, validity and CRL: all verified",
        )
        offer_url = check.json()["offer_url"]
        n.say(f"offer for her wallet (a QR code at the counter): {offer_url[:64]}…")

        n.title("Her wallet receives the KYC credential by OpenID4VCI, anchored on the ledger")
        copies = [holder_key, Ed25519PrivateKey.generate()]  # one copy per future verifier
        credentials = _receive(offer_url, copies, now)
        credential = credentials[0]["credential"]
        disclosures = credential.count("~") - 1
        n.say(
            f"{len(credentials)} copies bound to different keys; each {len(credential)} characters, "
            f"{disclosures} disclosures"
        )
        signed_part = decoded_parts(credential.split("~")[0])
        n.check(all(s not in signed_part for s in SECRETS), "no personal value is readable in the signed JWT")
        anchor = credentials[0]["akashi_anchor"]
        proof = parse_inclusion_proof(json.dumps(anchor["inclusion_proof"]))
        head = verify_checkpoint(anchor["checkpoint"].encode(), genesis.log_verifier(), origin=genesis.origin)
        proof.verify(leaf_hash(canonicalize(anchor["entry"])), head.root_hash)
        digest = b64url_encode(sha256(credential.split("~")[0].encode("ascii")))
        n.check(
            anchor["entry"]["body"]["digest"] == digest,
            f"its digest is anchored at leaf {anchor['leaf_index']}; the inclusion proof verifies "
            f"against the signed checkpoint of {head.size} entries",
        )
    finally:
        provider.stop()
        ledger.close()

    n.title("The car-sharing operator asks: over 20? and the family name for the contract")
    nonce = b64url_encode(os.urandom(16))
    verifier_id = "did:key:z6MkCarSharingOperatorDemo"
    n.say(f"request nonce {nonce}, audience {verifier_id}")

    n.title("Her wallet presents exactly those two claims, bound to her key")
    wanted = [("age_over_20",), ("verified_claims", "claims", "family_name")]
    presentation = present(credential, wanted, holder_key=holder_key, nonce=nonce, aud=verifier_id, iat=now)
    n.say(f"presentation: {presentation.count('~') - 1} of {disclosures} disclosures, plus a key-binding JWT")

    n.title("The operator verifies, trusting the ledger's proofs and nothing else")
    with RegistryClient(registry.url, trust=trust, clock=lambda: now) as ledger:
        resolved = ledger.resolve_did(issuer_did)
        n.check(
            resolved.document is not None,
            f"issuer key resolved from {len(resolved.events)} proven key event(s)",
        )
        issuer_public = signing_key(resolved.document, issuer_signer)
        accreditation = ledger.member(issuer_did)
        n.check(
            accreditation.record.active and "jpki" in accreditation.record.evidence_methods,
            f"{accreditation.record.legal_name} is accredited for JPKI checks",
        )
        result = verify(presentation, issuer_public, now=now, nonce=nonce, aud=verifier_id)
        anchored_record = ledger.attestation(
            b64url_encode(sha256(presentation.split("~")[0].encode("ascii")))
        )
        n.check(
            anchored_record.record.issuer == issuer_did, "the credential's digest is anchored on the ledger"
        )
    seen = result.claims
    validate(seen, "kyc-credential-claims")
    n.check(seen.get("age_over_20") is True, "over 20: yes")
    n.check(seen["verified_claims"]["claims"] == {"family_name": "山田"}, "family name: 山田")
    framework = seen["verified_claims"]["verification"]["trust_framework"]
    methods = [e.get("jp_aml_method") for e in seen["verified_claims"]["verification"]["evidence"]]
    n.check(
        framework == "jp_aml" and methods == ["ワ"],
        f"identity verified under {framework}, method {methods[0]}",
    )
    n.say("disclosed paths: " + ", ".join(".".join(map(str, p)) for p in result.paths))
    received = decoded_parts(presentation)
    for secret in SECRETS:
        n.check(secret not in received, f"the operator never received {secret!r}")

    n.title("Tampering and replay are refused")
    tampered = presentation
    for original in presentation.split("~")[1:-1]:
        salt, name, _old = json.loads(b64url_decode(original))
        if name == "family_name":
            forged = b64url_encode(json.dumps([salt, name, "佐藤"], ensure_ascii=False).encode())
            tampered = presentation.replace(original, forged)
    for label, candidate, expected_nonce in (
        ("the family name swapped for 佐藤 in its disclosure", tampered, nonce),
        ("the same presentation replayed to a new request", presentation, b64url_encode(os.urandom(16))),
    ):
        try:
            verify(candidate, issuer_public, now=now, nonce=expected_nonce, aud=verifier_id)
        except AkashiError as error:
            n.check(True, f"{label}: refused ({type(error).__name__}: {error})")
        else:
            n.check(False, f"{label}: was accepted")

    n.title("Nothing personal is on the ledger")
    stored = b"".join(path.read_bytes() for path in registry.database_files)
    found = [secret for secret in [*SECRETS, "山田"] if secret.encode() in stored]
    n.check(
        not found,
        f"searched every byte of the registry's {len(registry.database_files)} database files: "
        "no name, birth date, address or serial",
    )

    print()
    if n.failures:
        print(f"{n.failures} check(s) failed.")
        return 1
    print("Every check passed.")
    return 0


def _receive(offer_url: str, holder_keys: list[Ed25519PrivateKey], now: int) -> list[dict[str, Any]]:
    """A wallet that knows only OpenID4VCI 1.0: offer → metadata → token → nonce → credential."""
    offer = parse_offer_url(offer_url).offer
    if offer is None or offer.pre_authorized_code is None:
        raise MalformedInput("the offer carries no pre-authorized code")
    base = offer.credential_issuer
    with httpx.Client(timeout=30) as wallet:
        metadata = wallet.get(base + "/.well-known/openid-credential-issuer").json()
        token_endpoint = wallet.get(base + "/.well-known/oauth-authorization-server").json()["token_endpoint"]
        token = wallet.post(
            token_endpoint,
            content=build_token_request(offer.pre_authorized_code),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).json()
        nonce = wallet.post(metadata["nonce_endpoint"]).json()["c_nonce"]
        proofs = [build_proof_jwt(k, audience=base, iat=now, nonce=nonce) for k in holder_keys]
        answer = wallet.post(
            metadata["credential_endpoint"],
            json={
                "credential_configuration_id": offer.credential_configuration_ids[0],
                "proofs": {"jwt": proofs},
            },
            headers={"authorization": "Bearer " + token["access_token"]},
        )
    if answer.status_code != 200:
        raise MalformedInput(f"the issuer refused: {answer.text}")
    credentials: list[dict[str, Any]] = answer.json()["credentials"]
    return credentials


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-demo``."""
    parser = argparse.ArgumentParser(prog="akashi-demo", description="A narrated walk through akashi.")
    parser.add_argument("--now", type=int, default=None, help="clock to use (Unix seconds)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="akashi-demo-") as workdir:
            return run(args.now if args.now is not None else int(time.time()), Path(workdir))
    except AkashiError as error:
        print(f"akashi-demo: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
