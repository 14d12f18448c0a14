"""The events of the holder's audit record (:mod:`holder_app.audit`): what the wallet did with
a verifier — a consent, a presentation, a revocation, an update sent or acknowledged — with the
claim paths involved (names, never values) and the ledger evidence that proves it.

An :class:`AuditEvent` refuses, with ``ValueError``, what an audit line cannot hold; read from a
file (:meth:`AuditEvent.from_json`) the same problems are :class:`MalformedInput`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from identity.errors import MalformedInput
from identity.ledger.evidence import LedgerEvidence

if TYPE_CHECKING:
    from holder_app.records import SentUpdate
    from holder_app.store import WalletStore

__all__ = [
    "ACK_OUTCOMES",
    "AUDIT_KINDS",
    "OUTCOMES",
    "AuditEvent",
    "AuditKind",
    "ClaimPath",
    "Purpose",
    "events_from_store",
]

AuditKind = Literal["consent", "presentation", "revocation", "update", "update-ack"]
AUDIT_KINDS: tuple[AuditKind, ...] = get_args(AuditKind)
#: A claim path as DCQL writes it: names and array indexes (``None``: every element).
ClaimPath = tuple[str | int | None, ...]
#: How a presentation ended (other events may name one too).
OUTCOMES = ("completed", "refused", "failed")
#: What a verifier's acknowledgement of an update says (``mailbox.ack`` ``status``).
ACK_OUTCOMES = ("applied", "rejected")


@dataclass(frozen=True, slots=True)
class Purpose:
    """A verifier's registered purpose: its id and the text the person was shown."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing the wallet did with a verifier, with the ledger evidence that proves it.

    ``counterpart`` is the verifier's DID (a request refused before the verifier was known may
    give only its client id). ``at`` is POSIX seconds; for an event with evidence other than a
    presentation it is the time the ledger entry states (``granted_at``, ``revoked_at``,
    ``sent_at``, ``acked_at``).
    ``claims`` are paths — names only, never values. ``outcome``: for a presentation
    ``completed``/``refused``/``failed``; for an update-ack the verifier's ``applied`` or
    ``rejected``; otherwise optional. ``receipt_digest`` is the consent receipt's ledger digest
    when the event concerns a consent. ``evidence``: required for a consent, a revocation and
    an update-ack; ``None`` for a presentation or update that failed before anything was
    anchored. Inconsistent arguments raise ``ValueError``.
    """

    kind: AuditKind
    at: int
    counterpart: str
    purpose: Purpose | None = None
    claims: tuple[ClaimPath, ...] = ()
    outcome: str | None = None
    reason: str | None = None
    receipt_digest: str | None = None
    evidence: LedgerEvidence | None = None

    def __post_init__(self) -> None:
        # Lists are welcome (they are what JSON and the wallet store hold); keep tuples. A bare
        # string is refused, not split into one-letter steps.
        if isinstance(self.claims, str) or not all(isinstance(p, (list, tuple)) for p in self.claims):
            raise ValueError("an event's claims are a sequence of claim paths (lists of steps)")
        object.__setattr__(self, "claims", tuple(tuple(path) for path in self.claims))
        problem = _event_problem(self)
        if problem is not None:
            raise ValueError(problem)

    def to_json(self) -> dict[str, Any]:
        """The event's members of its line (without ``seq`` and ``prev``)."""
        return {
            "kind": self.kind,
            "at": self.at,
            "counterpart": self.counterpart,
            "purpose": None if self.purpose is None else {"id": self.purpose.id, "text": self.purpose.text},
            "claims": [list(path) for path in self.claims],
            "outcome": self.outcome,
            "reason": self.reason,
            "receipt_digest": self.receipt_digest,
            "evidence": None if self.evidence is None else self.evidence.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AuditEvent:
        """Read an event line's members (shape only: :func:`verify_audit` checks trust)."""
        purpose = obj.get("purpose")
        if purpose is not None:
            if not isinstance(purpose, dict) or set(purpose) != {"id", "text"}:
                raise MalformedInput("an event's purpose is an object with exactly id and text")
            purpose = Purpose(_text(purpose["id"], "purpose id"), _text(purpose["text"], "purpose text"))
        claims = obj.get("claims")
        if not isinstance(claims, list) or not all(isinstance(path, list) for path in claims):
            raise MalformedInput("an event's claims are a list of claim paths")
        evidence = obj.get("evidence")
        proof = None if evidence is None else LedgerEvidence.from_json(evidence, what="the evidence")
        try:
            return cls(
                kind=cast(AuditKind, obj.get("kind")),
                # These members' types are what _event_problem checks first.
                at=cast(int, obj.get("at")),
                counterpart=cast(str, obj.get("counterpart")),
                purpose=purpose,
                claims=tuple(tuple(path) for path in claims),
                outcome=obj.get("outcome"),
                reason=obj.get("reason"),
                receipt_digest=obj.get("receipt_digest"),
                evidence=proof,
            )
        except ValueError as exc:  # what the constructor refuses, read from a file
            raise MalformedInput(str(exc)) from None


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedInput(f"{what} must be a non-empty string")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_step(step: object) -> bool:
    if isinstance(step, str):
        return bool(step)
    return step is None or (isinstance(step, int) and not isinstance(step, bool) and step >= 0)


def _event_problem(event: AuditEvent) -> str | None:
    """Why ``event`` is not a well-formed audit event, or None."""
    if event.kind not in AUDIT_KINDS:
        return f"an event's kind is one of {', '.join(AUDIT_KINDS)}"
    if not _is_int(event.at) or event.at < 0:
        return "an event's time is POSIX seconds, a non-negative integer"
    if not isinstance(event.counterpart, str) or not event.counterpart:
        return "an event's counterpart is the verifier's DID (or the client id a refused request gave)"
    if event.purpose is not None and not isinstance(event.purpose, Purpose):
        return "an event's purpose is a Purpose"
    for path in event.claims:
        if not path or not all(_is_step(step) for step in path):
            return "a claim path is a non-empty list of names, indexes and nulls"
    for value, what in ((event.reason, "reason"), (event.receipt_digest, "receipt digest")):
        if value is not None and (not isinstance(value, str) or not value):
            return f"an event's {what} is a non-empty string or null"
    allowed = {"presentation": OUTCOMES, "update-ack": ACK_OUTCOMES}.get(event.kind)
    if allowed is not None and event.outcome not in allowed:
        return f"a {event.kind} event's outcome is one of {', '.join(allowed)}"
    if allowed is None and event.outcome is not None and event.outcome not in OUTCOMES:
        return f"an event's outcome is null or one of {', '.join(OUTCOMES)}"
    if event.evidence is not None and not isinstance(event.evidence, LedgerEvidence):
        return "an event's evidence is LedgerEvidence"
    if event.evidence is None and event.kind in ("consent", "revocation", "update-ack"):
        return f"a {event.kind} event needs the ledger evidence of its entry"
    needs_digest = event.kind in ("consent", "revocation") or (
        event.kind in ("presentation", "update") and event.evidence is not None
    )
    if needs_digest and event.receipt_digest is None:
        return f"a {event.kind} event with evidence names its consent receipt's digest"
    return None


def events_from_store(store: WalletStore) -> list[AuditEvent]:
    """The wallet's audit record, in time order: every consent with its ``consent.grant``, the
    presentation it came with, every revocation with its ``consent.revoke``, and every
    presentation that was refused or failed (from the transaction log, with no evidence:
    nothing was anchored), every update sent with its ``mailbox.notice`` (or, never sent, its
    failure) and every operator's acknowledgement with its ``mailbox.ack``. Consents whose
    grant never reached the ledger are left out."""
    events: list[AuditEvent] = []
    for consent in store.consents():
        if consent.grant_anchor is None:
            continue
        purpose = Purpose(consent.purpose, consent.purpose)
        grant = LedgerEvidence.from_json(consent.grant_anchor)
        events.append(
            AuditEvent("consent", consent.created_at, consent.verifier, purpose, consent.claims,
                       receipt_digest=consent.digest, evidence=grant)
        )  # fmt: skip
        events.append(
            AuditEvent("presentation", consent.created_at, consent.verifier, purpose, consent.claims,
                       outcome="completed", receipt_digest=consent.digest, evidence=grant)
        )  # fmt: skip
        if consent.revoked_at is not None and consent.revocation_anchor is not None:
            revocation = LedgerEvidence.from_json(consent.revocation_anchor)
            events.append(
                AuditEvent("revocation", consent.revoked_at, consent.verifier, purpose, consent.claims,
                           receipt_digest=consent.digest, evidence=revocation)
            )  # fmt: skip
    purposes = {consent.id: consent.purpose for consent in store.consents()}
    for update in store.updates():
        events.extend(_update_events(update, purposes.get(update.consent_id)))
    for entry in store.history():
        if entry.kind == "presentation" and entry.outcome != "completed" and entry.counterpart:
            events.append(
                AuditEvent("presentation", entry.at, entry.counterpart, None, entry.claims,
                           outcome=entry.outcome, reason=entry.reason)
            )  # fmt: skip
    events.sort(key=lambda event: event.at)
    return events


def _update_events(update: SentUpdate, purpose_id: str | None) -> list[AuditEvent]:
    """An update sent (its notice as evidence; none if it failed) and, once acknowledged,
    the operator's acknowledgement (its ``mailbox.ack`` as evidence). Values never appear:
    the claims are the changed claims' paths, the reason names the kind of update."""
    purpose = None if purpose_id is None else Purpose(purpose_id, purpose_id)
    what = f"{update.kind} ({'APPI request' if update.kind in ('erasure', 'stop') else 'update'})"
    if update.notice_anchor is None:
        failed = f"{what}: {update.reason}" if update.reason else what
        return [AuditEvent("update", update.sent_at, update.verifier, purpose, update.claims,
                           outcome="failed", reason=failed)]  # fmt: skip
    events = [
        AuditEvent("update", update.sent_at, update.verifier, purpose, update.claims, reason=what,
                   receipt_digest=update.consent_digest,
                   evidence=LedgerEvidence.from_json(update.notice_anchor))
    ]  # fmt: skip
    if update.ack_anchor is not None and update.acked_at is not None:
        events.append(
            AuditEvent("update-ack", update.acked_at, update.verifier, purpose, update.claims,
                       outcome=update.status, reason=update.reason, receipt_digest=update.consent_digest,
                       evidence=LedgerEvidence.from_json(update.ack_anchor))
        )  # fmt: skip
    return events
