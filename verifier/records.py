"""Customer KYC status records, APPI receipt records and status monitoring (SQLite, WAL).

Four tables, in the verifier's one database file (:mod:`verifier.database`, beside the
presentation requests whose answers they record):

* ``verifications``: per customer (the holder's pairwise did:key), what a policy
  established — KYC yes/no, evidence methods, issuer, ``age_over_*`` flags, licence
  validity and categories —, when, and under which consent;
* ``credentials``: each credential relied on, with its status list reference, its
  current status and the ledger proof of its anchor (kept for audit);
* ``disclosures``: the disclosed claim values themselves, only the paths disclosed —
  the operator's customer data, kept apart from the records about it;
* ``appi_receipts``: one row per receipt of personal data (APPI 第30条第3項), exported by
  :meth:`CustomerStore.export_jsonl` / :meth:`CustomerStore.export_csv` (:mod:`.export`).

Customer-data updates received through the mailbox (:mod:`verifier.inbox`) add three:

* ``customer_updates``: each update applied, per customer: kind (``address``, ``name``,
  ``erasure``, ``stop``), value, effective date, when it was received, its update id, the
  consent it came under and the mailbox message (notice digest) that carried it. The
  disclosures of earlier verifications are left as they were disclosed (they are what the
  ledger-proven credential said); the current value of a field is the latest applied update
  of that kind whose effective date has come (:meth:`CustomerStore.current_value`);
* ``disclosure_restrictions``: an APPI 第35条 request to stop using (``stop``, 利用停止) or to
  erase (``erasure``, 消去) claims, with the verifications whose stored disclosures it
  covers. Nothing is deleted here: the records of a KYC check must be kept for 7 years
  (犯罪収益移転防止法 第6条), so the operator's backend reads
  :meth:`CustomerStore.restrictions`, stops using those claims from the effective date,
  and erases them once no retention duty is left;
* ``update_receipts``: the APPI receipt record of each applied update (from whom, when,
  which items, under which consent, with the ledger proof of its ``mailbox.notice``), read
  by :meth:`CustomerStore.update_receipt_rows` (kept apart from ``appi_receipts``, whose
  rows are each a credential's with its anchor proof, checked by ``verify_export``).

A customer's KYC status is read from their latest verification (rules of :func:`_status`):

1. No verification recorded: ``not_verified``.
2. A credential of it revoked: ``revoked``; else one suspended: ``suspended``.
3. The verification established no KYC (no ``jp_aml`` evidence method): ``not_verified``.
4. A credential of it expired (``exp``) by now: ``not_verified``.
5. Otherwise ``verified``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from identity.credentials.status_list import parse_status_reference
from identity.credentials.updates import CustomerUpdate
from identity.errors import MalformedInput, NotFound, ProofMismatch
from registry.client import Consent, RegistryClient
from verifier.database import Database
from verifier.export import AnchorProof, write_csv, write_jsonl
from verifier.pipeline import VerifiedCredential

__all__ = ["STATUSES", "CustomerStore", "KycStatus", "PreparedRecord", "consent_record", "prove_anchor"]

#: Credential statuses a store keeps; ``valid`` until a status list says otherwise.
STATUSES = ("valid", "revoked", "suspended")
_JST = timezone(timedelta(hours=9))  # "valid today" is a day in Japan
_ANCHOR_TEXTS = 4096  # anchor proofs kept written as JSON (one per credential seen lately)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verifications (
    id TEXT PRIMARY KEY, customer TEXT NOT NULL, policy TEXT NOT NULL, verified_at INTEGER NOT NULL,
    kyc INTEGER NOT NULL, summary TEXT NOT NULL, consent TEXT
);
CREATE INDEX IF NOT EXISTS verifications_customer ON verifications (customer, verified_at);
CREATE TABLE IF NOT EXISTS credentials (
    verification TEXT NOT NULL REFERENCES verifications (id), digest TEXT NOT NULL,
    customer TEXT NOT NULL, issuer TEXT NOT NULL, issuer_name TEXT NOT NULL, vct TEXT,
    methods TEXT NOT NULL, exp INTEGER, status_uri TEXT, status_idx INTEGER,
    status TEXT NOT NULL DEFAULT 'valid', status_reason TEXT, status_changed_at INTEGER,
    anchor TEXT NOT NULL, PRIMARY KEY (verification, digest)
);
CREATE INDEX IF NOT EXISTS credentials_digest ON credentials (digest);
CREATE TABLE IF NOT EXISTS disclosures (
    verification TEXT NOT NULL REFERENCES verifications (id), digest TEXT NOT NULL,
    claims TEXT NOT NULL, PRIMARY KEY (verification, digest)
);
CREATE TABLE IF NOT EXISTS appi_receipts (
    row INTEGER PRIMARY KEY AUTOINCREMENT, verification TEXT NOT NULL REFERENCES verifications (id),
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customer_updates (
    update_id TEXT PRIMARY KEY, customer TEXT NOT NULL, consent TEXT NOT NULL, kind TEXT NOT NULL,
    value TEXT NOT NULL, effective_date TEXT NOT NULL, issued_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL, message TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS customer_updates_customer ON customer_updates (customer, received_at);
CREATE TABLE IF NOT EXISTS disclosure_restrictions (
    update_id TEXT PRIMARY KEY REFERENCES customer_updates (update_id), customer TEXT NOT NULL,
    kind TEXT NOT NULL, claims TEXT NOT NULL, effective_date TEXT NOT NULL,
    requested_at INTEGER NOT NULL, verifications TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS disclosure_restrictions_customer ON disclosure_restrictions (customer);
CREATE TABLE IF NOT EXISTS update_receipts (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    update_id TEXT NOT NULL REFERENCES customer_updates (update_id), record TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """One verification's rows, ready to insert (:meth:`CustomerStore.prepare_verification`)."""

    id: str
    rows: tuple[tuple[str, tuple[Any, ...]], ...]

    def insert(self, conn: sqlite3.Connection) -> None:
        """Insert the rows through ``conn``, inside the caller's transaction."""
        for statement, parameters in self.rows:
            conn.execute(statement, parameters)


@dataclass(frozen=True, slots=True)
class KycStatus:
    """What an operator's backend needs to know about one customer."""

    customer: str
    status: str  # "verified" | "not_verified" | "revoked" | "suspended"
    reasons: tuple[str, ...]
    verified_at: int | None = None
    policy: str | None = None
    issuer: str | None = None
    issuer_name: str | None = None
    methods: tuple[str, ...] = ()
    record_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``GET /customers/{id}/kyc`` answer."""
        return {
            "customer": self.customer, "status": self.status, "reasons": list(self.reasons),
            "verified_at": self.verified_at, "policy": self.policy, "issuer": self.issuer,
            "issuer_name": self.issuer_name, "methods": list(self.methods), "record_id": self.record_id,
        }


def consent_record(token_digest: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The ``consent`` argument of :meth:`CustomerStore.record_verification`: a verified
    receipt's payload (``ConsentReceipt.to_json()``) with its ledger digest."""
    return {"receipt_digest": token_digest, **receipt}


def prove_anchor(ledger: RegistryClient, index: int, *, attempts: int = 3) -> AnchorProof:
    """The entry at ``index`` with its inclusion proof and the signed, cosigned note of the
    checkpoint it was proven under (the client's newest; retried if it moved meanwhile)."""
    for _ in range(attempts):
        entry = ledger.entry(index)
        last = ledger.last_checkpoint
        if last is not None and last.checkpoint == entry.checkpoint:
            return AnchorProof.from_proven(entry, last.note)
    raise ProofMismatch(f"no signed checkpoint note matches the proof of entry {index}")


def _select(claims: Mapping[str, Any], paths: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The values at the disclosed ``paths`` only (a ``None`` step takes the whole array)."""
    selected = []
    for path in paths:
        value: Any = claims
        for step in path:
            if step is None:
                break
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        selected.append({"path": list(path), "value": value})
    return selected


def _summary(credential: VerifiedCredential, today: date) -> dict[str, Any]:
    """What one credential establishes, without personal data beyond flags and categories."""
    claims = credential.claims
    verification = claims.get("verified_claims", {}).get("verification", {})
    summary: dict[str, Any] = {
        "kyc": bool(credential.methods) and verification.get("trust_framework") == "jp_aml",
        "methods": list(credential.methods),
        "issuer": credential.issuer,
        "issuer_name": credential.issuer_name,
        "age_over": {k: v for k, v in claims.items() if k.startswith("age_over_") and isinstance(v, bool)},
    }
    if "categories" in claims or "date_of_expiry" in claims:
        licence: dict[str, Any] = {"categories": claims.get("categories"), "valid": None}
        try:
            expiry = date.fromisoformat(claims["date_of_expiry"])
            issued = date.fromisoformat(claims.get("date_of_issuance", "0001-01-01"))
            licence["valid"] = issued <= today <= expiry
        except (KeyError, TypeError, ValueError):
            pass  # not disclosed (or not a date): validity unknown, stored as null
        summary["licence"] = licence
    return summary


class CustomerStore:
    """The verifier's records (module docstring); ``clock`` gives POSIX seconds.

    ``db``: a path (the store opens and owns its database) or the verifier's shared
    :class:`~verifier.database.Database`, where the presentation requests live too, so that
    :meth:`prepare_verification`'s rows can be inserted in the transaction that closes the
    request they answer (:meth:`verifier.requests.RequestStore.consume` ``then``).
    """

    def __init__(self, db: Path | str | Database, clock: Callable[[], float] = time.time) -> None:
        self._owns = not isinstance(db, Database)
        self.database = db if isinstance(db, Database) else Database(db)
        self.path = self.database.path
        self._clock = clock
        self._writes = self.database.writes
        self._anchor_texts: dict[str, tuple[AnchorProof, str]] = {}
        self._conn.executescript(_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.database.connection()

    def close(self) -> None:
        """Close the database if this store opened it."""
        if self._owns:
            self.database.close()

    # ------------------------------------------------------------------ recording

    def record_verification(
        self,
        customer_did: str,
        policy_id: str,
        verified: list[VerifiedCredential],
        consent: dict[str, Any] | None,
        anchor_proofs: Mapping[str, AnchorProof],
        *,
        purpose: Mapping[str, str] | None = None,
    ) -> str:
        """Store one verification; return its record id.

        ``consent`` is :func:`consent_record` of the verified receipt, or None for a plain
        wallet (then ``purpose`` ``{"id", "text"}``, the policy's, is recorded as the purpose).
        ``anchor_proofs`` maps every credential digest (and the receipt digest, when its
        grant was proven) to its :class:`AnchorProof`.
        """
        record = self.prepare_verification(
            customer_did, policy_id, verified, consent, anchor_proofs, purpose=purpose
        )
        self._writes.run(record.insert)
        return record.id

    def prepare_verification(
        self,
        customer_did: str,
        policy_id: str,
        verified: list[VerifiedCredential],
        consent: dict[str, Any] | None,
        anchor_proofs: Mapping[str, AnchorProof],
        *,
        purpose: Mapping[str, str] | None = None,
    ) -> PreparedRecord:
        """The rows of one verification (arguments as :meth:`record_verification`), not yet
        written: :meth:`PreparedRecord.insert` writes them inside a caller's transaction."""
        if not verified:
            raise ValueError("a verification relies on at least one credential")
        missing = [v.digest for v in verified if v.digest not in anchor_proofs]
        if missing:
            raise ValueError(f"no anchor proof for credential {', '.join(missing)}")
        if consent is not None:
            digest, terms = consent.get("receipt_digest"), consent.get("purpose")
            if not isinstance(digest, str) or not isinstance(terms, Mapping):
                raise ValueError("a consent record needs 'receipt_digest' and 'purpose' (see consent_record)")
            purpose = consent["purpose"]
        now = int(self._clock())
        today = datetime.fromtimestamp(now, _JST).date()
        summaries = [_summary(v, today) for v in verified]
        kyc = [s for s in summaries if s["kyc"]]
        main = (kyc or summaries)[0]
        summary = {
            "kyc": bool(kyc),
            "methods": sorted({m for s in summaries for m in s["methods"]}),
            "issuer": main["issuer"],
            "issuer_name": main["issuer_name"],
            "age_over": {k: v for s in summaries for k, v in s["age_over"].items()},
            "licence": next((s["licence"] for s in summaries if "licence" in s), None),
            "credentials": summaries,
        }
        record_id = os.urandom(16).hex()
        consent_text = None if consent is None else _dumps(consent)
        receipt_consent = "null"
        if consent is not None:
            consent_anchor = anchor_proofs.get(consent["receipt_digest"])
            receipt_consent = _dumps({
                "receipt_digest": consent["receipt_digest"],
                "expires_at": consent.get("expires_at"),
                "updates_allowed": consent.get("updates_allowed"),
                "anchor": None if consent_anchor is None else consent_anchor.to_json(),
            })
        rows: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO verifications VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record_id, customer_did, policy_id, now, int(bool(kyc)), _dumps(summary), consent_text),
        )]
        for credential in verified:
            # The anchor proof is the largest part of both the credential row and the APPI
            # receipt: written as JSON once per proof, and reused while the proof is.
            anchor = self._anchor_text(credential.digest, anchor_proofs[credential.digest])
            rows.extend(self._credential_rows(record_id, customer_did, credential, anchor))
            rest = {
                "customer": customer_did,
                "received_at": now,
                "items": [list(p) for p in credential.result.paths],
                "provider": {"holder": customer_did, "issuer": credential.issuer,
                             "issuer_name": credential.issuer_name},
                "policy": policy_id,
                "purpose": dict(purpose) if purpose is not None else None,
            }
            receipt = _receipt_text(receipt_consent, credential.digest, anchor, rest)
            insert = "INSERT INTO appi_receipts (verification, record) VALUES (?, ?)"
            rows.append((insert, (record_id, receipt)))
        return PreparedRecord(record_id, tuple(rows))

    def _anchor_text(self, digest: str, proof: AnchorProof) -> str:
        known = self._anchor_texts.get(digest)
        if known is not None and known[0] is proof:
            return known[1]
        text = _dumps(proof.to_json())
        if len(self._anchor_texts) >= _ANCHOR_TEXTS:
            self._anchor_texts.clear()
        self._anchor_texts[digest] = (proof, text)
        return text

    @staticmethod
    def _credential_rows(
        record_id: str,
        customer: str,
        credential: VerifiedCredential,
        anchor: str,
    ) -> list[tuple[str, tuple[Any, ...]]]:
        claims = credential.claims
        uri = idx = None
        reference = credential.status
        if reference is None and "status" in claims:
            reference = parse_status_reference(claims)
        if reference is not None:
            uri, idx = reference.uri, reference.idx
        exp = claims.get("exp") if isinstance(claims.get("exp"), int) else None
        return [
            (
                "INSERT INTO credentials (verification, digest, customer, issuer, issuer_name, vct, methods,"
                " exp, status_uri, status_idx, anchor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record_id, credential.digest, customer, credential.issuer, credential.issuer_name,
                 claims.get("vct"), _dumps(list(credential.methods)), exp, uri, idx, anchor),
            ),
            (
                "INSERT INTO disclosures VALUES (?, ?, ?)",
                (record_id, credential.digest, _dumps(_select(claims, credential.result.paths))),
            ),
        ]

    def set_credential_status(self, digest: str, status: str, reason: str) -> list[str]:
        """Set the status of every stored copy of credential ``digest``; return the customers
        whose records hold it. Raises :class:`NotFound` for an unknown digest."""
        if status not in STATUSES:
            raise ValueError(f"a credential status is one of {', '.join(STATUSES)}")
        with self._writes.transaction() as conn:
            query = "SELECT DISTINCT customer FROM credentials WHERE digest = ?"
            rows = conn.execute(query, (digest,)).fetchall()
            if not rows:
                raise NotFound(f"no stored credential has digest {digest}")
            conn.execute(
                "UPDATE credentials SET status = ?, status_reason = ?, status_changed_at = ?"
                " WHERE digest = ?",
                (status, reason, int(self._clock()), digest),
            )
        return sorted(r[0] for r in rows)

    # ------------------------------------------------------------------ reading

    def kyc_status(self, customer_did: str) -> KycStatus:
        """The customer's KYC status from their latest verification (rules 1-5)."""
        row = self._conn.execute(
            "SELECT id, policy, verified_at, summary FROM verifications WHERE customer = ?"
            " ORDER BY verified_at DESC, rowid DESC LIMIT 1", (customer_did,),
        ).fetchone()
        if row is None:  # 1
            return KycStatus(customer_did, "not_verified", ("no verification is recorded for this customer",))
        record_id, policy, verified_at, summary_text = row
        summary = json.loads(summary_text)
        credentials = self._conn.execute(
            "SELECT digest, status, status_reason, exp FROM credentials WHERE verification = ?", (record_id,)
        ).fetchall()
        status, reasons = _status(summary, credentials, int(self._clock()))
        return KycStatus(customer_did, status, tuple(reasons), verified_at, policy, summary["issuer"],
                         summary["issuer_name"], tuple(summary["methods"]), record_id)

    def customers(self) -> list[KycStatus]:
        """Every customer with a record, with their KYC status, by DID."""
        rows = self._conn.execute("SELECT DISTINCT customer FROM verifications ORDER BY customer").fetchall()
        return [self.kyc_status(r[0]) for r in rows]

    def disclosed_claims(self, record_id: str) -> dict[str, list[dict[str, Any]]]:
        """The disclosed values of one verification, by credential digest (customer data)."""
        rows = self._conn.execute("SELECT digest, claims FROM disclosures WHERE verification = ?",
                                  (record_id,)).fetchall()
        if not rows:
            raise NotFound(f"no verification record {record_id}")
        return {digest: json.loads(claims) for digest, claims in rows}

    def monitored(self) -> list[tuple[str, str, str, int, str]]:
        """``(digest, issuer, status_uri, status_idx, status)`` of every stored credential that
        names a status list and is not revoked (revocation is permanent)."""
        rows = self._conn.execute(
            "SELECT DISTINCT digest, issuer, status_uri, status_idx, status FROM credentials"
            " WHERE status_uri IS NOT NULL AND status != 'revoked' ORDER BY digest"
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def holders(self, digest: str) -> list[str]:
        """The customers whose records hold credential ``digest``."""
        query = "SELECT DISTINCT customer FROM credentials WHERE digest = ? ORDER BY customer"
        return [r[0] for r in self._conn.execute(query, (digest,)).fetchall()]

    def appi_rows(self) -> list[dict[str, Any]]:
        """The APPI receipt records, oldest first, each with its row number and ledger proofs."""
        rows = self._conn.execute("SELECT row, record FROM appi_receipts ORDER BY row").fetchall()
        return [{"row": number, **json.loads(record)} for number, record in rows]

    # ------------------------------------------------------------------ updates (verifier.inbox)

    def knows_customer(self, customer_did: str) -> bool:
        """Whether any verification is recorded for ``customer_did``."""
        query = "SELECT 1 FROM verifications WHERE customer = ? LIMIT 1"
        return self._conn.execute(query, (customer_did,)).fetchone() is not None

    def prepare_update(
        self,
        update: CustomerUpdate,
        *,
        message: str,
        received_at: int,
        consent: Consent,
        notice_proof: AnchorProof | None,
        attested: VerifiedCredential | None = None,
    ) -> PreparedRecord:
        """The rows applying one verified ``update`` (module docstring), not yet written:
        its ``customer_updates`` row, for ``stop``/``erasure`` its ``disclosure_restrictions``
        row over the customer's verifications so far, and its APPI receipt record.
        ``message`` is the mailbox message id (its notice's digest); ``notice_proof`` the
        notice's ledger proof, when one could be had; ``attested`` the verified issuer
        attestation of the new value, when the update carried one."""
        customer = update.holder
        rows: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO customer_updates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (update.update_id, customer, consent.digest, update.kind, _dumps(update.value),
             update.effective_date.isoformat(), update.issued_at, received_at, message),
        )]  # fmt: skip
        if update.kind in ("stop", "erasure"):
            claims = list(update.value["claims"])
            query = "SELECT id FROM verifications WHERE customer = ? ORDER BY verified_at, rowid"
            covered = [r[0] for r in self._conn.execute(query, (customer,)).fetchall()]
            rows.append((
                "INSERT INTO disclosure_restrictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (update.update_id, customer, update.kind, _dumps(claims), update.effective_date.isoformat(),
                 received_at, _dumps(covered)),
            ))  # fmt: skip
            items: list[str] = claims
        else:
            items = [update.kind]
        update_part: dict[str, Any] = {
            "update_id": update.update_id, "kind": update.kind,
            "effective_date": update.effective_date.isoformat(), "issued_at": update.issued_at,
            "attested": attested is not None,
        }  # fmt: skip
        if attested is not None:
            update_part["attestation"] = {
                "issuer": attested.issuer, "issuer_name": attested.issuer_name,
                "credential_digest": attested.digest, "methods": list(attested.methods),
                "anchor_index": attested.anchor_index,
            }  # fmt: skip
        receipt = {
            "customer": customer,
            "received_at": received_at,
            "items": items,
            "provider": {"holder": customer},
            "consent": {"receipt_digest": consent.digest, "purpose_id": consent.purpose_id,
                        "expires_at": consent.expires_at, "updates_allowed": consent.updates_allowed},
            "update": update_part,
            "notice": {"message": message, "proof": None if notice_proof is None else notice_proof.to_json()},
        }  # fmt: skip
        rows.append(("INSERT INTO update_receipts (update_id, record) VALUES (?, ?)",
                     (update.update_id, _dumps(receipt))))  # fmt: skip
        return PreparedRecord(update.update_id, tuple(rows))

    def customer_updates(self, customer_did: str) -> list[dict[str, Any]]:
        """The updates applied to ``customer_did``'s record, oldest first."""
        rows = self._conn.execute(
            "SELECT update_id, kind, value, effective_date, issued_at, received_at, consent, message"
            " FROM customer_updates WHERE customer = ? ORDER BY received_at, rowid", (customer_did,),
        ).fetchall()
        return [
            {"update_id": r[0], "kind": r[1], "value": json.loads(r[2]), "effective_date": r[3],
             "issued_at": r[4], "received_at": r[5], "consent": r[6], "message": r[7]}
            for r in rows
        ]  # fmt: skip

    def current_value(self, customer_did: str, kind: str, today: date | None = None) -> Any:
        """The value of the latest applied ``kind`` update (``address`` or ``name``) in effect
        ``today`` (default: today in Japan), or None when no update of it is in effect."""
        if today is None:
            today = datetime.fromtimestamp(int(self._clock()), _JST).date()
        row = self._conn.execute(
            "SELECT value FROM customer_updates WHERE customer = ? AND kind = ? AND effective_date <= ?"
            " ORDER BY effective_date DESC, received_at DESC, rowid DESC LIMIT 1",
            (customer_did, kind, today.isoformat()),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def restrictions(self, customer_did: str) -> list[dict[str, Any]]:
        """The customer's stop (利用停止) and erasure (消去) requests, oldest first, each with the
        claims named and the verifications whose stored disclosures they cover."""
        rows = self._conn.execute(
            "SELECT update_id, kind, claims, effective_date, requested_at, verifications"
            " FROM disclosure_restrictions WHERE customer = ? ORDER BY requested_at, rowid", (customer_did,),
        ).fetchall()
        return [
            {"update_id": r[0], "kind": r[1], "claims": json.loads(r[2]), "effective_date": r[3],
             "requested_at": r[4], "verifications": json.loads(r[5])}
            for r in rows
        ]  # fmt: skip

    def update_receipt_rows(self) -> list[dict[str, Any]]:
        """The APPI receipt records of applied updates, oldest first, each with its row number."""
        rows = self._conn.execute("SELECT row, record FROM update_receipts ORDER BY row").fetchall()
        return [{"row": number, **json.loads(record)} for number, record in rows]

    def export_jsonl(self, path: Path | str) -> int:
        """Write the APPI records as JSON Lines; return the number of rows."""
        return write_jsonl(self.appi_rows(), path)

    def export_csv(self, path: Path | str) -> int:
        """Write the APPI records as CSV; return the number of rows."""
        return write_csv(self.appi_rows(), path)


def _status(
    summary: Mapping[str, Any], credentials: Sequence[tuple[Any, ...]], now: int
) -> tuple[str, list[str]]:
    for wanted in ("revoked", "suspended"):  # 2
        hit = [
            f"credential {d} {wanted}: {reason or 'by its issuer'}"
            for d, s, reason, _ in credentials
            if s == wanted
        ]
        if hit:
            return wanted, hit
    if not summary["kyc"]:  # 3
        return "not_verified", ["the verification established no KYC under jp_aml"]
    expired = [f"credential {d} expired at {datetime.fromtimestamp(exp, UTC).isoformat()}"
               for d, _, _, exp in credentials if exp is not None and exp <= now]
    if expired:  # 4
        return "not_verified", expired
    methods = ", ".join(summary["methods"])
    return "verified", [f"KYC by {summary['issuer_name']} ({methods})"]  # 5


def _receipt_text(consent: str, digest: str, anchor: str, rest: Mapping[str, Any]) -> str:
    """``_dumps`` of the APPI receipt ``{"consent", "credential": {"anchor", "digest"}, **rest}``
    with the consent part and the anchor proof already written as JSON (keys in sorted
    order: "consent" < "credential" < every key of ``rest``)."""
    tail = _dumps(rest)
    return f'{{"consent":{consent},"credential":{{"anchor":{anchor},"digest":{_dumps(digest)}}},{tail[1:]}'


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise MalformedInput("a record holds a value JSON cannot write") from exc
