"""``akashi-demo``: the whole story, narrated, on services running on loopback.

A registry node (SQLite, with its witness), the issuer service and two operators'
verifier services start on 127.0.0.1 in this process; the counter, the wallet and the
operators talk to them over HTTP. Every step is checked; the demo exits non-zero if any
check fails.

1. A consortium starts its ledger; an identity provider is accredited for JPKI and
   licence IC checks; a car-sharing and a space-sharing operator join the trust
   registry with the purposes they may ask for.
2. Yamada Hanako creates her wallet (encrypted file, did:akashi on the ledger with a
   pre-committed recovery key, printed as a recovery kit).
3. Her My Number card (locally generated JPKI test CA) and her driving licence (test
   licence authority) are checked at the issuer's counter; her wallet receives the KYC
   and licence credentials by OpenID4VCI, several copies each, every copy's signature
   and ledger anchor verified before it is stored.
4. The car-sharing operator asks (OpenID4VP, DCQL): identity verified under jp_aml,
   over 20, a licence valid today, name and address; the wallet shows who asks, why,
   and each claim in plain words; she approves; a consent receipt is anchored; the
   operator records her as verified.
5. The space-sharing operator asks only for KYC and over 18: what it stored holds no
   name, birth date, address or licence number, and it knows her by another pairwise
   DID than the car-sharing operator does.
6. A tampered and a replayed presentation are refused.
7. She moves: one address update, sealed, reaches the car-sharing operator only (the
   space-sharing one never had her address); it applies it and acknowledges on the
   ledger; her wallet shows the acknowledgement.
8. She revokes the car-sharing consent on the ledger; she exports her audit record
   (the update and its acknowledgement included) and it verifies offline; one edited
   byte is found.
9. No personal value (the new address included) is in any registry database file.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from akashi_demo.loopback import LoopbackIssuer, LoopbackRegistry, LoopbackVerifier
from holder_app.audit import verify_audit, write_audit_jsonl
from holder_app.audit_events import events_from_store
from holder_app.recovery import forget_recovery_keys
from holder_app.recovery_kit import format_kit
from holder_app.store import WalletStore
from holder_app.updates import plan_update, recipients_text, refresh_updates, send_update
from holder_app.wallet import Wallet, create_wallet
from identity.credentials.sdjwt import present, verify
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.jcs import canonicalize
from identity.did.did_key import did_key_from_public_key
from identity.errors import AkashiError, MalformedInput
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.merkle import leaf_hash
from identity.ledger.proofs import parse_inclusion_proof
from identity.schemas import validate
from issuer.evidence import LicenceTrust
from issuer.evidence.testca import (
    HANAKO_CARD,
    HANAKO_LICENCE,
    create_jpki_ca,
    create_licence_authority,
    sign_challenge,
    sign_licence,
)
from registry.client import ClientTrust, RegistryClient
from registry.genesis import sign_member_entry
from registry.state import Member
from verifier.inbox import receive_updates

#: Values that must never reach a verifier that did not ask for them.
SECRETS = ["花子", "1998-07-15", "霞が関", "千代田区", "female"]
NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"


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
    clock = lambda: now  # noqa: E731 - one fixed instant for every service of the story
    ledger = RegistryClient(registry.url, trust=trust, clock=clock)
    governance = registry.governance[:2]
    when = datetime.fromtimestamp(now, UTC)
    ca = create_jpki_ca(when)
    card = ca.issue_card(HANAKO_CARD, when)
    authority = create_licence_authority(when)
    provider = LoopbackIssuer(
        workdir / "issuer",
        jpki_trust=ca.trust(when),
        licence_trust=LicenceTrust((authority.certificate,)),
        ledger=ledger,
        clock=clock,
    )
    operators: list[LoopbackVerifier] = []
    wallet_ledger = RegistryClient(registry.url, trust=trust, clock=clock)
    store = None
    try:
        issuer_did = provider.identity.did
        created = ledger.submit(provider.identity.did_create_entry())
        n.say(f"issuer service {provider.url}, {issuer_did[:40]}… created at leaf {created.index}")
        member = Member(
            issuer_did, "issuer", "株式会社デモ本人確認", "4010001234567", 1,
            evidence_methods=("jpki", "drivers_licence_ic"),
        )  # fmt: skip
        accredited = ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        n.check(
            accredited.proof is not None,
            f"accredited for JPKI and licence IC checks by 2 governance keys (leaf {accredited.index})",
        )
        for name, number in (
            ("株式会社アカシモビリティ", "2120901007402"),
            ("株式会社スペースシェア", "7010001888888"),
        ):
            operators.append(
                LoopbackVerifier(
                    workdir / number,
                    legal_name=name,
                    corporate_number=number,
                    ledger=ledger,
                    governance=governance,
                    issuers=[provider.url],
                    clock=clock,
                )
            )
        cars, spaces = operators
        n.check(
            all(ledger.member(o.did).record.role == "verifier" for o in operators),
            f"{cars.legal_name} (car-sharing) and {spaces.legal_name} (space-sharing) are in the trust "
            "registry with the purposes they registered",
        )

        n.title("Yamada Hanako (山田 花子) creates her wallet")
        store = WalletStore.create(workdir / "wallet.db", "demo passphrase — choose a long one", clock=clock)
        kit = create_wallet(store, wallet_ledger)
        wallet = Wallet(store, wallet_ledger, clock=clock)
        n.say(f"her identifier: {kit.did}")
        n.say("its inception commits to the digest of a next key, kept offline as her recovery kit:")
        n.say(format_kit(kit)[:47] + "…")
        forget_recovery_keys(store)  # shown: from now on only the kit can rotate her identity
        n.check(store.keys("next", active_only=False) == [], "the wallet does not keep the recovery key")
        n.check(
            wallet_ledger.resolve_did(kit.did).document is not None, "her did:akashi is on the ledger, proven"
        )
        on_disk = (workdir / "wallet.db").read_bytes()
        n.check(
            kit.did.encode() not in on_disk, "the wallet file is encrypted (not even her DID is readable)"
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
            data, licence_signature = sign_licence(authority, HANAKO_LICENCE)
            licence_check = counter.post(
                "/admin/checks/licence",
                headers=admin,
                json={
                    "data": base64.b64encode(data).decode(),
                    "signature": base64.b64encode(licence_signature).decode(),
                    "face_compared": True,
                    "operator": "counter-1",
                },
            )
            n.check(
                licence_check.status_code == 201,
                "her driving licence's IC data: signed by the licence authority, face compared (method ヘ)",
            )

        n.title("Her wallet receives the credentials by OpenID4VCI, each anchored on the ledger")
        [kyc] = wallet.receive(check.json()["offer_url"])
        received = wallet.receive(licence_check.json()["offer_url"])
        credential = kyc.copies[0].sd_jwt
        n.say(
            f"KYC (JPKI): {len(kyc.copies)} copies, each bound to its own key; KYC (licence) and licence "
            f"credential: {len(received)} more"
        )
        signed_part = decoded_parts(credential.split("~")[0])
        n.check(all(s not in signed_part for s in SECRETS), "no personal value is readable in the signed JWT")
        anchor = kyc.copies[0].anchor or {}
        proof = parse_inclusion_proof(json.dumps(anchor["inclusion_proof"]))
        head = verify_checkpoint(anchor["checkpoint"].encode(), genesis.log_verifier(), origin=genesis.origin)
        proof.verify(leaf_hash(canonicalize(anchor["entry"])), head.root_hash)
        n.check(
            anchor["entry"]["body"]["digest"] == kyc.copies[0].digest,
            f"its digest is anchored at leaf {anchor['index']}; checked by hand here: the inclusion proof "
            f"leads to the signed checkpoint of {head.size} entries",
        )

        n.title(f"{cars.legal_name} asks: KYC under jp_aml, over 20, a valid licence, name and address")
        request = wallet.open_request(cars.verifier.new_request("car-sharing").url)
        n.say(
            f"the wallet shows: {request.legal_name} (法人番号 {request.corporate_number}), "
            "from the trust registry"
        )
        n.say(f"purpose: {request.purpose_text}")
        for claim in request.claims:
            n.say(f"  - {claim.label_ja} / {claim.label_en}")
        n.check(
            request.receipt_required and request.updates_allowed,
            "it asks to receive her future address changes, so a consent receipt is required",
        )
        approval = wallet.approve(request)
        consent = approval.consent
        n.check(consent is not None, "she approves: exactly these claims are presented, with key binding")
        assert consent is not None
        grant = wallet_ledger.consent(consent.digest).record
        n.check(
            grant.verifier == cars.did and grant.updates_allowed,
            "her signed consent receipt is anchored on the ledger (consent.grant: digests and terms only)",
        )
        car_customer = _customer(store, cars.did)
        status = cars.verifier.customers.kyc_status(car_customer)
        n.check(
            status.status == "verified" and status.policy == "car-sharing",
            f"the operator's backend: customer {car_customer[:28]}… is verified "
            f"({', '.join(status.methods)})",
        )

        n.title(f"{spaces.legal_name} asks only: KYC and over 18")
        request = wallet.open_request(spaces.verifier.new_request("space-sharing").url)
        n.say("the wallet shows: " + ", ".join(c.label_en for c in request.claims))
        wallet.approve(request)
        space_customer = _customer(store, spaces.did)
        n.check(
            spaces.verifier.customers.kyc_status(space_customer).status == "verified",
            "verified: identity under jp_aml, over 18",
        )
        stored = b"".join(p.read_bytes() for p in (workdir / "7010001888888").glob("*.db*"))
        n.check(
            all(secret.encode() not in stored for secret in [*SECRETS, "山田", "301234567890"]),
            "what it stored holds no name, birth date, address or licence number",
        )
        n.check(
            space_customer != car_customer,
            "the two operators know her by different pairwise DIDs: they cannot join their customer lists",
        )

        n.title("Tampering and replay are refused")
        issuer_key = provider.identity.signing_key.public_key
        nonce = b64url_encode(os.urandom(16))
        holder = store.key(kyc.copies[0].holder_key_id)
        wanted = [("age_over_20",), ("verified_claims", "claims", "family_name")]
        presentation = present(
            credential, wanted, holder_key=holder, nonce=nonce, aud="did:example:op", iat=now
        )
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
                verify(candidate, issuer_key, now=now, nonce=expected_nonce, aud="did:example:op")
            except AkashiError as error:
                n.check(True, f"{label}: refused ({type(error).__name__}: {error})")
            else:
                n.check(False, f"{label}: was accepted")
        seen = verify(presentation, issuer_key, now=now, nonce=nonce, aud="did:example:op").claims
        validate(seen, "kyc-credential-claims")
        framework = seen["verified_claims"]["verification"]["trust_framework"]
        methods = [e.get("jp_aml_method") for e in seen["verified_claims"]["verification"]["evidence"]]
        n.check(
            framework == "jp_aml" and methods == ["ワ"],
            f"identity verified under {framework}, method {methods[0]}",
        )

        n.title(f"She moves to {NEW_ADDRESS}: one update, to exactly the operators she allowed")
        plan = plan_update(wallet, "address")
        for line in recipients_text(plan):
            n.say(line)
        n.check(
            [c.verifier for c in plan.recipients] == [cars.did],
            f"only {cars.legal_name} will receive it: {spaces.legal_name} never had her address",
        )
        [delivery] = send_update(wallet, plan, {"formatted": NEW_ADDRESS}, when.date())
        n.check(
            delivery.error is None,
            f"signed with her pairwise key, sealed to the operator's X25519 key from its DID, posted to the "
            f"registry's mailbox; the mailbox.notice is at leaf {delivery.notice_index}",
        )
        registry_bytes = b"".join(path.read_bytes() for path in registry.database_files)
        n.check(
            "中之島".encode() not in registry_bytes,
            "the registry holds the ciphertext only: her new address appears nowhere in its files",
        )
        [applied] = receive_updates(cars.verifier)
        n.check(
            applied.status == "applied" and applied.acked,
            f"{cars.legal_name} fetches its mail (RFC 9421-signed request), opens it, checks her signature "
            "and the consent, applies it and acknowledges on the ledger (mailbox.ack, signed)",
        )
        current = cars.verifier.customers.current_value(car_customer, "address", when.date())
        n.check(
            current == {"formatted": NEW_ADDRESS}, f"its customer record now reads {current['formatted']}"
        )
        n.check(receive_updates(spaces.verifier) == [], f"{spaces.legal_name}'s mailbox is empty")
        [tracked] = refresh_updates(wallet)
        n.check(
            tracked.status == "applied" and tracked.ack_anchor is not None,
            f"her wallet shows it: {cars.legal_name} — {tracked.status.upper()}, with the ledger proof of "
            f"the acknowledgement (leaf {tracked.ack_anchor['index'] if tracked.ack_anchor else '?'})",
        )

        n.title("She revokes the car-sharing consent, and exports her record for an auditor")
        wallet.revoke(consent.id)
        n.check(
            wallet_ledger.consent(consent.digest).record.revoked_at is not None,
            "revoked on the ledger (consent.revoke signed by her pairwise key), effective at once",
        )
        audit = workdir / "audit.jsonl"
        written = write_audit_jsonl(
            events_from_store(store), audit, wallet_did=kit.did, log_vkey=genesis.log_verifier().vkey
        )
        report = verify_audit(audit, witness_vkeys=[witness_key], k=1, expected_head=written.head)
        n.check(
            report.ok and report.events == written.events,
            f"{written.events} events (consents, presentations, the update and its acknowledgement, the "
            "revocation), each with its ledger proof, "
            "verified offline with nothing but the log's and the witness's keys",
        )
        edited = workdir / "edited.jsonl"
        edited.write_text(
            audit.read_text(encoding="utf-8").replace("age_over_20", "age_over_18", 1), encoding="utf-8"
        )
        caught = verify_audit(edited, witness_vkeys=[witness_key], k=1, expected_head=written.head)
        n.check(
            not caught.ok,
            f"one edited claim name is found: line {caught.failures[0].line if caught.failures else '?'}",
        )
    finally:
        for operator in operators:
            operator.stop()
        provider.stop()
        if store is not None:
            store.close()
        wallet_ledger.close()
        ledger.close()

    n.title("Nothing personal is on the ledger")
    stored = b"".join(path.read_bytes() for path in registry.database_files)
    found = [secret for secret in [*SECRETS, "山田", "301234567890", "中之島"] if secret.encode() in stored]
    n.check(
        not found,
        f"searched every byte of the registry's {len(registry.database_files)} database files: "
        "no name, birth date, address (old or new) or serial",
    )

    print()
    if n.failures:
        print(f"{n.failures} check(s) failed.")
        return 1
    print("Every check passed.")
    return 0


def _customer(store: WalletStore, verifier_did: str) -> str:
    """The pairwise DID a verifier knows her by: the key of the copies it was shown."""
    for credential in store.credentials():
        for copy in credential.copies:
            if copy.used_by == verifier_did:
                return did_key_from_public_key(store.key(copy.holder_key_id).public_key)
    raise MalformedInput(f"nothing was shown to {verifier_did}")


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
