"""The holder's audit record: every consent, presentation, revocation and update, each with the
ledger evidence that proves it, as JSON Lines (verifiable offline) and CSV (for a spreadsheet).

The JSON Lines file is UTF-8, one RFC 8785 (JCS) object per line, each line ending in ``\\n``::

    {"format":"akashi-wallet-audit","log":{"origin":"…","vkey":"…"},"version":1,"wallet":"did:akashi:…"}
    {"at":…,"claims":[["age_over_20"]],"counterpart":"did:akashi:…","evidence":{…}|null,
     "kind":"consent","outcome":null,"prev":"<hash of line 1>","purpose":{"id":…,"text":…}|null,
     "reason":null,"receipt_digest":"…"|null,"seq":1}
    …
    {"end":true,"events":<n>,"prev":"<hash of line n+1>","seq":<n+1>}

The first line (the header) names the format, its version, the wallet's DID and the log
whose checkpoints the evidence leads to. Then one line per :class:`AuditEvent`, numbered by
``seq`` from 1, then an end line counting them. Every line after the header carries
``prev``, the base64url SHA-256 of the previous line's exact bytes (without its newline), so
a line that is edited, removed, inserted or moved breaks the chain where it stood, and a file
cut short lacks its end line. The chain alone cannot stop someone who rewrites the whole
file from the edit on: against that, the ledger evidence binds what it proves (rule 6), and
``head`` (the hash of the end line, returned by :func:`write_audit_jsonl` and by
:func:`verify_audit`) pins the whole file when it is kept elsewhere.

:func:`verify_audit` checks a file with no wallet and no network. Rules, numbered as in the
code comments:

1. The first line is an audit header of version 1 (else :class:`MalformedInput`: not an
   audit file). A log key given by the caller must be the header's; else the header's is used.
2. Every other line is a JSON object with exactly the members of an event or of the end line,
   each well formed.
3. ``seq`` counts 1, 2, 3, … and ``prev`` is the hash of the line before.
4. The last line is the end line, counting the events; nothing follows it.
5. Each evidence verifies (:func:`identity.ledger.evidence.verify_ledger_evidence`): the
   checkpoint is signed by the log key and cosigned by ``k`` of the given witnesses, the
   recorded leaf hash is the entry's, the inclusion proof leads to the checkpoint's root.
6. The entry is the one the event speaks of:

   - consent: a ``consent.grant`` of the event's receipt digest, to the event's counterpart,
     for its purpose (when named), granted at the event's time;
   - presentation (evidence optional): the ``consent.grant`` of the receipt given with it,
     as for a consent but at any time;
   - revocation: a ``consent.revoke`` of the event's receipt digest, at the event's time; if
     the file holds the grant, by the same holder key and the grant's verifier is the
     counterpart;
   - update (evidence optional): a ``mailbox.notice`` under the event's consent, to the
     counterpart, sent at the event's time;
   - update-ack: a ``mailbox.ack`` signed by the counterpart, with the event's outcome
     (status) and reason, at the event's time; if the file holds the notice, it was sent
     under the event's consent to that counterpart.

   Entries a holder signs (grant, revoke, notice) must verify under the pairwise did:key
   that signs them, which names its own key: no log or witness has to be trusted for that.
7. Across the file, checkpoints of the same size have the same root (no fork).

A failure names the line, its ``seq`` when readable, and the rule; the other lines are still
checked. A bad witness key or ``k`` (configuration, not data) raises.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from holder_app.audit_events import AUDIT_KINDS, AuditEvent, AuditKind, ClaimPath, Purpose
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.strict_json import loads_object
from identity.did.did_key import public_key_from_did_key
from identity.errors import AkashiError, MalformedInput, ProofMismatch
from identity.ledger.checkpoint import Checkpoint
from identity.ledger.envelope import entry_digest, split_signer, verify_parsed_envelope
from identity.ledger.evidence import (
    ForkCheck,
    LedgerEvidence,
    verify_ledger_evidence,
    witness_verifier,
)
from identity.ledger.note import Ed25519NoteVerifier, parse_vkey
from identity.ledger.policy import WitnessPolicy

__all__ = [
    "AUDIT_FORMAT",
    "AUDIT_KINDS",
    "AUDIT_VERSION",
    "CSV_COLUMNS",
    "AuditEvent",
    "AuditFailure",
    "AuditKind",
    "AuditReport",
    "ClaimPath",
    "Purpose",
    "WrittenAudit",
    "verify_audit",
    "write_audit_csv",
    "write_audit_jsonl",
]

AUDIT_FORMAT = "akashi-wallet-audit"
AUDIT_VERSION = 1

#: The entry type that proves each kind of event.
_ENTRY_TYPES: dict[str, str] = {
    "consent": "consent.grant",
    "presentation": "consent.grant",
    "revocation": "consent.revoke",
    "update": "mailbox.notice",
    "update-ack": "mailbox.ack",
}
_EVENT_MEMBERS = frozenset(
    {"seq", "prev", "kind", "at", "counterpart", "purpose", "claims", "outcome", "reason",
     "receipt_digest", "evidence"}
)


# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class WrittenAudit:
    """What :func:`write_audit_jsonl` wrote: how many events, and the chain's head (the hash
    of the end line), which pins the whole file when kept elsewhere."""

    events: int
    head: str


def _line_hash(line: bytes) -> str:
    return b64url_encode(sha256(line))


def _header(wallet_did: str, log_vkey: str, origin: str) -> dict[str, Any]:
    return {
        "format": AUDIT_FORMAT,
        "version": AUDIT_VERSION,
        "wallet": wallet_did,
        "log": {"origin": origin, "vkey": log_vkey},
    }


def _end_line(events: int, prev: str) -> bytes:
    return canonicalize({"seq": events + 1, "prev": prev, "end": True, "events": events})


def write_audit_jsonl(
    events: Iterable[AuditEvent],
    path: Path | str,
    *,
    wallet_did: str,
    log_vkey: str,
    origin: str | None = None,
) -> WrittenAudit:
    """Write ``events`` as a hash-chained JSON Lines audit file (see the module docstring).

    ``log_vkey`` is the verifier key of the log the evidence leads to; ``origin`` its
    checkpoints' origin line, by default the key's name.
    """
    if not wallet_did.startswith("did:"):
        raise ValueError("wallet_did must be a DID")
    origin = parse_vkey(log_vkey).name if origin is None else origin
    count = 0
    with open(path, "wb") as out:
        line = canonicalize(_header(wallet_did, log_vkey, origin))
        out.write(line + b"\n")
        for event in events:
            count += 1
            line = canonicalize({"seq": count, "prev": _line_hash(line), **event.to_json()})
            out.write(line + b"\n")
        line = _end_line(count, _line_hash(line))
        out.write(line + b"\n")
    return WrittenAudit(count, _line_hash(line))


CSV_COLUMNS = (
    "seq", "wallet", "kind", "at", "at_utc", "counterpart", "purpose_id", "purpose", "claims",
    "outcome", "reason", "receipt_digest", "entry_type", "leaf_index", "leaf_hash", "tree_size",
    "root_hash",
)


def _path_text(path: Sequence[Any]) -> str:
    return "/".join("*" if step is None else str(step) for step in path)


def _csv_row(seq: int, wallet_did: str, event: AuditEvent) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": seq,
        "wallet": wallet_did,
        "kind": event.kind,
        "at": event.at,
        "at_utc": datetime.fromtimestamp(event.at, UTC).isoformat(),
        "counterpart": event.counterpart,
        "purpose_id": "" if event.purpose is None else event.purpose.id,
        "purpose": "" if event.purpose is None else event.purpose.text,
        "claims": "; ".join(_path_text(path) for path in event.claims),
        "outcome": event.outcome or "",
        "reason": event.reason or "",
        "receipt_digest": event.receipt_digest or "",
    }
    if event.evidence is not None:
        checkpoint = event.evidence.checkpoint_unverified()
        row |= {
            "entry_type": event.evidence.entry_type,
            "leaf_index": event.evidence.index,
            "leaf_hash": b64url_encode(event.evidence.leaf),
            "tree_size": checkpoint.size,
            "root_hash": b64url_encode(checkpoint.root_hash),
        }
    return row


def write_audit_csv(events: Iterable[AuditEvent], path: Path | str, *, wallet_did: str) -> int:
    """Write one CSV row per event (UTF-8 with BOM, for spreadsheet tools), the evidence
    summarised as leaf index, leaf hash, checkpoint size and root; the number of rows.
    The JSON Lines file is the verifiable form; this one is for reading."""
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for count, event in enumerate(events, start=1):
            writer.writerow(_csv_row(count, wallet_did, event))
    return count


# ---------------------------------------------------------------------------- verifying


@dataclass(frozen=True, slots=True)
class AuditFailure:
    """Why one line did not verify: its number (from 1), its ``seq`` if readable, the rule
    (``header``, ``line``, ``chain``, ``end``, ``evidence``, ``entry``, ``fork``), the error."""

    line: int
    seq: int | None
    rule: str
    error: str
    code: str


@dataclass(slots=True)
class AuditReport:
    """The outcome of :func:`verify_audit`."""

    wallet: str
    origin: str
    log_vkey: str
    lines: int = 0
    events: int = 0
    head: str = ""
    failures: list[AuditFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if every line verified."""
        return not self.failures


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedInput(f"{what} must be a non-empty string")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_header(line: bytes) -> tuple[str, str, str]:
    """Rule 1: ``(wallet, origin, log vkey)`` of a header line, or "not an audit file"."""
    try:
        header = loads_object(line, what="audit header")
    except MalformedInput:
        header = {}
    if header.get("format") != AUDIT_FORMAT:
        raise MalformedInput("this is not an akashi wallet audit file (its first line is no audit header)")
    if header.get("version") != AUDIT_VERSION or not _is_int(header.get("version")):
        raise MalformedInput(f"audit file version {header.get('version')!r}: this code reads version 1")
    log = header.get("log")
    if set(header) != {"format", "version", "wallet", "log"} or not isinstance(log, dict) or set(log) != {
        "origin", "vkey"
    }:
        raise MalformedInput("the audit header must have exactly format, version, wallet and log")
    wallet = _text(header["wallet"], "the audit header's wallet")
    return wallet, _text(log["origin"], "the log's origin"), _text(log["vkey"], "the log's key")


@dataclass(slots=True)
class _Seen:
    """What verified lines showed, for the rules that link events (6) and the fork rule (7)."""

    policy: WitnessPolicy
    notes: dict[str, Checkpoint] = field(default_factory=dict)
    forks: ForkCheck = field(default_factory=ForkCheck)
    grants: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # receipt digest -> grant
    notices: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # notice id -> notice


class _Failed(Exception):
    """Carries an akashi error, and the rule it broke, up to the line loop."""

    def __init__(self, rule: str, error: AkashiError) -> None:
        super().__init__(error.message)
        self.rule, self.error = rule, error


def _mismatch(what: str) -> ProofMismatch:
    return ProofMismatch(f"the evidence is not {what}")


def _holder_signed(evidence: LedgerEvidence) -> str:
    """Rule 6: the did:key that signed a holder's entry, whose signature verifies under it."""
    did, _ = split_signer(evidence.envelope["signer"])
    verify_parsed_envelope(evidence.envelope, public_key_from_did_key(did))
    return did


def _check_entry(event: AuditEvent, evidence: LedgerEvidence, seen: _Seen) -> None:
    """Rule 6 for one event and its (verified) evidence."""
    body, kind = evidence.body, event.kind
    if evidence.entry_type != _ENTRY_TYPES[kind]:
        raise _mismatch(f"a {_ENTRY_TYPES[kind]} entry, as a {kind} needs")
    if kind in ("consent", "presentation"):
        if body.get("receipt_digest") != event.receipt_digest or body.get("verifier") != event.counterpart:
            raise _mismatch("the grant of this event's consent receipt to its counterpart")
        if event.purpose is not None and body.get("purpose_id") != event.purpose.id:
            raise _mismatch("a grant for this event's purpose")
        if kind == "consent" and body.get("granted_at") != event.at:
            raise _mismatch("a grant made at this event's time")
        if _holder_signed(evidence) != body.get("holder"):
            raise _mismatch("a grant signed by the holder it names")
        seen.grants[str(event.receipt_digest)] = {"holder": body["holder"], "verifier": body["verifier"]}
    elif kind == "revocation":
        if body.get("receipt_digest") != event.receipt_digest or body.get("revoked_at") != event.at:
            raise _mismatch("the revocation of this event's consent receipt at its time")
        grant = seen.grants.get(str(event.receipt_digest))
        holder = _holder_signed(evidence)
        if grant is not None and (grant["holder"] != holder or grant["verifier"] != event.counterpart):
            raise _mismatch("revoked by the consent's holder, of a consent to this counterpart")
    elif kind == "update":
        if (body.get("consent"), body.get("recipient"), body.get("sent_at")) != (
            event.receipt_digest, event.counterpart, event.at,
        ):
            raise _mismatch("a notice under this event's consent, to its counterpart, at its time")
        seen.notices[b64url_encode(entry_digest(evidence.envelope))] = {
            "consent": body["consent"], "recipient": body["recipient"], "holder": _holder_signed(evidence),
        }
    else:  # update-ack, signed by the verifier (a did:akashi: its key state is on the ledger)
        signer, _ = split_signer(evidence.envelope["signer"])
        expected = (event.counterpart, event.outcome, event.reason, event.at)
        if (signer, body.get("status"), body.get("reason"), body.get("acked_at")) != expected:
            raise _mismatch("the counterpart's acknowledgement with this outcome, reason and time")
        notice = seen.notices.get(str(body.get("notice")))
        if notice is not None and (
            notice["recipient"] != event.counterpart
            or (event.receipt_digest is not None and notice["consent"] != event.receipt_digest)
        ):
            raise _mismatch("the acknowledgement of a notice to this counterpart under this consent")


def _check_event(obj: Mapping[str, Any], number: int, seen: _Seen) -> None:
    """Rules 2 and 5-7 for one event line."""
    try:
        if set(obj) != _EVENT_MEMBERS:  # 2
            raise MalformedInput(f"an event line has exactly the members {', '.join(sorted(_EVENT_MEMBERS))}")
        event = AuditEvent.from_json(obj)
    except AkashiError as error:
        raise _Failed("line", error) from None
    if event.evidence is None:
        return
    try:
        recorded = b64url_decode(_member_text(obj["evidence"], "leaf_hash"), what="leaf_hash")
        checkpoint = verify_ledger_evidence(  # 5
            event.evidence, seen.policy, recorded_leaf=recorded, verified_notes=seen.notes
        )
    except AkashiError as error:
        raise _Failed("evidence", error) from None
    try:
        _check_entry(event, event.evidence, seen)  # 6
    except AkashiError as error:
        raise _Failed("entry", error) from None
    try:
        seen.forks.add(checkpoint, f"on line {number}")  # 7
    except AkashiError as error:
        raise _Failed("fork", error) from None


def _member_text(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise MalformedInput(f"the evidence has no valid {name!r}")
    return value


def _check_end(line: bytes, events: int, prev: str) -> None:
    """Rule 4: the end line, byte for byte: nothing after it covers it with a hash."""
    if line != _end_line(events, prev):
        raise _Failed("end", ProofMismatch(
            f"the end line must count the {events} events before it and follow the chain"
        ))


def _verify_lines(lines: list[bytes], seen: _Seen, report: AuditReport) -> None:
    """Rules 2-7 for every line after the header."""
    prev = _line_hash(lines[0])
    expected_seq, ended = 1, False
    for number, line in enumerate(lines[1:], start=2):
        report.lines += 1
        seq: int | None = None
        try:
            if ended:  # 4
                raise _Failed("end", MalformedInput("a line after the end line"))
            try:
                obj = loads_object(line, what="audit line")  # 2
            except AkashiError as error:
                raise _Failed("line", error) from None
            seq = obj["seq"] if _is_int(obj.get("seq")) else None
            ended = "end" in obj
            report.events += 0 if ended else 1  # counted even if it fails: the end line counts lines
            if seq != expected_seq or obj.get("prev") != prev:  # 3
                raise _Failed("chain", ProofMismatch(
                    f"line {number} does not follow line {number - 1}: a line was edited, removed,"
                    " inserted or moved"
                ))
            if ended:
                _check_end(line, report.events, prev)
            else:
                _check_event(obj, number, seen)
        except _Failed as failed:
            problem = failed.error
            report.failures.append(AuditFailure(number, seq, failed.rule, problem.message, problem.code))
        # Carry on from what is there, so one edit is reported once, not on every later line.
        expected_seq = (seq if seq is not None else expected_seq) + 1
        prev = _line_hash(line)
    report.head = prev
    if not ended:  # 4
        report.failures.append(AuditFailure(
            len(lines) + 1, None, "end", "the file has no end line: it was cut short", ProofMismatch.code
        ))


def _policy(log_vkey: str, witness_vkeys: Sequence[str], k: int, origin: str) -> WitnessPolicy:
    """The reader's witnesses and ``k`` over the log key, which may come from the file: what is
    wrong with it is the file's fault (MalformedInput), what is wrong with the rest the caller's."""
    witnesses = tuple(witness_verifier(v) for v in witness_vkeys)
    try:
        log = Ed25519NoteVerifier.from_vkey(log_vkey)
    except AkashiError as error:
        raise MalformedInput(f"the log key is not a note verifier key: {error.message}") from None
    if any(w.public_key == log.public_key for w in witnesses):
        raise MalformedInput("the log key is one of the witnesses' keys")
    return WitnessPolicy(log, witnesses, k, origin=origin)


def verify_audit(
    path: Path | str,
    *,
    log_vkey: str | None = None,
    witness_vkeys: Sequence[str],
    k: int,
    expected_head: str | None = None,
) -> AuditReport:
    """Check a JSON Lines audit file offline (rules 1-7 of the module docstring); report every
    failing line. ``log_vkey`` defaults to the header's; the witnesses' keys and ``k`` are the
    reader's own trust, never the file's. ``expected_head``, when the chain head was kept
    elsewhere, must be the file's. Raises :class:`MalformedInput` for a file that is not an
    audit file; a bad key or ``k`` raises too.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    wallet, origin, header_vkey = _read_header(lines[0])  # 1
    report = AuditReport(wallet, origin, header_vkey if log_vkey is None else log_vkey, lines=1)
    if log_vkey is not None and log_vkey != header_vkey:
        report.failures.append(AuditFailure(
            1, None, "header", "the file names another log key than the one given", ProofMismatch.code
        ))
    policy = _policy(report.log_vkey, witness_vkeys, k, origin)
    if lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    else:
        report.failures.append(AuditFailure(
            len(lines), None, "end", "the file does not end with a newline: it was cut short",
            MalformedInput.code,
        ))
    _verify_lines(lines, _Seen(policy), report)
    if expected_head is not None and report.head != expected_head:
        report.failures.append(AuditFailure(
            len(lines), None, "chain", "the chain's head is not the one kept: the file was rewritten",
            ProofMismatch.code,
        ))
    return report
