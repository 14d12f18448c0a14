"""The issuer's operational store: offers, access tokens and nonces.

Personal data lives here only between a successful evidence check and the
redemption (or expiry) of its offer, sealed with the issuer's data key; then
it is deleted. Codes, tokens and nonces are stored as SHA-256 digests, so the
database alone cannot redeem anything. Single use is enforced by the database:
every redemption is one ``UPDATE … WHERE state = 'open'`` whose row count
decides.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.crypto.hashing import sha256
from identity.crypto.keys import RandomSource
from identity.crypto.secretbox import open_secret, seal_secret

__all__ = ["MAX_TX_ATTEMPTS", "OfferRecord", "OperationalStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS offers (
    id TEXT PRIMARY KEY,
    code_hash BLOB NOT NULL UNIQUE,
    tx_code_hash BLOB,
    configurations TEXT NOT NULL,
    sealed BLOB,
    record_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    tx_attempts INTEGER NOT NULL DEFAULT 0,
    issued TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB PRIMARY KEY,
    offer_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (
    nonce_hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

#: How many wrong transaction codes an offer survives before it is void.
MAX_TX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class OfferRecord:
    """An open offer with its (unsealed) evidence, as the credential endpoint needs it."""

    id: str
    configurations: tuple[str, ...]
    evidence: dict[str, Any]
    record_id: str
    expires_at: int


def _h(secret: str) -> bytes:
    return sha256(secret.encode("utf-8"))


class OperationalStore:
    """SQLite (WAL) store of offers, tokens, nonces and issued credentials."""

    def __init__(self, path: Path | str, data_key: bytes) -> None:
        self.path = str(path)
        self._key = data_key
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ offers

    def add_offer(
        self,
        offer_id: str,
        code: str,
        tx_code: str | None,
        configurations: tuple[str, ...],
        evidence: dict[str, Any],
        record_id: str,
        *,
        now: int,
        ttl: int,
        random: RandomSource,
    ) -> None:
        """Store an offer; its evidence is sealed with the data key."""
        sealed = seal_secret(self._key, json.dumps(evidence, ensure_ascii=False).encode("utf-8"), random)
        self._conn.execute(
            "INSERT INTO offers (id, code_hash, tx_code_hash, configurations, sealed, record_id, created_at,"
            " expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open')",
            (
                offer_id,
                _h(code),
                _h(tx_code) if tx_code else None,
                json.dumps(configurations),
                sealed,
                record_id,
                now,
                now + ttl,
            ),
        )

    def redeem_code(self, code: str, tx_code: str | None, *, now: int) -> tuple[str, bool] | None:
        """Mark the offer of pre-authorized ``code`` redeemed, once: ``(offer id, True)``; a
        wrong transaction code gives ``(offer id, False)``; an unknown, used or expired code None."""
        row = self._conn.execute(
            "SELECT id, tx_code_hash FROM offers WHERE code_hash = ? AND state = 'open' AND expires_at > ?",
            (_h(code), now),
        ).fetchone()
        if row is None:
            return None
        offer_id, tx_hash = row
        if tx_hash is not None and (tx_code is None or _h(tx_code) != bytes(tx_hash)):
            self._conn.execute(
                "UPDATE offers SET tx_attempts = tx_attempts + 1,"
                " state = CASE WHEN tx_attempts + 1 >= ? THEN 'void' ELSE state END WHERE id = ?",
                (MAX_TX_ATTEMPTS, offer_id),
            )
            return offer_id, False
        changed = self._conn.execute(
            "UPDATE offers SET state = 'redeemed' WHERE id = ? AND state = 'open'", (offer_id,)
        ).rowcount
        return (offer_id, True) if changed == 1 else None

    def offer(self, offer_id: str) -> OfferRecord | None:
        """A redeemed offer whose credentials are not issued yet, with its evidence unsealed."""
        row = self._conn.execute(
            "SELECT id, configurations, sealed, record_id, expires_at FROM offers"
            " WHERE id = ? AND state = 'redeemed' AND sealed IS NOT NULL",
            (offer_id,),
        ).fetchone()
        if row is None:
            return None
        evidence = json.loads(open_secret(self._key, bytes(row[2])))
        return OfferRecord(row[0], tuple(json.loads(row[1])), evidence, row[3], row[4])

    def finish_offer(self, offer_id: str) -> None:
        """Forget an offer's personal data once its credentials are issued."""
        self._conn.execute("UPDATE offers SET sealed = NULL, state = 'issued' WHERE id = ?", (offer_id,))

    def offer_state(self, offer_id: str) -> str | None:
        """``open``, ``redeemed``, ``issued``, ``void`` or ``expired``; None if unknown."""
        row = self._conn.execute("SELECT state FROM offers WHERE id = ?", (offer_id,)).fetchone()
        return None if row is None else str(row[0])

    def purge(self, now: int) -> int:
        """Drop the sealed data of every expired or void offer and old tokens and nonces."""
        changed = self._conn.execute(
            "UPDATE offers SET sealed = NULL, state = CASE WHEN state = 'open' THEN 'expired' ELSE state END"
            " WHERE sealed IS NOT NULL AND (expires_at <= ? OR state = 'void')",
            (now,),
        ).rowcount
        self._conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
        self._conn.execute("DELETE FROM nonces WHERE expires_at <= ?", (now,))
        return int(changed)

    # ------------------------------------------------------------------ tokens and nonces

    def add_token(self, token: str, offer_id: str, *, expires_at: int) -> None:
        """Store an access token for a redeemed offer."""
        self._conn.execute(
            "INSERT INTO tokens (token_hash, offer_id, expires_at) VALUES (?, ?, ?)",
            (_h(token), offer_id, expires_at),
        )

    def token_offer(self, token: str, *, now: int) -> str | None:
        """The offer id of a valid access token (usable until it expires, once per
        credential configuration of its offer)."""
        row = self._conn.execute(
            "SELECT offer_id FROM tokens WHERE token_hash = ? AND expires_at > ?", (_h(token), now)
        ).fetchone()
        return None if row is None else str(row[0])

    def claim_configuration(self, offer_id: str, configuration: str) -> tuple[bool, bool]:
        """Record that ``configuration`` is being issued for the offer. ``(claimed, complete)``:
        claimed once per configuration the offer lists; complete when every one is."""
        with self._lock:
            row = self._conn.execute(
                "SELECT configurations, issued FROM offers WHERE id = ? AND state = 'redeemed'", (offer_id,)
            ).fetchone()
            if row is None:
                return False, False
            offered, issued = json.loads(row[0]), json.loads(row[1])
            if configuration not in offered or configuration in issued:
                return False, set(issued) == set(offered)
            issued.append(configuration)
            self._conn.execute("UPDATE offers SET issued = ? WHERE id = ?", (json.dumps(issued), offer_id))
            return True, set(issued) == set(offered)

    def release_configuration(self, offer_id: str, configuration: str) -> None:
        """Undo :meth:`claim_configuration` after issuing failed (nothing reached the wallet)."""
        with self._lock:
            row = self._conn.execute("SELECT issued FROM offers WHERE id = ?", (offer_id,)).fetchone()
            if row is None:
                return
            issued = [c for c in json.loads(row[0]) if c != configuration]
            self._conn.execute("UPDATE offers SET issued = ? WHERE id = ?", (json.dumps(issued), offer_id))

    def add_nonce(self, nonce: str, *, expires_at: int) -> None:
        """Remember a c_nonce handed out by the nonce endpoint."""
        self._conn.execute(
            "INSERT INTO nonces (nonce_hash, expires_at) VALUES (?, ?)", (_h(nonce), expires_at)
        )

    def use_nonce(self, nonce: str, *, now: int) -> bool:
        """True, once, for a c_nonce this issuer handed out that has not expired."""
        changed = self._conn.execute(
            "DELETE FROM nonces WHERE nonce_hash = ? AND expires_at > ?", (_h(nonce), now)
        ).rowcount
        return changed == 1
