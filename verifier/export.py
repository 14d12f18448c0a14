"""APPI records as files: JSON Lines and CSV, each row with its ledger proof, checked offline.

個人情報保護法 第30条 (第三者提供を受ける際の確認) and 第30条第3項 / 施行規則 第20条〜第23条
(記録義務): a business that receives personal data from a third party records from whom
(the holder, and the issuer whose credential carried it), when, which items, and under
which consent. Each row carries the ledger proof of the credential's anchor and, when a
consent receipt was given, of its ``consent.grant``: an :class:`AnchorProof` (entry,
RFC 9162 inclusion proof, and the witness-cosigned checkpoint note it leads to — the
core's :class:`identity.ledger.evidence.LedgerEvidence`, whose checks rules 2-4 and 6 are).

:func:`verify_export` checks a JSON Lines file with nothing but the log's and the
witnesses' verifier keys. For every row, numbered as in the comments:

1. The line is one JSON object (no duplicate names) with the members of a row.
2. Each proof's checkpoint note is signed by the log key and cosigned by ``k`` distinct
   witnesses (:class:`identity.ledger.policy.WitnessPolicy`; no freshness: an audit
   reads old checkpoints).
3. The stored entry is an envelope; its leaf hash is ``SHA-256(0x00 || JCS(entry))``
   and equals the recorded ``leaf_hash``.
4. The inclusion proof is for that leaf index and the checkpoint's size, and leads from
   the leaf hash to the checkpoint's root.
5. The entry is the one the row speaks of: an ``attestation.anchor`` of the row's
   credential digest by the row's issuer; a ``consent.grant`` of the row's receipt digest.
6. Across the file, checkpoints of the same size have the same root (no fork).

A failure names the line and row and the rule that failed; the other rows are still checked.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput, ProofMismatch
from identity.ledger.checkpoint import Checkpoint
from identity.ledger.evidence import (
    ForkCheck,
    LedgerEvidence,
    verify_ledger_evidence_json,
    witness_policy,
)
from identity.ledger.policy import WitnessPolicy

__all__ = [
    "CSV_COLUMNS",
    "AnchorProof",
    "RowFailure",
    "VerifyReport",
    "verify_export",
    "write_csv",
    "write_jsonl",
]

_ROW_MEMBERS = ("row", "customer", "received_at", "items", "provider", "credential", "consent")

#: A row's ledger proof is the core's ledger evidence; the name stays for the records and
#: the service (``AnchorProof.from_proven(entry, note)`` keeps a client's proven entry).
AnchorProof = LedgerEvidence


def _member(obj: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise MalformedInput(f"an export row has no valid {name!r}")
    return value


# ---------------------------------------------------------------------------- writing


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: Path | str) -> int:
    """Write one JSON object per line (UTF-8, keys sorted); return the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
            count += 1
    return count


CSV_COLUMNS = (
    "row", "customer", "received_at", "received_at_utc", "items", "holder", "issuer", "issuer_name",
    "policy", "purpose_id", "purpose", "consent_receipt_digest", "consent_expires_at",
    "credential_digest", "leaf_index", "tree_size", "credential_proof", "consent_proof",
)


def _path_text(path: Sequence[Any]) -> str:
    return "/".join("*" if part is None else str(part) for part in path)


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    consent = row.get("consent") or {}
    anchor = row["credential"]["anchor"]
    consent_anchor = consent.get("anchor")
    return {
        "row": row["row"],
        "customer": row["customer"],
        "received_at": row["received_at"],
        "received_at_utc": datetime.fromtimestamp(row["received_at"], UTC).isoformat(),
        "items": "; ".join(_path_text(p) for p in row["items"]),
        "holder": row["provider"]["holder"],
        "issuer": row["provider"]["issuer"],
        "issuer_name": row["provider"]["issuer_name"],
        "policy": row.get("policy", ""),
        "purpose_id": row.get("purpose", {}).get("id", ""),
        "purpose": row.get("purpose", {}).get("text", ""),
        "consent_receipt_digest": consent.get("receipt_digest", ""),
        "consent_expires_at": consent.get("expires_at", ""),
        "credential_digest": row["credential"]["digest"],
        "leaf_index": anchor["index"],
        "tree_size": anchor["inclusion_proof"]["tree_size"],
        "credential_proof": json.dumps(anchor, ensure_ascii=False, sort_keys=True),
        "consent_proof": "" if consent_anchor is None else json.dumps(consent_anchor, ensure_ascii=False),
    }


def write_csv(rows: Iterable[Mapping[str, Any]], path: Path | str) -> int:
    """Write the rows as CSV (UTF-8 with BOM, for spreadsheet tools); proofs as JSON cells."""
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(_csv_row(row))
            count += 1
    return count


# ---------------------------------------------------------------------------- verifying


@dataclass(frozen=True, slots=True)
class RowFailure:
    """Why one row did not verify: its line number (from 1), row id if readable, the error."""

    line: int
    row: int | None
    error: str
    code: str


@dataclass(slots=True)
class VerifyReport:
    """The outcome of :func:`verify_export`."""

    rows: int = 0
    failures: list[RowFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if every row verified."""
        return not self.failures


def _check_proof(
    raw: Any, policy: WitnessPolicy, cache: dict[str, Checkpoint]
) -> tuple[AnchorProof, Checkpoint]:
    """Rules 2-4 for one anchor proof."""
    return verify_ledger_evidence_json(raw, policy, what="an anchor proof", verified_notes=cache)


def _check_row(
    row: Mapping[str, Any], policy: WitnessPolicy, cache: dict[str, Checkpoint]
) -> list[Checkpoint]:
    """Rules 1-5 for one parsed row; the checkpoints its proofs lead to."""
    missing = [name for name in _ROW_MEMBERS if name not in row]
    if missing:  # 1
        raise MalformedInput(f"the row lacks {', '.join(missing)}")
    credential = _member(row, "credential", Mapping)
    provider = _member(row, "provider", Mapping)
    anchor, checkpoint = _check_proof(credential.get("anchor"), policy, cache)
    body = anchor.envelope["body"]
    if (  # 5
        anchor.envelope["type"] != "attestation.anchor"
        or body.get("digest") != credential.get("digest")
        or body.get("issuer") != provider.get("issuer")
    ):
        raise ProofMismatch("the credential proof is not the anchor of this row's credential by its issuer")
    checkpoints = [checkpoint]
    consent = row["consent"]
    if consent is not None and _member(row, "consent", Mapping).get("anchor") is not None:
        grant, grant_checkpoint = _check_proof(consent["anchor"], policy, cache)
        granted = grant.envelope["body"].get("receipt_digest")
        if grant.envelope["type"] != "consent.grant" or granted != consent.get("receipt_digest"):
            raise ProofMismatch("the consent proof is not the grant of this row's consent receipt")
        checkpoints.append(grant_checkpoint)
    return checkpoints


def verify_export(
    path: Path | str,
    *,
    log_key_vkey: str,
    witness_vkeys: Sequence[str],
    k: int,
    origin: str | None = None,
) -> VerifyReport:
    """Check a JSON Lines APPI export offline (rules 1-6); report every failing row.

    ``origin`` is the log's checkpoint origin when it differs from the log key's name.
    A bad key or ``k`` (configuration, not data) raises instead of being reported.
    """
    policy = witness_policy(log_key_vkey, witness_vkeys, k, origin=origin)
    report = VerifyReport()
    cache: dict[str, Checkpoint] = {}
    forks = ForkCheck()
    with open(path, "rb") as lines:  # bytes: a line that is not UTF-8 is one failing row
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            report.rows += 1
            row_id: int | None = None
            try:
                row = loads_object(line, what="export row")  # 1
                row_id = row.get("row") if isinstance(row.get("row"), int) else None
                for checkpoint in _check_row(row, policy, cache):
                    forks.add(checkpoint, f"on line {number}")  # 6
            except AkashiError as error:
                report.failures.append(RowFailure(number, row_id, error.message, error.code))
    return report
