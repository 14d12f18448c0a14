"""The verifier's mailbox inbox (issue 7, "Receiving"): customer-data updates, exactly once.

:func:`receive_updates` fetches the messages addressed to the verifier's DID after the
cursor stored in its database (``mailbox_cursor``), and for each message, in order:

1. The message was seen before (a row of ``mailbox_inbox``): nothing is applied again;
   only its ``mailbox.ack``, if not yet on the ledger, is posted again.
2. The consent its proven ``mailbox.notice`` travels under is on the ledger
   (``consent-unknown``) and was given to this verifier (``consent-other-verifier``).
3. The sealed update opens with the verifier's X25519 key and verifies under the consent's
   holder key (its pairwise did:key), for this verifier, under that consent, and hashes to
   the notice's ``ciphertext_digest`` (:func:`identity.credentials.updates.open_update`):
   ``consent-mismatch``, ``stale-update`` or ``verification-failed`` otherwise — a message
   that cannot even be opened (not for us, tampered) is rejected too.
4. A notice whose ``purpose`` is ``appi-request`` (APPI Art. 35) carries a ``stop`` or
   ``erasure`` request and nothing else (``not-an-appi-request``); it is accepted under any
   consent of the customer to this verifier, active, expired or revoked (the ledger allows
   it: the right to ask for erasure outlives the consent), so rules 5 and 6 do not apply to it.
5. Otherwise (an ``update`` notice) the consent is active now: not revoked, not expired
   (``consent-inactive``).
6. An ``address`` or ``name`` update needs a consent that allows updates
   (``updates-not-allowed``); a ``stop`` or ``erasure`` request is accepted under any active
   consent of the customer.
7. The customer (the consent's holder) has a verification on record (``not-a-customer``).
8. An update carrying an issuer's attestation (an address re-checked by an identity
   provider) is applied only if the attestation holds, as a presentation would
   (:func:`verifier.pipeline.verify_presentation`: the issuer's signature with its key on
   the ledger, an accredited issuer, the anchor, the status list, a key-binding JWT to this
   verifier for this update's id) — else ``attestation-invalid``; if it is a KYC credential
   of an issuer this verifier trusts, bound to the consent's holder key
   (``attestation-other-holder``), attesting exactly the update's value
   (``attestation-mismatch``). The APPI receipt record names the issuer, the credential's
   digest and the evidence methods.

Then, in one SQLite transaction, the decision is recorded in ``mailbox_inbox`` (whose primary
key, the message id, is what makes the processing exactly once, across restarts and
between processes) and, for an applied update, the customer's record is updated
(:meth:`verifier.records.CustomerStore.prepare_update`: the update row, a stop/erasure
restriction over the stored disclosures, the APPI receipt record). Only then is the signed
``mailbox.ack`` (``applied``, or ``rejected`` with the reason code) posted; once it is on the
ledger, the node deletes the ciphertext. An ack that could not be posted (the registry was
unreachable) stays pending in ``mailbox_inbox`` and is posted again by the next call, with
the same ``acked_at`` (so the same signed entry: a duplicate is harmless). The cursor is
stored after each page, once every message of it has its decision recorded.

For an opened update the verifier also signs an ``update-ack+jwt``
(:func:`identity.credentials.updates.sign_update_ack`), kept in ``mailbox_inbox.ack_token``
for the holder (an erasure or stop request is answered by it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from identity.credentials.updates import CustomerUpdate, UpdateAck, open_update, sign_update_ack
from identity.did.did_key import did_key_from_public_key, public_key_from_did_key
from identity.errors import AkashiError, ConsentError, MalformedInput, NotFound, RejectedByRules, TimeError
from registry.client import Consent, MailboxMessage, mailbox_ack_entry
from verifier.database import Database
from verifier.export import AnchorProof
from verifier.pipeline import VerifiedCredential, verify_presentation
from verifier.records import prove_anchor
from verifier.service import Verifier

__all__ = ["InboxResult", "InboxStore", "receive_updates"]

#: At most this many pages are fetched by one call (a page is the node's ``mailbox_page``).
MAX_PAGES = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mailbox_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox_inbox (
    message TEXT PRIMARY KEY, notice_index INTEGER NOT NULL, consent TEXT NOT NULL,
    customer TEXT, update_id TEXT, kind TEXT, status TEXT NOT NULL, reason TEXT,
    processed_at INTEGER NOT NULL, ack_token TEXT, ack_index INTEGER, acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS mailbox_inbox_pending ON mailbox_inbox (acked);
"""


@dataclass(frozen=True, slots=True)
class InboxResult:
    """What the verifier did with one mailbox message."""

    message: str  # the message id: its mailbox.notice's digest
    notice_index: int
    consent: str
    status: str  # "applied" | "rejected"
    reason: str | None
    customer: str | None
    kind: str | None
    update_id: str | None
    acked: bool  # the mailbox.ack is on the ledger (the node deleted the ciphertext)
    ack_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``akashi-verifier inbox --json`` form."""
        return {
            "message": self.message, "notice_index": self.notice_index, "consent": self.consent,
            "status": self.status, "reason": self.reason, "customer": self.customer, "kind": self.kind,
            "update_id": self.update_id, "acked": self.acked, "ack_index": self.ack_index,
        }  # fmt: skip


class InboxStore:
    """The inbox's tables in the verifier's database: the cursor and one row per message."""

    def __init__(self, database: Database) -> None:
        self.database = database
        database.connection().executescript(_SCHEMA)

    def cursor(self) -> str | None:
        """The cursor to fetch after (None before the first fetch)."""
        row = self.database.connection().execute("SELECT cursor FROM mailbox_cursor").fetchone()
        return None if row is None else str(row[0])

    def save_cursor(self, cursor: str) -> None:
        """Remember ``cursor`` (never going back)."""
        with self.database.writes.transaction() as conn:
            row = conn.execute("SELECT cursor FROM mailbox_cursor").fetchone()
            if row is None or int(row[0]) < int(cursor):
                conn.execute("INSERT OR REPLACE INTO mailbox_cursor VALUES (1, ?)", (cursor,))

    def seen(self, message: str) -> bool:
        """Whether ``message`` has its decision recorded."""
        query = "SELECT 1 FROM mailbox_inbox WHERE message = ?"
        return self.database.connection().execute(query, (message,)).fetchone() is not None

    def record(
        self,
        result: InboxResult,
        processed_at: int,
        ack_token: str | None,
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> bool:
        """Record the decision on one message and run ``then(conn)`` (the customer-record rows)
        in the same transaction; False (and nothing written) when it was recorded already."""
        with self.database.writes.transaction() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO mailbox_inbox (message, notice_index, consent, customer, update_id,"
                " kind, status, reason, processed_at, ack_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.message, result.notice_index, result.consent, result.customer, result.update_id,
                 result.kind, result.status, result.reason, processed_at, ack_token),
            ).rowcount  # fmt: skip
            if inserted and then is not None:
                then(conn)
        return bool(inserted)

    def pending_acks(self) -> list[tuple[str, str, str | None, int]]:
        """``(message, status, reason, processed_at)`` of the decisions whose ack is not on the ledger."""
        rows = self.database.connection().execute(
            "SELECT message, status, reason, processed_at FROM mailbox_inbox WHERE acked = 0 ORDER BY rowid"
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def mark_acked(self, message: str, index: int | None) -> None:
        """The ack of ``message`` is on the ledger (at ``index``, when this call put it there)."""
        with self.database.writes.transaction() as conn:
            update = "UPDATE mailbox_inbox SET acked = 1, ack_index = ? WHERE message = ?"
            conn.execute(update, (index, message))

    def rows(self) -> list[dict[str, Any]]:
        """Every message's decision, in the order processed."""
        cursor = self.database.connection().execute(
            "SELECT message, notice_index, consent, customer, update_id, kind, status, reason, processed_at,"
            " ack_token, ack_index, acked FROM mailbox_inbox ORDER BY rowid"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def receive_updates(verifier: Verifier, *, wait: int = 0) -> list[InboxResult]:
    """Fetch, check, apply and acknowledge the verifier's new mailbox messages (module
    docstring); return what was decided for each message seen for the first time. ``wait``:
    seconds the first fetch may wait for a message when there is none."""
    inbox = InboxStore(verifier.database)
    identity = verifier.identity
    _post_pending_acks(verifier, inbox)
    results: list[InboxResult] = []
    after = inbox.cursor()
    for page in range(MAX_PAGES):
        messages, cursor = verifier.ledger.fetch_messages(
            identity.signing_key, identity.kid, after=after, wait=wait if page == 0 else 0
        )
        for message in messages:
            if inbox.seen(message.id):
                continue  # 1: decided before (its ack, if pending, was posted above)
            result = _process(verifier, inbox, message)
            if result is not None:
                results.append(result)
        inbox.save_cursor(cursor)
        if not messages or cursor == after:
            break
        after = cursor
    return results


def _process(verifier: Verifier, inbox: InboxStore, message: MailboxMessage) -> InboxResult | None:
    """Decide on one new message, record it (with its customer rows) and post its ack; None
    when another process recorded it first."""
    now = int(verifier.clock())
    if message.notice is None:
        raise MalformedInput("the inbox takes messages checked against their proven notice")
    body = message.notice.envelope["body"]
    consent_digest: str = body["consent"]
    appi_request = body.get("purpose", "update") == "appi-request"
    decision = _decide(verifier, message, consent_digest, body["ciphertext_digest"], now, appi_request)
    update, consent, reason = decision
    attested = None
    if reason is None and update is not None and update.attestation is not None and consent is not None:
        attested, reason = _check_attestation(verifier, update, consent, now)  # 8
    status = "rejected" if reason is not None else "applied"
    result = InboxResult(
        message=message.id,
        notice_index=message.notice_index,
        consent=consent_digest,
        status=status,
        reason=reason,
        customer=consent.holder if consent is not None else None,
        kind=None if update is None else update.kind,
        update_id=None if update is None else update.update_id,
        acked=False,
    )
    acked_at = max(now, message.sent_at)  # the ledger refuses an ack before the notice
    ack_token = None
    if update is not None:
        ack = UpdateAck(
            update.update_id, body["ciphertext_digest"], "applied" if reason is None else "rejected",
            verifier.identity.did, update.holder, acked_at, reason,
        )  # fmt: skip
        ack_token = sign_update_ack(ack, verifier.identity.signing_key)
    then: Callable[[sqlite3.Connection], None] | None = None
    if reason is None and update is not None and consent is not None:
        then = verifier.customers.prepare_update(
            update, message=message.id, received_at=now, consent=consent,
            notice_proof=_notice_proof(verifier, message), attested=attested,
        ).insert  # fmt: skip
    if not inbox.record(result, acked_at, ack_token, then):
        return None
    acked, index = _post_ack(verifier, inbox, message.id, status, reason, acked_at)
    return replace(result, acked=acked, ack_index=index)


def _decide(
    verifier: Verifier,
    message: MailboxMessage,
    consent_digest: str,
    ciphertext_digest: str,
    now: int,
    appi_request: bool = False,
) -> tuple[CustomerUpdate | None, Consent | None, str | None]:
    """Rules 2-7: the opened update (when it opened), the consent, and a reason to reject."""
    try:
        consent = verifier.ledger.consent(consent_digest).record
    except NotFound:
        return None, None, "consent-unknown"  # 2
    if consent.verifier != verifier.identity.did:
        return None, consent, "consent-other-verifier"
    try:  # 3
        update = open_update(
            message.ciphertext,
            verifier.identity.agreement_key,
            public_key_from_did_key(consent.holder),
            recipient=verifier.identity.did,
            now=now,
            expected_digest=ciphertext_digest,
            consent_digest=consent_digest,
        )
    except ConsentError:
        return None, consent, "consent-mismatch"
    except TimeError:
        return None, consent, "stale-update"
    except AkashiError:
        return None, consent, "verification-failed"
    if appi_request:  # 4
        if update.kind not in ("erasure", "stop"):
            return update, consent, "not-an-appi-request"
    elif not consent.active_at(now):  # 5
        return update, consent, "consent-inactive"
    elif update.kind in ("address", "name") and not consent.updates_allowed:  # 6
        return update, consent, "updates-not-allowed"
    if not verifier.customers.knows_customer(consent.holder):  # 7
        return update, consent, "not-a-customer"
    return update, consent, None


def _check_attestation(
    verifier: Verifier, update: CustomerUpdate, consent: Consent, now: int
) -> tuple[VerifiedCredential | None, str | None]:
    """Rule 8: the verified attestation, or the reason to reject the update."""
    try:
        attested = verify_presentation(
            str(update.attestation), ledger=verifier.ledger, fetch_status_list=verifier.fetch_status_list,
            nonce=update.update_id, audience=verifier.identity.did, now=now,
            kb_max_age=verifier.config.kb_max_age, cache=verifier.cache,
        )  # fmt: skip
    except AkashiError:
        return None, "attestation-invalid"
    if attested.result.claims.get("vct") not in verifier.vct_values.kyc:
        return None, "attestation-mismatch"
    holder = attested.result.holder_key
    if holder is None or did_key_from_public_key(holder) != consent.holder:
        return None, "attestation-other-holder"
    address = attested.result.claims.get("verified_claims", {}).get("claims", {}).get("address")
    if update.kind != "address" or address != update.value:
        return None, "attestation-mismatch"
    return attested, None


def _notice_proof(verifier: Verifier, message: MailboxMessage) -> AnchorProof | None:
    """The notice's ledger proof for the APPI receipt record (None if the ledger could not
    give one now: the update is still applied, the notice stays on the ledger)."""
    try:
        return prove_anchor(verifier.ledger, message.notice_index)
    except AkashiError:
        return None


def _post_ack(
    verifier: Verifier, inbox: InboxStore, message: str, status: str, reason: str | None, acked_at: int
) -> tuple[bool, int | None]:
    """Post the signed ``mailbox.ack``: whether it is on the ledger now (else it stays pending)
    and its index when this call put it there."""
    identity = verifier.identity
    entry = mailbox_ack_entry(
        notice=message, status=status, acked_at=acked_at, key=identity.signing_key, keyid=identity.kid,
        reason=reason,
    )  # fmt: skip
    try:
        index: int | None = verifier.ledger.ack_message(entry).index
    except RejectedByRules as error:
        if error.rule != "mailbox.already-acked":
            return False, None
        index = None
    except AkashiError:  # the registry unreachable, or refusing for now: posted again next call
        return False, None
    inbox.mark_acked(message, index)
    return True, index


def _post_pending_acks(verifier: Verifier, inbox: InboxStore) -> None:
    """Post again the acks a previous call decided but could not put on the ledger."""
    for message, status, reason, acked_at in inbox.pending_acks():
        _post_ack(verifier, inbox, message, status, reason, acked_at)

