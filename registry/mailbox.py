"""The electronic mailbox of a node (ARCHITECTURE.md, "Customer-data updates"): it keeps
sealed customer-data updates, ciphertext only, addressed to the recipient DID of their
``mailbox.notice``, until the recipient acknowledges them on the ledger.

Posting (``POST /mailbox/messages``, :meth:`Mailbox.post`), in order:

1. The body is ``{"notice": <signed mailbox.notice envelope>, "ciphertext": <base64url>}``
   (``specs/mailbox-post-request.schema.json``), within the body limit; the ciphertext
   is 1 to ``mailbox_max_ciphertext`` bytes.
2. SHA-256 of the ciphertext is the notice's ``ciphertext_digest`` (:class:`ProofMismatch`).
3. The notice goes through the node's append pipeline like any entry, so the ledger
   rules decide (no consent, revoked, expired, not allowing updates, wrong recipient:
   :class:`RejectedByRules` with the rule's id); the ciphertext is stored in the very
   transaction that appends the notice. A refused notice leaves nothing behind. A notice
   whose ``purpose`` is ``appi-request`` (a stop or erasure request, APPI Art. 35) is
   accepted under a revoked, expired or no-updates consent, and its ciphertext kept.
4. A notice already on the ledger (posted twice, or first through ``/entries``) is
   idempotent: its ciphertext is stored if it is not yet, unless the notice was
   acknowledged, its consent revoked (except for an ``appi-request`` notice), or its
   retention passed (checked in the storing transaction). ``held`` in the answer says
   whether the mailbox holds it now.

A batch (``{"messages": [...]}``, up to :data:`MAX_BATCH`, :meth:`Mailbox.post_batch`) —
one holder's update fanned out to many operators — goes through the same rules message by
message, with every notice appended in one transaction: one outcome each, a refusal of one
not affecting the others.

Fetching (``GET /mailbox/messages``, :meth:`Mailbox.fetch`) is for the recipient alone,
authenticated by an RFC 9421 signature (:mod:`registry.mailbox_auth`); it pages through
the recipient's messages by an opaque cursor, so a recipient that passes back the cursor
it was given receives each message once, however long it was away. The first time a
message is served, the node notes the time on its clock as the message's ``delivered_at``
(a later fetch of the same message leaves it); ``GET /notices/{digest}`` shows it to the
sender beside the notice's proven state. That is the node's word: it says the node handed
the message out, not that the recipient received or read it; only the ``mailbox.ack`` on
the ledger proves that the recipient dealt with it.

Deleting: the ciphertext goes in the transaction that appends the notice's
``mailbox.ack`` (sent through ``/entries``: the ack is a ledger entry signed by the
recipient's key, which is all the authentication it needs) or the revocation of its
consent (revoking stops delivery at once of what is pending then; an APPI request sent
after the revocation is kept until acknowledged), or ``mailbox_retention`` seconds after the
notice's ``sent_at`` (purged on posts and fetches, and never served past it).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput, ProofMismatch
from identity.ledger.envelope import entry_digest
from identity.schemas import validate
from registry.mailbox_auth import MailboxAuth, authenticate
from registry.mailbox_store import MailboxRow, StoredMessage
from registry.node import Accepted, Node
from registry.state import get_consent, get_notice

__all__ = ["BATCH_SCHEMA", "MAX_BATCH", "REQUEST_SCHEMA", "Mailbox", "Page", "Posted"]

REQUEST_SCHEMA = "mailbox-post-request"
BATCH_SCHEMA = "mailbox-post-batch-request"
#: Most messages one batch post holds (a fan-out to more operators takes several posts).
MAX_BATCH = 100
#: Purges run at most this often (seconds of the node's clock); expired messages are never served.
PURGE_INTERVAL = 60

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Posted:
    """A posted update: its notice's place in the log, and whether the ciphertext is held."""

    id: str
    recipient: str
    accepted: Accepted
    held: bool

    def to_json(self) -> dict[str, Any]:
        """The answer to the post."""
        return {
            "id": self.id,
            "index": self.accepted.index,
            "leaf_hash": b64url_encode(self.accepted.leaf_hash),
            "tree_size": self.accepted.size,
            "duplicate": self.accepted.duplicate,
            "held": self.held,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """Messages for one recipient past a cursor, and the cursor to pass next time."""

    messages: list[StoredMessage]
    cursor: int

    def to_json(self) -> dict[str, Any]:
        """The answer to a fetch."""
        return {
            "messages": [
                {
                    "id": m.notice,
                    "notice_index": m.notice_index,
                    "ciphertext": b64url_encode(m.ciphertext),
                    "sent_at": m.sent_at,
                }
                for m in self.messages
            ],
            "cursor": str(self.cursor),
        }


class Mailbox:
    """The mailbox of ``node``, kept in the node's SQLite file; ``clock`` defaults to the node's."""

    def __init__(self, node: Node, *, clock: Clock | None = None) -> None:
        self.node = node
        self.config = node.config
        self.store = node.storage.mailbox
        self._clock = clock
        self._last_purge: int | None = None
        self.auth = MailboxAuth(self.config.mailbox_signature_max_age, self.config.mailbox_signature_skew)

    def now(self) -> int:
        """The node's time, in whole seconds."""
        return int(self._clock() if self._clock is not None else self.node.clock())

    @property
    def body_limit(self) -> int:
        """The largest post body: the base64url ciphertext and an entry, with room for JSON."""
        return -(-self.config.mailbox_max_ciphertext * 4 // 3) + self.config.max_entry_bytes + 1024

    @property
    def batch_body_limit(self) -> int:
        """The largest batch post body: one message at most, or the node's body limit."""
        return max(self.body_limit, self.config.max_body_bytes)

    # ------------------------------------------------------------------ posting

    def receive(self, body: bytes) -> Posted | list[Posted | AkashiError]:
        """A post body: one message (:meth:`post`) or a batch (:meth:`post_batch`)."""
        document = loads_object(body, what="request body")  # 1
        if set(document) == {"messages"}:
            return self.post_batch(document)
        return self.post(document)

    def post(self, body: bytes | Mapping[str, Any]) -> Posted:
        """Rules 1-4 of the module docstring for one post body."""
        document = loads_object(body, what="request body") if isinstance(body, bytes) else body  # 1
        validate(document, REQUEST_SCHEMA)
        notice, ciphertext = self._checked_message(document)
        self.purge_due()
        (outcome,) = self.node.submit([notice], ciphertexts=[ciphertext])  # 3
        if isinstance(outcome, AkashiError):
            raise outcome
        return self._posted(notice, ciphertext, outcome)

    def post_batch(self, body: bytes | Mapping[str, Any]) -> list[Posted | AkashiError]:
        """Rules 1-4 for each message of a batch body (``{"messages": [...]}``, at most
        :data:`MAX_BATCH` of them): one append of every notice, in one transaction, each still
        judged by the rules on its own; one outcome per message, in order. A message whose
        ciphertext is too large or does not hash to its notice's digest is refused alone."""
        document = loads_object(body, what="request body") if isinstance(body, bytes) else body  # 1
        validate(document, BATCH_SCHEMA)
        outcomes: list[Posted | AkashiError | None] = []
        notices: list[dict[str, Any]] = []
        ciphertexts: list[bytes] = []
        for message in document["messages"]:
            try:
                notice, ciphertext = self._checked_message(message)
            except AkashiError as error:
                outcomes.append(error)
                continue
            outcomes.append(None)
            notices.append(notice)
            ciphertexts.append(ciphertext)
        self.purge_due()
        submitted = self.node.submit(notices, ciphertexts=ciphertexts) if notices else []  # 3
        appended = iter(zip(notices, ciphertexts, submitted, strict=True))
        results: list[Posted | AkashiError] = []
        for outcome in outcomes:
            if outcome is not None:
                results.append(outcome)
                continue
            notice, ciphertext, accepted = next(appended)
            if isinstance(accepted, AkashiError):
                results.append(accepted)
            else:
                results.append(self._posted(notice, ciphertext, accepted))
        return results

    def _checked_message(self, message: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Rules 1-2 for one schema-valid message: its notice and ciphertext."""
        notice: dict[str, Any] = message["notice"]
        ciphertext = b64url_decode(message["ciphertext"], what="ciphertext")
        if not 0 < len(ciphertext) <= self.config.mailbox_max_ciphertext:
            raise MalformedInput(f"a ciphertext is 1 to {self.config.mailbox_max_ciphertext} bytes")
        expected = notice["body"]["ciphertext_digest"]
        if not hmac.compare_digest(b64url_encode(sha256(ciphertext)), expected):  # 2
            raise ProofMismatch("the ciphertext does not hash to the notice's ciphertext_digest")
        return notice, ciphertext

    def _posted(self, notice: dict[str, Any], ciphertext: bytes, outcome: Accepted) -> Posted:
        """Rule 4 for an accepted notice: a new one's ciphertext is stored with it; a duplicate's
        is stored now if it may still be delivered."""
        key, fields = b64url_encode(entry_digest(notice)), notice["body"]
        if not outcome.duplicate:
            return Posted(key, fields["recipient"], outcome, held=True)
        recipient, consent = fields["recipient"], fields["consent"]
        row = MailboxRow(key, recipient, consent, outcome.index, fields["sent_at"], ciphertext)
        appi_request = fields.get("purpose", "update") == "appi-request"
        held = self.store.attach(row, self._still_deliverable(row, appi_request=appi_request))  # 4
        return Posted(key, recipient, outcome, held)

    def _still_deliverable(
        self, row: MailboxRow, *, appi_request: bool = False
    ) -> Callable[[Callable[[str, str], Any]], bool]:
        """Rule 4's check, given the state inside the storing transaction (an APPI request
        is delivered under a revoked consent too, as the rules accepted it)."""
        oldest = self.now() - self.config.mailbox_retention

        def check(read: Callable[[str, str], Any]) -> bool:
            view = _View(read)
            notice, consent = get_notice(view, row.notice), get_consent(view, row.consent)
            return (
                notice is not None
                and notice.ack_status is None
                and consent is not None
                and (appi_request or consent.revoked_at is None)
                and row.sent_at > oldest
            )

        return check

    # ------------------------------------------------------------------ fetching

    def authenticate(self, *, method: str, target_uri: str, headers: Mapping[str, str], body: bytes) -> str:
        """The recipient DID that signed this request (:mod:`registry.mailbox_auth`)."""
        return authenticate(
            method=method,
            target_uri=target_uri,
            headers=headers,
            body=body,
            view=_View(self.node.storage.get_state),
            store=self.store,
            now=self.now(),
            limits=self.auth,
        )

    def fetch(self, recipient: str, after: int) -> Page:
        """``recipient``'s messages past cursor ``after`` (a page of them), each marked
        delivered now unless it was before."""
        self.purge_due()
        now = self.now()
        messages = self.store.page(
            recipient,
            after=after,
            sent_after=now - self.config.mailbox_retention,
            limit=self.config.mailbox_page,
            max_bytes=self.config.max_body_bytes,
        )
        if messages:  # an empty page (most long-poll rounds) writes nothing
            self.store.mark_delivered([m.notice for m in messages], now)
        return Page(messages, messages[-1].seq if messages else after)

    # ------------------------------------------------------------------ retention

    def purge(self) -> int:
        """Delete every ciphertext past its retention; how many were deleted."""
        now = self.now()
        self._last_purge = now
        return self.store.purge(now - self.config.mailbox_retention)

    def purge_due(self) -> None:
        """:meth:`purge`, if the last one is more than a minute old (or clocks went back)."""
        now = self.now()
        last = self._last_purge
        if last is None or not last <= now < last + PURGE_INTERVAL:
            self.purge()


class _View:
    """A rules-style state view over a ``(kind, key) -> record`` reader."""

    def __init__(self, read: Callable[[str, str], Any]) -> None:
        self._read = read

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record, or None."""
        value: dict[str, Any] | None = self._read(kind, key)
        return value
