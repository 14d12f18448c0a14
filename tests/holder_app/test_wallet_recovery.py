"""Rotating the wallet's root DID and recovering a lost wallet, against live registry, issuer and
verifier on loopback: after each, the ledger refuses what the old keys sign and accepts the new
key; a recovery also revokes the lost device's consents and, at their issuer, the credential
copies it holds, so a verifier refuses them; a wrong, used or mistyped kit, a tampered backup or a
wrong passphrase is refused with a clear message and leaves no file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from services_world import Services

from akashi_demo.loopback import LoopbackVerifier, free_port
from holder_app.records import NewCopy, StoredCredential, StoredKey
from holder_app.recovery import Recovered, recover, revoke_at_issuers, rotate
from holder_app.recovery_kit import RecoveryKit, format_kit
from holder_app.store import WalletStore
from holder_app.wallet import FORM, Wallet, create_wallet
from identity.credentials.sdjwt import present
from identity.credentials.status_list import INVALID, VALID
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.crypto.passphrase import TEST_PARAMS
from identity.did.did_key import did_key_from_public_key
from identity.did.key_events import KeyState, key_digest, sign_event, update
from identity.did.key_events import rotate as rotation_event
from identity.did.multikey import encode_multikey
from identity.errors import (
    AkashiError,
    CorruptBackup,
    KeyStateError,
    MalformedInput,
    RejectedByRules,
    RemoteError,
    WrongPassphrase,
)
from identity.jose.jws import parse_compact_unverified
from identity.ledger.envelope import sign_envelope
from identity.protocols.oid4vp import build_authorization_response
from registry.client import Receipt, RegistryClient

PASSPHRASE = "correct horse battery staple"
BACKUP_PASSPHRASE = "the one written on the USB stick"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    world = Services(tmp_path_factory.mktemp("services"))
    yield world
    world.close()


@pytest.fixture
def ledger(services: Services) -> Iterator[RegistryClient]:
    client = services.new_ledger_client()
    yield client
    client.close()


@dataclass
class Device:
    """A phone with a wallet: its store, engine and the recovery kit printed at init."""

    store: WalletStore
    wallet: Wallet
    kit: RecoveryKit

    @property
    def did(self) -> str:
        identity = self.store.identity()
        assert identity is not None
        return identity.did

    def close(self) -> None:
        self.wallet.close()
        self.store.close()


def new_device(path: Path, ledger: RegistryClient) -> Device:
    store = WalletStore.create(path, PASSPHRASE, params=TEST_PARAMS)
    kit = create_wallet(store, ledger)
    return Device(store, Wallet(store, ledger), kit)


def backup_of(device: Device, path: Path) -> Path:
    device.store.export_backup(path, BACKUP_PASSPHRASE, params=TEST_PARAMS)
    return path


def recover_to(backup: Path, kit_text: str, target: Path, ledger: RegistryClient, **kw: Any) -> Recovered:
    passphrase = kw.pop("passphrase", BACKUP_PASSPHRASE)
    return recover(backup, kit_text, passphrase, target, ledger, params=TEST_PARAMS, **kw)


# --- entries signed by a given key, whether or not it may sign them -------------------------


def _signed(event: Mapping[str, Any], key: Ed25519PrivateKey, index: int = 0) -> dict[str, Any]:
    """A key event with one signature by ``key``, claimed as key ``index`` (no authority check)."""
    return {
        "event": dict(event),
        "sigs": [{"key": index, "sig": b64url_encode(key.sign(canonicalize(event)))}],
    }


def did_update_by(state: KeyState, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A did.update (new keyAgreement key) signed, event and envelope, by ``key``."""
    agreement = Ed25519PrivateKey.generate().to_x25519().public_key
    event = update(state, key_agreement=[agreement])
    signer = f"{state.did}#{encode_multikey(key.public_key)}"
    return sign_envelope("did.update", _signed(event, key), signer, key)


def did_rotate_by(state: KeyState, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A did.rotate revealing ``key`` itself and committing to a key of its own choosing."""
    event = rotation_event(state, [key.public_key], [Ed25519PrivateKey.generate().public_key])
    signer = f"{state.did}#{encode_multikey(key.public_key)}"
    return sign_envelope("did.rotate", sign_event(event, [key]), signer, key)


def refused_rule(ledger: RegistryClient, envelope: Mapping[str, Any]) -> str:
    with pytest.raises(RejectedByRules) as refused:
        ledger.submit(envelope)
    return refused.value.rule


def root_key(store: WalletStore) -> Ed25519PrivateKey:
    [root] = store.keys("root")
    return root.key


# --- planned rotation -------------------------------------------------------------------------


def test_rotate_moves_the_did_to_fresh_keys_and_the_ledger_refuses_the_old_ones(
    tmp_path: Path, ledger: RegistryClient
) -> None:
    device = new_device(tmp_path / "wallet.db", ledger)
    try:
        old_root, old_kit = root_key(device.store), device.kit
        new_kit = rotate(device.store, ledger)

        resolved = ledger.resolve_did(device.did)
        new_root = root_key(device.store)
        assert resolved.state.keys == (new_root.public_key,)
        assert resolved.state.next_digests == (key_digest(new_kit.key.public_key),)
        assert new_kit.did == device.did and new_kit.seed != old_kit.seed
        assert new_root.public_key not in (old_root.public_key, old_kit.key.public_key)
        assert [k.key for k in device.store.keys("next")] == [new_kit.key]
        assert len(resolved.events) == 3  # created, then two rotations
        identity = device.store.identity()
        assert identity is not None and list(identity.events) == [e.envelope["body"] for e in resolved.events]
        retired = {k.key.public_key for k in device.store.keys(active_only=False) if not k.active}
        assert retired == {old_root.public_key, old_kit.key.public_key}
        last = device.store.history()[-1]
        assert (last.kind, last.outcome) == ("rotation", "completed")

        state = resolved.state
        assert refused_rule(ledger, did_update_by(state, old_root)) == "did.signer-not-authorising-key"
        assert refused_rule(ledger, did_update_by(state, old_kit.key)) == "did.signer-not-authorising-key"
        assert refused_rule(ledger, did_rotate_by(state, old_root)) == "did.event-rejected"
        assert refused_rule(ledger, did_rotate_by(state, old_kit.key)) == "did.event-rejected"
        assert isinstance(ledger.submit(did_update_by(state, new_root)), Receipt)

        again = rotate(device.store, ledger)  # the wallet follows an update made outside it
        assert ledger.resolve_did(device.did).state.next_digests == (key_digest(again.key.public_key),)
    finally:
        device.close()


class RacingLedger(RegistryClient):
    """A ledger client on which, just before the wallet's rotation goes in, another entry for the
    same DID lands first (the other device of the person, say): a real race on the real node."""

    first: Callable[[], object] | None = None

    def submit_batch(self, envelopes: Any, *, prove: bool = True) -> list[Receipt | AkashiError]:
        if self.first is not None:
            first, self.first = self.first, None
            first()
        return super().submit_batch(envelopes, prove=prove)


def test_a_rotation_the_ledger_refuses_leaves_the_active_keys_as_they_were(
    tmp_path: Path, services: Services
) -> None:
    racing = RacingLedger(services.registry.url, trust=services.trust)
    device = new_device(tmp_path / "wallet.db", racing)
    try:
        active = {k.id for k in device.store.keys(active_only=True)}
        state = racing.resolve_did(device.did).state
        root = root_key(device.store)
        signer = f"{device.did}#{encode_multikey(root.public_key)}"
        own_update = sign_envelope("did.update", sign_event(update(state), [root], state=state), signer, root)
        racing.first = lambda: racing.submit(own_update)
        with pytest.raises(RejectedByRules) as refused:
            rotate(device.store, racing)
        assert refused.value.rule == "did.event-rejected"
        now_active = {k.id for k in device.store.keys(active_only=True)}
        assert now_active == active  # the two fresh keys are kept, retired:
        assert len(device.store.keys(active_only=False)) == len(active) + 2
        last = device.store.history()[-1]
        assert (last.kind, last.outcome) == ("rotation", "failed") and "refused" in (last.reason or "")

        kit = rotate(device.store, racing)  # the wallet followed the ledger: trying again works
        assert racing.resolve_did(device.did).state.next_digests == (key_digest(kit.key.public_key),)
    finally:
        device.close()
        racing.close()


# --- recovery ---------------------------------------------------------------------------------


@dataclass
class Lost:
    """A phone used for a while (a credential, two anchored consents), backed up, then lost."""

    device: Device
    backup: Path
    old_root: Ed25519PrivateKey
    consents: tuple[str, ...]


@pytest.fixture
def lost(tmp_path: Path, services: Services, ledger: RegistryClient) -> Iterator[Lost]:
    device = new_device(tmp_path / "old-phone.db", ledger)
    device.wallet.receive(services.jpki_offer())
    consents = []
    for policy in ("parcel-locker", "space-sharing"):
        approval = device.wallet.approve(device.wallet.open_request(services.request_url(policy)))
        assert approval.consent is not None
        consents.append(approval.consent.id)
    backup = backup_of(device, tmp_path / "wallet.backup")
    yield Lost(device, backup, root_key(device.store), tuple(consents))
    device.close()


def test_recover_kills_the_old_keys_on_the_ledger_and_revokes_the_lost_devices_consents(
    tmp_path: Path, lost: Lost, services: Services, ledger: RegistryClient
) -> None:
    old = lost.device
    recovered = recover_to(lost.backup, format_kit(old.kit), tmp_path / "new-phone.db", ledger)
    with recovered.store as store:
        resolved = ledger.resolve_did(old.did)
        new_root = root_key(store)
        assert resolved.state.keys == (new_root.public_key,)
        assert resolved.state.next_digests == (key_digest(recovered.kit.key.public_key),)
        assert recovered.kit.did == old.did and recovered.kit.seed != old.kit.seed

        # The lost device's root key and the old kit's key are dead; the new root key signs.
        state = resolved.state
        assert refused_rule(ledger, did_update_by(state, lost.old_root)) == "did.signer-not-authorising-key"
        assert refused_rule(ledger, did_update_by(state, old.kit.key)) == "did.signer-not-authorising-key"
        assert refused_rule(ledger, did_rotate_by(state, old.kit.key)) == "did.event-rejected"
        assert isinstance(ledger.submit(did_update_by(state, new_root)), Receipt)

        # Every key the lost device holds is retired; its consents are revoked on the ledger.
        assert store.keys("holder") == [] and store.keys("pairwise") == []
        assert {k.key.public_key for k in store.keys(active_only=True)} == {
            new_root.public_key,
            recovered.kit.key.public_key,
        }
        assert set(recovered.revoked_consents) == set(lost.consents) and recovered.unrevoked_consents == ()
        for consent in store.consents():
            assert consent.status == "revoked" and consent.revocation_anchor is not None
            assert ledger.consent(consent.digest).record.revoked_at is not None
        assert set(recovered.untrusted_credentials) == {c.id for c in store.credentials()} != set()

        # The issuer revoked every copy the lost device holds, asked with the retired slot keys.
        assert recovered.revoked_credentials == recovered.untrusted_credentials
        assert recovered.unrevoked_credentials == ()
        for credential in store.credentials():
            assert credential.issuer_url == services.issuer.url
            for copy in credential.copies:
                assert services.issuer.issuer.status.status_of(copy.digest) == INVALID

        kinds = [(e.kind, e.outcome) for e in store.history()]
        assert ("restore", "completed") in kinds and ("recovery", "completed") in kinds
        revocations = len(lost.consents) + len(recovered.revoked_credentials)
        assert kinds.count(("revocation", "completed")) == revocations
        assert any("revoked at the issuer" in (e.reason or "") for e in store.history())
        assert any("ask the issuer" in (e.reason or "") for e in store.history())
        assert rotate(store, ledger).did == old.did  # the new phone rotates like any wallet

    # The lost device (its thief) can no longer rotate the DID...
    with pytest.raises(KeyStateError, match="needs the recovery kit it committed to"):
        rotate(old.store, ledger)
    # ...nor send a customer-data update under a consent it gave: the ledger refuses the notice.
    consent = old.store.consent(lost.consents[0])
    key = pairwise_key(old.store, consent.receipt).key
    holder = did_key_from_public_key(key.public_key)
    notice = {
        "consent": consent.digest,
        "recipient": consent.verifier,
        "ciphertext_digest": b64url_encode(sha256(b"a forged change of address")),
        "sent_at": int(time.time()),
    }
    forged = sign_envelope("mailbox.notice", notice, f"{holder}#{holder.removeprefix('did:key:')}", key)
    assert refused_rule(ledger, forged) == "mailbox.consent-revoked"


def pairwise_key(store: WalletStore, receipt: str) -> StoredKey:
    """The slot key that signed a consent receipt (the consent's pairwise did:key)."""
    holder = parse_compact_unverified(receipt).payload_json()["holder"]
    keys = store.keys("holder", active_only=False)
    return next(k for k in keys if did_key_from_public_key(k.key.public_key) == holder)


# --- refusals: nothing happens, no file is left ------------------------------------------------


def _mistyped(text: str) -> str:
    head, groups = text.split("-")[:2], text.split("-")[2:]
    group = groups[5]
    groups[5] = group[:2] + ("X" if group[2] != "X" else "Y") + group[3:]
    return "-".join(head + groups)


def _tampered(backup: Path) -> Path:
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    forged = backup.with_name("tampered.backup")
    forged.write_bytes(bytes(data))
    return forged


@dataclass(frozen=True)
class Refusal:
    """How one recovery attempt goes wrong: (backup, kit text, passphrase) from the lost phone
    and another wallet's kit; the error expected and words its message must hold."""

    attempt: Callable[[Lost, RecoveryKit], tuple[Path, str, str]]
    error: type[AkashiError]
    message: str


REFUSALS = {
    "a kit of another wallet": Refusal(
        lambda lost, other: (lost.backup, format_kit(other), BACKUP_PASSPHRASE),
        KeyStateError, "this recovery kit is for another wallet",
    ),
    "a mistyped kit": Refusal(
        lambda lost, other: (lost.backup, _mistyped(format_kit(lost.device.kit)), BACKUP_PASSPHRASE),
        MalformedInput, r"group 6 of the recovery kit \(.*\) has a mistyped character",
    ),
    "not a kit at all": Refusal(
        lambda lost, other: (lost.backup, "my dog's name", BACKUP_PASSPHRASE),
        MalformedInput, "this is not an akashi recovery kit",
    ),
    "a tampered backup": Refusal(
        lambda lost, other: (_tampered(lost.backup), format_kit(lost.device.kit), BACKUP_PASSPHRASE),
        CorruptBackup, "the backup is damaged",
    ),
    "a wrong passphrase": Refusal(
        lambda lost, other: (lost.backup, format_kit(lost.device.kit), "the wallet's, not the backup's"),
        WrongPassphrase, "the passphrase does not open this backup",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_recovery_that_cannot_be_trusted_is_refused_and_leaves_no_file(
    case: Refusal, tmp_path: Path, lost: Lost, ledger: RegistryClient
) -> None:
    other = new_device(tmp_path / "someone-else.db", ledger)
    other.close()
    before = ledger.resolve_did(lost.device.did).state
    backup, kit_text, passphrase = case.attempt(lost, other.kit)
    target = tmp_path / "new-phone.db"
    with pytest.raises(case.error, match=case.message):
        recover_to(backup, kit_text, target, ledger, passphrase=passphrase)
    assert not target.exists()
    assert ledger.resolve_did(lost.device.did).state == before  # nothing went to the ledger
    # and the lost phone's kit still recovers: nothing was used up
    with recover_to(lost.backup, format_kit(lost.device.kit), tmp_path / "at-last.db", ledger).store:
        pass


def test_a_kit_already_used_is_refused_and_leaves_no_file(
    tmp_path: Path, lost: Lost, ledger: RegistryClient
) -> None:
    kit_text = format_kit(lost.device.kit)
    recover_to(lost.backup, kit_text, tmp_path / "first.db", ledger).store.close()
    with pytest.raises(KeyStateError, match=r"outdated .* or was already used"):
        recover_to(lost.backup, kit_text, tmp_path / "second.db", ledger)
    assert not (tmp_path / "second.db").exists()


def test_an_existing_file_is_never_written_over(tmp_path: Path, lost: Lost, ledger: RegistryClient) -> None:
    target = tmp_path / "precious.db"
    target.write_bytes(b"someone's data")
    with pytest.raises(FileExistsError):
        recover_to(lost.backup, format_kit(lost.device.kit), target, ledger)
    assert target.read_bytes() == b"someone's data"


# --- the verifier ------------------------------------------------------------------------------


def test_after_recover_the_verifier_refuses_a_presentation_under_a_revoked_consent(
    tmp_path: Path, lost: Lost, services: Services, ledger: RegistryClient
) -> None:
    """The thief answers a new request from the lost phone with the slot's copy and key and the
    receipt of the consent the recovery revoked. The verifier refuses it: that consent is revoked
    on the ledger, and the receipt carries the nonce of an earlier request."""
    recover_to(lost.backup, format_kit(lost.device.kit), tmp_path / "new-phone.db", ledger).store.close()
    thief = lost.device.wallet
    consent = lost.device.store.consent(lost.consents[0])  # parcel-locker: updates, receipt required
    request = thief.open_request(services.request_url("parcel-locker"))
    slot = pairwise_key(lost.device.store, consent.receipt)
    now = int(time.time())
    vp_token: dict[str, list[str]] = {}
    for query_id, items in request.selection.items():
        for credential_id, paths in items:
            copies = lost.device.store.credential(credential_id).copies
            copy = next(c for c in copies if c.holder_key_id == slot.id)
            shown = present(
                copy.sd_jwt, paths, holder_key=slot.key, nonce=request.nonce, aud=request.client_id, iat=now
            )
            vp_token.setdefault(query_id, []).append(shown)
    body = build_authorization_response(vp_token, request.state, akashi_consent=consent.receipt)
    answer = httpx.post(request.response_uri, content=body, headers=FORM, timeout=30)
    assert answer.status_code == 422, answer.text
    assert any(reason in answer.json()["detail"] for reason in ("revoked", "nonce")), answer.text


def test_after_recover_a_verifier_that_never_saw_the_person_refuses_an_old_copy(
    tmp_path: Path, lost: Lost, services: Services
) -> None:
    """The thief answers a request of an operator the person never dealt with, from the lost
    phone: a copy no verifier has seen, its slot key, a fresh consent. The operator refuses it:
    its issuer revoked the copy when the wallet was recovered, and the verifier reads the status
    list. (This operator has never read that list. One that read it within the list's ``ttl`` —
    900 s at akashi issuers — keeps its cached copy until then, and accepts the copy meanwhile.)"""
    thief = lost.device.wallet
    fresh = [c for c in lost.device.store.credentials()[0].copies if c.used_by is None]
    assert fresh and all(services.issuer.issuer.status.status_of(c.digest) == VALID for c in fresh)
    recover_to(
        lost.backup, format_kit(lost.device.kit), tmp_path / "new-phone.db", services.ledger
    ).store.close()
    ledger = services.new_ledger_client()
    operator = LoopbackVerifier(
        tmp_path / "operator",
        legal_name="株式会社スペースシェア",
        corporate_number="7010001888888",
        ledger=ledger,
        governance=services.registry.governance[:2],
        issuers=[services.issuer.url],
    )
    try:
        request = thief.open_request(operator.verifier.new_request("space-sharing").url)
        assert request.legal_name == "株式会社スペースシェア"
        with pytest.raises(RemoteError, match=r"the verifier refused the presentation: .*revoked"):
            thief.approve(request)
        assert operator.verifier.customers.customers() == []  # nobody was verified
    finally:
        operator.stop()
        ledger.close()


# --- asking the issuers: where to, and what when they do not answer ------------------------------


@dataclass(frozen=True)
class Stored:
    """How a credential is kept, from the one the wallet received: its issuer URL (or none, as a
    wallet stored it before keeping it) and its ``vct``; the outcome of asking its issuer."""

    issuer_url: Callable[[Services], str | None]
    vct: Callable[[StoredCredential], str]
    revoked: bool
    reason: str = ""


ASKING = {
    "the issuer it came from": Stored(lambda s: s.issuer.url, lambda c: c.vct, True),
    "an older record: the vct names the issuer": Stored(lambda s: None, lambda c: c.vct, True),
    "an older record whose vct names no issuer": Stored(
        lambda s: None, lambda c: "urn:example:kyc", False, "does not know where this credential's issuer"
    ),
    "an issuer that does not answer": Stored(
        lambda s: f"http://127.0.0.1:{free_port()}", lambda c: c.vct, False, "could not be reached"
    ),
    "a URL that is not this issuer": Stored(
        lambda s: s.issuer.url + "/elsewhere", lambda c: c.vct, False,
        "the issuer refused to revoke a copy (404)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", ASKING.values(), ids=ASKING.keys())
def test_revoke_at_issuers_asks_the_issuer_each_credential_names(
    case: Stored, tmp_path: Path, services: Services, ledger: RegistryClient
) -> None:
    device = new_device(tmp_path / "phone.db", ledger)
    try:
        [received] = device.wallet.receive(services.jpki_offer())
        kept = device.store.add_credential(
            vct=case.vct(received), issuer=received.issuer, issued_at=received.issued_at,
            expires_at=received.expires_at, issuer_url=case.issuer_url(services),
            copies=[NewCopy(c.sd_jwt, c.holder_key_id, c.digest, c.anchor) for c in received.copies],
        )  # fmt: skip
        revoked, failed = revoke_at_issuers(device.wallet, [kept.id])
        statuses = {services.issuer.issuer.status.status_of(c.digest) for c in kept.copies}
        last = device.store.history()[-1]
        assert (last.kind, last.counterpart) == ("revocation", received.issuer)
        if case.revoked:
            assert (revoked, failed, statuses) == ((kept.id,), (), {INVALID})
            assert last.outcome == "completed"
            assert revoke_at_issuers(device.wallet, [kept.id]) == ((kept.id,), ())  # again: the state
        else:
            assert revoked == () and statuses == {VALID}
            [(credential_id, reason)] = failed
            assert credential_id == kept.id and case.reason in reason, reason
            assert last.outcome == "failed" and case.reason in (last.reason or "")
    finally:
        device.close()
