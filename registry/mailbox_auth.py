"""Who is fetching a mailbox: RFC 9421 HTTP Message Signatures on mailbox requests.

A recipient proves it is the DID whose messages it asks for by signing the request
with Ed25519 (RFC 9421 section 3.3.6, ``alg`` ``ed25519``). :func:`authenticate`
applies these rules, in order; any failure is :class:`~identity.errors.Unauthorized`
(HTTP 401, problem type ``…/problems/unauthorized``), whose message says no more
than which rule failed:

1. The request carries ``Signature-Input`` and ``Signature`` with a signature tagged
   :data:`MAILBOX_TAG`, covering every component of :data:`COVERED` (method, path,
   query, authority, ``Date`` and ``Content-Digest``), ``created`` no older than
   ``max_age`` and not later than ``skew`` ahead of the node's clock (section 2.3,
   section 7.2.2 for the tag).
2. ``keyid`` is a DID URL ``did:akashi:<scid>#<multikey>`` whose DID is on this
   node's ledger, not deactivated, and whose current DID document lists the key
   under ``authentication`` (DID Core section 5.3.1); the signature verifies under it.
3. ``Content-Digest`` (RFC 9530) is the digest of the body received.
4. The signature has a ``nonce`` of 16 to 128 characters.
5. Neither the nonce (for that key) nor the signature was seen within the window of
   rule 1: both are remembered in the node's SQLite file for ``max_age`` + 2 × ``skew``
   (durable, so a restart does not reopen the window).

The authenticated party is the DID of ``keyid``: it is served its own messages only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PublicKey
from identity.did.akashi import resolve_did_akashi
from identity.did.document import signing_key
from identity.did.url import parse_did_url
from identity.errors import AkashiError, InvalidSignature, Unauthorized, UnknownKey
from identity.http.content_digest import check_content_digest
from identity.http.message_signatures import verify_request
from registry.mailbox_store import SqliteMailboxStore
from registry.state import StateView, get_did

__all__ = ["COVERED", "MAILBOX_TAG", "MailboxAuth", "authenticate", "resolve_authentication_key"]

#: The ``tag`` of a mailbox request signature (RFC 9421 section 2.3): a signature made for
#: another application cannot be replayed here, nor one of ours elsewhere.
MAILBOX_TAG = "akashi-mailbox"
#: The components a mailbox request signature must cover.
COVERED = ("@method", "@path", "@query", "@authority", "date", "content-digest")
_NONCE = re.compile(r"[\x21-\x7e]{16,128}")


@dataclass(frozen=True, slots=True)
class MailboxAuth:
    """The limits of rule 1 (seconds)."""

    max_age: int = 300
    skew: int = 60


def resolve_authentication_key(view: StateView, keyid: str) -> Ed25519PublicKey:
    """Rule 2: the Ed25519 key ``keyid`` names, listed under ``authentication`` in the current
    DID document of a did:akashi on the ledger."""
    did_url = parse_did_url(keyid, what="keyid")
    if not did_url.did.startswith("did:akashi:"):
        raise UnknownKey("a mailbox is fetched with a did:akashi key")
    record = get_did(view, did_url.did)
    if record is None or record.state.deactivated:
        raise UnknownKey(f"{did_url.did} is not an active DID on this ledger")
    return signing_key(resolve_did_akashi(record.state), keyid, relationship="authentication")


def authenticate(
    *,
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    view: StateView,
    store: SqliteMailboxStore,
    now: int,
    limits: MailboxAuth = MailboxAuth(),
) -> str:
    """Rules 1-5 for one request; the DID that signed it, or :class:`Unauthorized`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        verified = verify_request(  # 1, 2
            method=method,
            target_uri=target_uri,
            headers=lowered,
            resolve_key=lambda keyid: resolve_authentication_key(view, keyid),
            now=now,
            max_age=limits.max_age,
            skew=limits.skew,
            required=COVERED,
            tag=MAILBOX_TAG,
        )
        check_content_digest(lowered.get("content-digest", ""), body)  # 3
    except InvalidSignature as exc:
        raise Unauthorized("the request signature is invalid") from exc
    except AkashiError as exc:  # missing, stale, not covering enough, unknown key: say which
        raise Unauthorized(f"the request signature is not acceptable: {exc.message}") from exc
    if verified.nonce is None or _NONCE.fullmatch(verified.nonce) is None:  # 4
        raise Unauthorized("a mailbox request signature needs a nonce of 16 to 128 characters")
    seen = [
        sha256(b"nonce\x00" + verified.keyid.encode() + b"\x00" + verified.nonce.encode()),
        sha256(b"signature\x00" + verified.signature),
    ]
    until = max(now, verified.created) + limits.max_age + 2 * limits.skew
    if not store.remember(seen, now=now, until=until):  # 5
        raise Unauthorized("this request signature was already used")
    return parse_did_url(verified.keyid, what="keyid").did
