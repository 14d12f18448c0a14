"""The client's side of the mailbox: what :class:`registry.client.RegistryClient` sends and
checks for ``send_update``, ``fetch_messages`` and ``ack_message``.

A fetched message is trusted only as far as the ledger vouches for it (the node is
not trusted, ``registry/client.py`` rules 1-4), in order:

1. The answer satisfies ``specs/mailbox-messages.schema.json``; its cursor does not go
   back.
2. Each message's notice is the entry at ``notice_index``, included in a trusted
   checkpoint, and is a ``mailbox.notice``.
3. The message id is that notice's digest, the notice is addressed to the fetching
   DID, its ``sent_at`` is the message's, and SHA-256 of the ciphertext is its
   ``ciphertext_digest`` (so the node can neither forge nor swap a ciphertext).

Opening the ciphertext and checking the holder's signature and consent is the
recipient's (:func:`identity.credentials.updates.open_update`).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.errors import MalformedInput, ProofMismatch
from identity.http.content_digest import content_digest
from identity.http.message_signatures import format_http_date, sign_request
from identity.ledger.envelope import Envelope, entry_digest, sign_envelope
from registry.mailbox_auth import COVERED, MAILBOX_TAG

__all__ = [
    "MailboxMessage",
    "MailboxReceipt",
    "check_message",
    "mailbox_ack_entry",
    "parse_cursor",
    "signed_fetch_headers",
]


@dataclass(frozen=True, slots=True)
class MailboxMessage:
    """A sealed update fetched from the mailbox, with its proven notice (``notice`` is
    ``registry.client.ProvenEntry``; None only when fetched with ``verify=False``)."""

    id: str
    notice_index: int
    ciphertext: bytes
    sent_at: int
    notice: Any = None

    @property
    def consent(self) -> str | None:
        """The digest of the consent the notice travels under (from the proven notice)."""
        if self.notice is None:
            return None
        consent: str = self.notice.envelope["body"]["consent"]
        return consent


@dataclass(frozen=True, slots=True)
class MailboxReceipt:
    """A posted update: the message id, whether the node holds its ciphertext, and the
    notice's ledger receipt (``registry.client.Receipt``)."""

    id: str
    held: bool
    receipt: Any


def signed_fetch_headers(
    *, target_uri: str, key: Ed25519PrivateKey, keyid: str, now: int, random: RandomSource = os.urandom
) -> dict[str, str]:
    """``Date``, ``Content-Digest`` (of the empty body) and the RFC 9421 signature headers
    of a ``GET`` of ``target_uri`` (registry/mailbox_auth.py), with a fresh nonce."""
    headers = {"Date": format_http_date(now), "Content-Digest": content_digest(b"")}
    signature = sign_request(
        method="GET",
        target_uri=target_uri,
        headers=headers,
        key=key,
        keyid=keyid,
        created=now,
        components=COVERED,
        nonce=b64url_encode(random(18)),
        tag=MAILBOX_TAG,
    )
    return {**headers, **signature}


def check_message(obj: Mapping[str, Any], recipient: str, notice: Envelope) -> bytes:
    """Rule 3 for one message of a fetch answer and its proven ``notice``: the ciphertext."""
    ciphertext = b64url_decode(obj["ciphertext"], what="ciphertext")
    if notice["type"] != "mailbox.notice":  # 2
        raise ProofMismatch("a mailbox message does not point at a mailbox.notice")
    body = notice["body"]
    if b64url_encode(entry_digest(notice)) != obj["id"]:
        raise ProofMismatch("a mailbox message's id is not its notice's digest")
    if body["recipient"] != recipient:
        raise ProofMismatch("the mailbox served a message addressed to someone else")
    if body["sent_at"] != obj["sent_at"]:
        raise ProofMismatch("a mailbox message's sent_at differs from its notice's")
    if not hmac.compare_digest(b64url_encode(sha256(ciphertext)), body["ciphertext_digest"]):
        raise ProofMismatch("a mailbox ciphertext does not hash to its notice's ciphertext_digest")
    return ciphertext


def parse_cursor(cursor: str | None) -> str | None:
    """A cursor as the node gave it (decimal digits), or None."""
    if cursor is not None and (not cursor.isascii() or not cursor.isdigit() or len(cursor) > 16):
        raise MalformedInput("a mailbox cursor is the string a fetch answered with")
    return cursor


def mailbox_ack_entry(
    *,
    notice: str,
    status: str,
    acked_at: int,
    key: Ed25519PrivateKey,
    keyid: str,
    reason: str | None = None,
) -> Envelope:
    """The recipient's signed ``mailbox.ack`` of ``notice`` (a message id): ``applied`` or
    ``rejected`` with a ``reason`` code; ``keyid`` is ``<its did:akashi>#<multikey>``."""
    body: dict[str, Any] = {"notice": notice, "status": status, "acked_at": acked_at}
    if reason is not None:
        body["reason"] = reason
    return sign_envelope("mailbox.ack", body, keyid, key)
