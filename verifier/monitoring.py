"""Re-checking the status lists of every stored credential (draft-ietf-oauth-status-list).

:func:`recheck`, run on a schedule or when asked:

1. Each status list URI is fetched and verified once per run (a cache per URI and issuer):
   the token is a ``statuslist+jwt`` signed by the issuer's key, for that URI, not expired
   (:func:`identity.credentials.status_list.verify_status_list_token`).
2. Each stored credential that is not already revoked (revocation is permanent) is looked
   up in its list (:func:`~identity.credentials.status_list.check_status`).
3. INVALID flips it to ``revoked``, SUSPENDED to ``suspended``; VALID on a suspended one
   reinstates it (``valid``). The store's KYC status of every customer holding it follows.
4. A list that cannot be fetched or verified changes nothing; it is reported as a
   :class:`Change` with ``status`` ``"error"``, so a failing issuer is seen, not ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from identity.credentials.status_list import (
    StatusListToken,
    StatusReference,
    check_status,
    verify_status_list_token,
)
from identity.crypto.keys import Ed25519PublicKey
from identity.errors import AkashiError, Revoked, Suspended
from verifier.records import CustomerStore

__all__ = ["Change", "recheck"]


@dataclass(frozen=True, slots=True)
class Change:
    """A credential whose status changed (or could not be checked: ``status == "error"``)."""

    digest: str
    customers: tuple[str, ...]
    previous: str
    status: str
    reason: str


def recheck(
    store: CustomerStore,
    fetch_status_list: Callable[[str], str],
    issuer_key_for: Callable[[str], Ed25519PublicKey],
    now: int,
) -> list[Change]:
    """Re-check every monitored credential of ``store`` (rules 1-4); return the changes."""
    tokens: dict[tuple[str, str], StatusListToken | AkashiError] = {}
    changes: list[Change] = []
    for digest, issuer, uri, idx, previous in store.monitored():
        cached = tokens.get((uri, issuer))
        if cached is None:  # 1
            try:
                token, key = fetch_status_list(uri), issuer_key_for(issuer)
                cached = verify_status_list_token(token, key, uri=uri, now=now)
            except AkashiError as error:
                cached = error
            tokens[(uri, issuer)] = cached
        if isinstance(cached, AkashiError):  # 4
            reason = f"status list {uri}: {cached.message}"
            changes.append(Change(digest, tuple(store.holders(digest)), previous, "error", reason))
            continue
        try:  # 2
            check_status(StatusReference(idx, uri), cached)
            status, reason = "valid", "the issuer's status list says valid again"
        except Revoked:
            status, reason = "revoked", "the issuer's status list says revoked"
        except Suspended:
            status, reason = "suspended", "the issuer's status list says suspended"
        except AkashiError as error:
            reason = f"status list {uri}: {error.message}"
            changes.append(Change(digest, tuple(store.holders(digest)), previous, "error", reason))
            continue
        if status != previous:  # 3
            customers = store.set_credential_status(digest, status, reason)
            changes.append(Change(digest, tuple(customers), previous, status, reason))
    return changes
