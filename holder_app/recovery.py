"""Rotating the wallet's root did:akashi, and recovering a lost wallet on a new device.

The root DID's key event log is on the ledger with pre-rotation: each state commits to
the digest of the *next* key, which the recovery kit carries (:mod:`holder_app.recovery_kit`).

Why every rotation here is two ledger entries. A rotation may only reveal keys the
previous state committed to (rule K2 of :mod:`identity.did.akashi`), so one rotation
would make the kit's key the new signing key. But that key is printed on paper, and it
may be in old backups (a wallet keeps it until :func:`forget_recovery_keys` runs, once
the person has the kit).
So the wallet rotates twice in one batch: the first entry reveals the kit's key and
commits to a fresh key *F*; the second reveals *F* and commits to a fresh key *N*.
Afterwards *F* signs, *N* is the new kit, and both the old signing key and the old kit's
key are dead on the ledger: a ``did.update`` they sign is refused
(``did.signer-not-authorising-key``), a ``did.rotate`` or ``did.deactivate`` too
(``did.event-rejected``), any other entry naming them as a did:akashi signer
(``signer.not-current-key``).

Crash safety. The fresh keys are written to the wallet *before* the entries are
submitted, so a rotation the ledger took but whose answer was lost never strands the
DID with keys nobody holds. After submitting, the wallet reads the DID back from the
ledger and settles on what it says (:func:`_settle`): root and next keys that the
ledger's state does not name are retired, and the ledger's key events become the
wallet's. So when the ledger refused, the active keys are as before and the two unused
keys stay in the file, retired. When the ledger did not answer clearly (an error in
transit: the entries may still go in), or cannot be read back, the outcome is unknown;
running :func:`rotate` again finishes or starts over, because it looks for the
committed key among every key the wallet holds, retired ones included.

Credentials after a recovery. Each copy is bound to a slot key the lost device holds, so
whoever has the device can still present it to a verifier that never met the person, and
nothing on the ledger ties those keys to the DID: only the issuer can end a copy, in its
status list. The recovered wallet still holds the slot keys (retired), so it proves
possession of each one to the issuer: :func:`revoke_at_issuers` sends one
``holder-revocation+jwt`` per copy (:mod:`identity.credentials.holder_revocation`) to
``POST <credential issuer>/credentials/revoke``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from holder_app.backup import MAX_BACKUP_BYTES, decode_backup
from holder_app.records import CredentialCopy, StoredCredential
from holder_app.recovery_kit import RecoveryKit, parse_kit, verify_kit
from holder_app.store import WalletStore
from holder_app.wallet import Wallet
from identity.credentials.holder_revocation import new_holder_revocation, sign_holder_revocation
from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.crypto.passphrase import DEFAULT_PARAMS, KdfParams
from identity.did.akashi import apply_event
from identity.did.key_events import KeyState, key_digest, sign_event
from identity.did.key_events import rotate as rotation_event
from identity.did.multikey import encode_multikey
from identity.errors import (
    AkashiError,
    KeyStateError,
    MalformedInput,
    NotFound,
    ProofMismatch,
    RemoteError,
)
from identity.ledger.envelope import Envelope, sign_envelope
from registry.client import RegistryClient, ResolvedDid

__all__ = ["Recovered", "forget_recovery_keys", "recover", "revoke_at_issuers", "rotate"]

Clock = Callable[[], float]
#: Where a credential issuer takes a holder's revocation request, under its identifier.
REVOCATION_PATH = "/credentials/revoke"


@dataclass(frozen=True, slots=True)
class Recovered:
    """The outcome of :func:`recover`.

    ``store`` is the new, open wallet (the caller closes it) and ``kit`` its new recovery
    kit, to print and keep offline: the old kit is dead. The rest says what was done and
    what is left to the person:

    - ``retired_keys``: ids of the keys retired because the lost device holds them (the
      old root and kit keys, every credential slot key, every pairwise key);
    - ``revoked_consents``: consents now revoked on the ledger (or found already revoked);
    - ``unrevoked_consents``: (consent id, reason) of those that could not be revoked now;
      retry each with :meth:`~holder_app.wallet.Wallet.revoke` (the retired key still signs it);
    - ``untrusted_credentials``: ids of credentials whose every copy is bound to a retired
      key. The thief can present those copies, so they prove nothing about the person
      any more; the wallet asked each issuer to revoke them (:func:`revoke_at_issuers`):
    - ``revoked_credentials``: ids of those whose every copy the issuer now says is revoked;
    - ``unrevoked_credentials``: (credential id, reason) of those with a copy the issuer did
      not revoke; retry with :func:`revoke_at_issuers` (the retired keys still sign), or ask
      the issuer.

    Either way, ask the issuers for new copies bound to this wallet's new keys.
    """

    store: WalletStore
    kit: RecoveryKit
    retired_keys: tuple[str, ...]
    revoked_consents: tuple[str, ...]
    unrevoked_consents: tuple[tuple[str, str], ...]
    untrusted_credentials: tuple[str, ...]
    revoked_credentials: tuple[str, ...] = ()
    unrevoked_credentials: tuple[tuple[str, str], ...] = ()


def rotate(
    store: WalletStore,
    ledger: RegistryClient,
    *,
    kit: RecoveryKit | str | None = None,
    random: RandomSource = os.urandom,
) -> RecoveryKit:
    """A planned rotation of the wallet's root DID on this device; the new recovery kit.

    The committed next key — from ``kit`` (the person's recovery kit), or still in the
    wallet when :func:`forget_recovery_keys` has not run yet — is revealed, then a fresh key takes over
    and a fresh next key is committed to (two ``did.rotate`` entries: module docstring).
    The old root key and the old kit are dead from these entries on; the person must
    keep the returned kit instead of the old one.

    Refused (wallet unchanged): no identity yet (:class:`NotFound`); the DID is
    deactivated, the ledger's key events do not continue the wallet's, or the wallet does
    not hold the committed next key — e.g. this device was replaced by :func:`recover`
    (:class:`KeyStateError`). The ledger's refusal is raised as it came; then the active
    keys are as before (the two fresh keys are kept, retired).
    """
    identity = store.identity()
    if identity is None:
        raise NotFound("this wallet has no identity yet: create it first (init)")
    resolved = ledger.resolve_did(identity.did)
    _check_continues(identity.events, resolved)
    given = parse_kit(kit) if isinstance(kit, str) else kit
    if given is not None and given.did != identity.did:
        raise KeyStateError(f"this recovery kit is for another wallet ({given.did})")
    revealed = _committed_keys(store, resolved.state, [] if given is None else [given.key])
    plan = _plan(resolved.state, revealed, random)
    _keep_fresh_keys(store, plan)
    outcome = _submit(store, ledger, plan)
    if outcome.kind == "done":
        store.log(
            "rotation", outcome="completed", counterpart=plan.did,
            reason=f"root key rotated on the ledger (entries {_indexes(outcome)}); the old kit is void",
        )  # fmt: skip
        return RecoveryKit(plan.did, plan.following.seed)
    store.log("rotation", outcome="failed", counterpart=plan.did, reason=outcome.message)
    raise outcome.exception()


def recover(
    backup_path: Path | str,
    kit_text: str,
    passphrase: str,
    new_wallet_path: Path | str,
    ledger: RegistryClient,
    *,
    params: KdfParams = DEFAULT_PARAMS,
    random: RandomSource = os.urandom,
    clock: Clock = time.time,
) -> Recovered:
    """Take the identity back on a new device from a backup and the recovery kit.

    Checked before any file is made (each refusal leaves no new file): the kit parses
    (:class:`~identity.errors.MalformedInput`, e.g. a mistyped group); the backup opens
    with ``passphrase`` (:class:`~identity.errors.WrongPassphrase`,
    :class:`~identity.errors.CorruptBackup`) and holds an identity; the kit is for that
    DID and its key is the one the DID's *current* state on the ledger commits to — a kit
    of another wallet, an outdated kit or one already used is a :class:`KeyStateError`.
    ``new_wallet_path`` must not exist (``FileExistsError``).

    Then the backup is restored to ``new_wallet_path`` (locked with the same
    passphrase, KDF ``params``), the DID is rotated with the kit's key to a fresh key and
    a fresh next key (module docstring), and, because whoever has the lost device holds
    every other key it had too: every credential slot key (role ``holder``) and pairwise
    key is retired, every active consent is revoked on the ledger with
    ``consent.revoke`` signed by its key, so verifiers stop accepting updates under it,
    and each issuer is asked to revoke every copy bound to a retired key
    (:func:`revoke_at_issuers`), so verifiers stop accepting the copies the lost device
    holds once they read the issuer's new status list. Everything is logged. If the
    ledger refuses the rotation, the new file is removed; if its answer is unclear
    (:class:`~identity.errors.RemoteError`), the file stays, as it holds the only copy of
    the keys the ledger may now name.

    What is dead afterwards: the lost device's root key and the old kit's key (for every
    did.* entry), its consents, and the copies of ``revoked_credentials``. What the person
    must still do (see :class:`Recovered`): keep the new kit; ask the issuers of
    ``untrusted_credentials`` for new copies; retry ``unrevoked_consents`` and
    ``unrevoked_credentials``. Consents and credentials received after the backup was made
    are not in it, so they cannot be revoked from here: their verifiers and issuers must
    be asked directly.
    """
    kit = parse_kit(kit_text)
    target = Path(new_wallet_path)
    if target.exists():
        raise FileExistsError(f"{target} already exists: choose a new file for the recovered wallet")
    with open(backup_path, "rb") as source:  # no more than a backup may be: decode_backup checks
        contents = decode_backup(source.read(MAX_BACKUP_BYTES + 1), passphrase)
    if contents.identity is None:
        raise NotFound("this backup holds no identity: it was made before the wallet was set up")
    did = contents.identity.did
    if kit.did != did:
        raise KeyStateError(
            f"this recovery kit is for another wallet ({kit.did}); the backup is the wallet of {did}"
        )
    resolved = ledger.resolve_did(did)
    _check_continues(contents.identity.events, resolved)
    plan = _plan(resolved.state, [verify_kit(kit, resolved.state)], random)

    store = WalletStore.restore(backup_path, passphrase, target, params=params, random=random, clock=clock)
    try:
        store.log("restore", outcome="completed", counterpart=did, reason="restored on a new device")
        if not any(k.key.public_key == kit.key.public_key for k in store.keys(active_only=False)):
            store.add_key("next", kit.key)  # a backup older than the kit: so that rotate can resume
        _keep_fresh_keys(store, plan)
    except BaseException:  # nothing was sent to the ledger
        _discard(store, target)
        raise
    try:
        outcome = _submit(store, ledger, plan)
    except BaseException:  # the ledger may hold the new keys: the file must stay
        store.close()
        raise
    if outcome.kind == "unchanged":
        _discard(store, target)
        raise outcome.exception()
    if outcome.kind != "done":  # the ledger may hold the new keys: the file must stay
        store.log("recovery", outcome="failed", counterpart=did, reason=outcome.message)
        store.close()
        raise RemoteError(
            f"{outcome.message}. Recovery is not finished: keep {target}, it holds the new keys; "
            "rotate it when the ledger answers, then revoke its consents"
        )
    store.log(
        "recovery", outcome="completed", counterpart=did,
        reason=f"rotated away from the lost device's keys on the ledger (entries {_indexes(outcome)})",
    )  # fmt: skip
    try:
        return _secure(store, ledger, RecoveryKit(did, plan.following.seed), outcome.retired, clock, random)
    except BaseException:
        store.close()
        raise


# --- the rotation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Two signed rotations: reveal the committed key(s), then ``current``."""

    did: str
    envelopes: tuple[Envelope, Envelope]
    current: Ed25519PrivateKey
    following: Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the ledger says after submitting a plan: ``done`` (both entries in),
    ``unchanged`` (neither: refused), ``partial`` (only the first) or ``unknown`` (not in,
    but the ledger did not answer clearly, so they may still go in)."""

    kind: Literal["done", "unchanged", "partial", "unknown"]
    message: str
    error: AkashiError | None
    indexes: tuple[int, ...] = ()
    retired: tuple[str, ...] = ()

    def exception(self) -> AkashiError:
        if self.kind == "unchanged" and self.error is not None:
            return self.error
        return RemoteError(self.message)


def _check_continues(events: Sequence[Mapping[str, Any]], resolved: ResolvedDid) -> None:
    """The ledger's key event log starts with the wallet's (it may have more: a later rotation)."""
    if resolved.state.deactivated:
        raise KeyStateError(f"{resolved.did} is deactivated on the ledger: it cannot be rotated or recovered")
    on_ledger = [e.envelope["body"] for e in resolved.events]
    if not events or list(events) != on_ledger[: len(events)]:
        raise KeyStateError(
            f"the ledger's key events for {resolved.did} do not continue this wallet's: "
            "the wallet's identity is not the one on the ledger"
        )


def _committed_keys(
    store: WalletStore, state: KeyState, given: Sequence[Ed25519PrivateKey] = ()
) -> list[Ed25519PrivateKey]:
    """The keys that ``state`` commits to as next keys: from the kit the person typed
    (``given``), or among the wallet's keys (any role, retired too: a rotation whose answer
    was lost is resumed)."""
    committed = set(state.next_digests)
    found: dict[bytes, Ed25519PrivateKey] = {}
    candidates = [*given, *(k.key for k in store.keys(active_only=False) if k.role in ("root", "next"))]
    for key in candidates:
        if key_digest(key.public_key) in committed:
            found.setdefault(key.public_key.raw, key)
    if len(found) < state.nt:
        raise KeyStateError(
            f"rotating {state.did} needs the recovery kit it committed to (this wallet no longer holds "
            "its key); if you have the kit, give it — otherwise the identity was rotated or recovered "
            "elsewhere and this wallet's keys no longer count"
        )
    return list(found.values())


def forget_recovery_keys(store: WalletStore) -> int:
    """Delete every pre-committed next key from the wallet (how many), once the person has
    the kit that carries it. Until then the wallet keeps it, so that a rotation or a new
    wallet whose kit was never shown (a crash) is not stranded; afterwards a thief with the
    device and the passphrase cannot rotate the identity away — only the kit can."""
    keys = store.keys("next", active_only=False)
    for stored in keys:
        store.forget_key(stored.id)
    return len(keys)


def _plan(state: KeyState, revealed: Sequence[Ed25519PrivateKey], random: RandomSource) -> _Plan:
    """The two rotations, signed and checked here first by the same replay rules the ledger runs."""
    current, following = Ed25519PrivateKey.generate(random), Ed25519PrivateKey.generate(random)
    reveal = [k.public_key for k in revealed]
    first = sign_event(rotation_event(state, reveal, [current.public_key]), revealed)
    middle = apply_event(state, first)
    second = sign_event(rotation_event(middle, [current.public_key], [following.public_key]), [current])
    apply_event(middle, second)
    did = state.did
    envelopes = (
        sign_envelope("did.rotate", first, f"{did}#{encode_multikey(revealed[0].public_key)}", revealed[0]),
        sign_envelope("did.rotate", second, f"{did}#{encode_multikey(current.public_key)}", current),
    )
    return _Plan(did, envelopes, current, following)


def _keep_fresh_keys(store: WalletStore, plan: _Plan) -> None:
    """Write the plan's keys to the wallet before anything is sent (module docstring)."""
    store.add_key("root", plan.current)
    store.add_key("next", plan.following)


def _submit(store: WalletStore, ledger: RegistryClient, plan: _Plan) -> _Outcome:
    """Submit both rotations, read the DID back and settle the wallet on what it says."""
    first, second = (dict(e["body"]) for e in plan.envelopes)
    error: AkashiError | None = None
    indexes: tuple[int, ...] = ()
    try:
        answers = ledger.submit_batch(plan.envelopes)
        error = next((a for a in answers if isinstance(a, AkashiError)), None)
        indexes = tuple(a.index for a in answers if not isinstance(a, AkashiError))
        resolved = ledger.resolve_did(plan.did)
        if _landed(resolved, first) and not _landed(resolved, second):
            ledger.submit(plan.envelopes[1])  # only the first went in: once more for the second
            resolved = ledger.resolve_did(plan.did)
    except AkashiError as exc:
        error = error or exc
        try:
            resolved = ledger.resolve_did(plan.did)
        except AkashiError:
            unknown = "the ledger could not confirm the rotation: run rotate again once it answers"
            return _Outcome("unknown", unknown, error)
    retired = _settle(store, resolved)
    if _landed(resolved, second):
        return _Outcome("done", "rotated", None, indexes, retired)
    if not _landed(resolved, first):
        if error is None or isinstance(error, (RemoteError, ProofMismatch)):  # it may still go in
            unsure = "the ledger did not confirm the rotation: run rotate again once it answers"
            return _Outcome("unknown", unsure, error, retired=retired)
        return _Outcome(
            "unchanged", f"the ledger refused the rotation: {error.message}", error, retired=retired
        )
    return _Outcome(
        "partial", "the ledger took only the first of the two rotations: run rotate again to finish", error
    )


def _landed(resolved: ResolvedDid, event: Mapping[str, Any]) -> bool:
    """Whether the signed key event is in the DID's proven key event log."""
    return any(e.envelope["body"] == event for e in resolved.events)


def _settle(store: WalletStore, resolved: ResolvedDid) -> tuple[str, ...]:
    """Make the wallet agree with the ledger: its key events, and only the root and next
    keys the ledger's state names left active. Returns the ids of the keys retired."""
    state = resolved.state
    current = {encode_multikey(k) for k in state.keys}
    committed = set(state.next_digests)
    retired = []
    for stored in store.keys("root"):
        if encode_multikey(stored.key.public_key) not in current:
            retired.append(store.retire_key(stored.id).id)
    for stored in store.keys("next"):
        if key_digest(stored.key.public_key) not in committed:
            retired.append(store.retire_key(stored.id).id)
    store.set_identity(state.did, [dict(e.envelope["body"]) for e in resolved.events])
    return tuple(retired)


def _indexes(outcome: _Outcome) -> str:
    return ", ".join(f"#{i}" for i in outcome.indexes) or "already there"


def _discard(store: WalletStore, path: Path) -> None:
    store.close()
    path.unlink(missing_ok=True)


# --- after the rotation: what the lost device still holds -----------------------------------


def _secure(
    store: WalletStore,
    ledger: RegistryClient,
    kit: RecoveryKit,
    rotated_out: tuple[str, ...],
    clock: Clock,
    random: RandomSource,
) -> Recovered:
    """Retire the lost device's other keys, revoke its consents, name the credentials to replace."""
    retired = list(rotated_out)
    for role in ("holder", "pairwise"):
        for stored in store.keys(role):
            retired.append(store.retire_key(stored.id).id)
    slots = len(retired) - len(rotated_out)
    if slots:
        reason = f"retired {slots} credential and pairwise keys that the lost device holds"
        store.log("recovery", outcome="completed", reason=reason)
    revoked: list[str] = []
    failed: list[tuple[str, str]] = []
    engine = Wallet(store, ledger, clock=clock, random=random)
    try:
        for consent in store.consents(status="active"):
            try:
                on_ledger = ledger.consent(consent.digest).record
                if on_ledger.revoked_at is not None:
                    store.revoke_consent(consent.id, at=on_ledger.revoked_at)
                    store.log(
                        "revocation", outcome="completed", counterpart=consent.verifier,
                        claims=consent.claims, reason="found already revoked on the ledger during recovery",
                    )  # fmt: skip
                else:
                    engine.revoke(consent.id)
                revoked.append(consent.id)
            except AkashiError as error:
                failed.append((consent.id, error.message))
                store.log(
                    "revocation", outcome="failed", counterpart=consent.verifier, claims=consent.claims,
                    reason=f"could not be revoked during recovery: {error.message}",
                )  # fmt: skip
        dead = set(retired)
        untrusted = [
            c
            for c in store.credentials()
            if c.copies and all(copy.holder_key_id in dead for copy in c.copies)
        ]
        ended, kept = revoke_at_issuers(engine, [c.id for c in untrusted])
    finally:
        engine.close()
    not_ended = {credential_id for credential_id, _ in kept}
    for issuer in sorted({c.issuer for c in untrusted}):
        theirs = [c for c in untrusted if c.issuer == issuer]
        open_ones = sum(1 for c in theirs if c.id in not_ended)
        state = (
            f"{open_ones} of {len(theirs)} not revoked at the issuer: ask the issuer to revoke them"
            if open_ones
            else "revoked at the issuer"
        )
        reason = f"copies bound to the lost device's keys, {state}; ask the issuer to issue new ones"
        store.log("recovery", outcome="completed", counterpart=issuer, reason=reason)
    return Recovered(
        store,
        kit,
        tuple(retired),
        tuple(revoked),
        tuple(failed),
        tuple(c.id for c in untrusted),
        ended,
        kept,
    )


# --- ending the lost device's copies at their issuers ---------------------------------------


def revoke_at_issuers(
    wallet: Wallet, credential_ids: Iterable[str]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Ask the issuer of each credential to revoke every copy of it; ``(revoked, not revoked)``:
    the ids of the credentials whose every copy the issuer says is revoked (now, or before),
    and (id, reason) of the others. Each outcome is logged.

    Each copy is one ``POST <issuer>/credentials/revoke`` with a ``holder-revocation+jwt``
    signed by the key the copy is bound to — retired or not, the wallet keeps it. The
    issuer is the credential issuer identifier the credential was received from; for a
    credential stored before the wallet kept it, the issuer-signed ``vct``
    (``<issuer>/vct/<name>``, where akashi issuers serve its type metadata) names it. A copy
    the issuer refused or did not answer for stays in the reason; asking again is safe (an
    issuer answers a copy revoked before with its state).
    """
    revoked: list[str] = []
    failed: list[tuple[str, str]] = []
    for credential_id in credential_ids:
        credential = wallet.store.credential(credential_id)
        reasons: list[str] = []
        try:
            url = _issuer_url(credential)
        except AkashiError as error:
            reasons.append(error.message)
        else:
            for copy in credential.copies:
                try:
                    _revoke_copy(wallet, url, copy)
                except AkashiError as error:
                    reasons.append(error.message)
        subject = f"credential {credential.id} ({credential.vct})"
        if not reasons:
            revoked.append(credential.id)
            wallet.store.log(
                "revocation", outcome="completed", counterpart=credential.issuer,
                reason=f"{subject}: the issuer revoked its {len(credential.copies)} copies",
            )  # fmt: skip
            continue
        unique = "; ".join(dict.fromkeys(reasons))
        reason = f"{len(reasons)} of {len(credential.copies)} copies not revoked: {unique}"
        failed.append((credential.id, reason))
        wallet.store.log(
            "revocation", outcome="failed", counterpart=credential.issuer, reason=f"{subject}: {reason}"
        )
    return tuple(revoked), tuple(failed)


def _issuer_url(credential: StoredCredential) -> str:
    """The credential issuer identifier to ask (:func:`revoke_at_issuers`)."""
    if credential.issuer_url is not None:
        return credential.issuer_url
    base, separator, name = credential.vct.rpartition("/vct/")
    if not separator or not name or "/" in name or not base.startswith(("https://", "http://")):
        raise MalformedInput(
            "the wallet does not know where this credential's issuer takes revocations: ask the issuer"
        )
    return base


def _revoke_copy(wallet: Wallet, issuer_url: str, copy: CredentialCopy) -> None:
    """One copy: the signed request, and the issuer's answer that it is revoked."""
    request = new_holder_revocation(
        copy.digest, audience=issuer_url, iat=int(wallet.clock()), random=wallet.random
    )
    token = sign_holder_revocation(request, wallet.store.key(copy.holder_key_id))
    endpoint = issuer_url + REVOCATION_PATH
    try:
        answer = wallet.http.post(endpoint, content=token, headers={"content-type": "application/jwt"})
    except httpx.HTTPError as error:
        raise RemoteError(f"{endpoint} could not be reached: {error}") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        shown = detail if isinstance(detail, str) else answer.text[:200]
        raise RemoteError(f"the issuer refused to revoke a copy ({answer.status_code}): {shown}")
    if not isinstance(body, dict) or body.get("credential") != copy.digest or body.get("status") != "invalid":
        raise RemoteError("the issuer's answer does not say the copy is revoked")
