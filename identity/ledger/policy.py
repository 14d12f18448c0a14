"""k-of-n witness policy for cosigned checkpoints, in the spirit of C2SP tlog-policy.

A client trusts a checkpoint only if the log signed it *and* at least ``k``
distinct witnesses of a configured set cosigned it: a log that shows
different trees to different clients must then also fool ``k`` witnesses.

Rules, checked in this order by :meth:`WitnessPolicy.verify`:

0. The policy itself is sound: ``1 <= k <= n`` distinct witness keys, no
   witness uses the log's key, ``max_age`` comes with ``now``.
1. The note verifies under the known keys (log and witnesses); unknown
   signatures are ignored, a bad one from a known key fails the whole note
   (:class:`~identity.errors.InvalidSignature`).
2. The log's key signed it; the body is a checkpoint of the expected origin.
3. Witness signatures count once per distinct *public key* — two names for
   one key are one witness (a v1 cosignature does not name its cosigner).
4. With ``now`` given, a cosignature counts only if its timestamp lies in
   ``[now - max_age, now + max_skew]``; one without a timestamp (a plain
   note signature by a witness key) cannot show freshness and does not
   count when ``max_age`` is set.
5. At least ``k`` witnesses count, or :class:`~identity.errors.PolicyError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from identity.errors import PolicyError
from identity.ledger.checkpoint import Checkpoint, verify_checkpoint_note
from identity.ledger.cosignature import CosignatureVerifier, cosignature_timestamp
from identity.ledger.note import DEFAULT_LIMITS, NoteLimits, NoteVerifier

__all__ = ["WitnessPolicy", "verify_cosigned_checkpoint"]


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """The log's key, the witness keys, how many must cosign, and how fresh."""

    log: NoteVerifier
    witnesses: tuple[NoteVerifier, ...]
    k: int
    max_age: int | None = None
    max_skew: int = 300
    origin: str | None = None
    limits: NoteLimits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        # 0: a policy that can never, or always, be met is a configuration error.
        distinct = {w.public_key for w in self.witnesses}
        if not 1 <= self.k <= len(distinct):
            raise ValueError(f"k must be from 1 to the {len(distinct)} distinct witness keys")
        if self.log.public_key in distinct:
            raise ValueError("a witness must not use the log's key")
        if (self.max_age is not None and self.max_age < 0) or self.max_skew < 0:
            raise ValueError("max_age and max_skew must not be negative")

    def verify(self, note: bytes | str, *, now: int | None = None) -> Checkpoint:
        """The checkpoint in ``note``, if this policy is met (rules 1–5)."""
        if self.max_age is not None and now is None:  # 0
            raise ValueError("a policy with max_age needs the current time")
        checkpoint, verified = verify_checkpoint_note(  # 1, 2
            note, [self.log, *self.witnesses], self.log, origin=self.origin, limits=self.limits
        )
        witness_keys = {w.public_key for w in self.witnesses}
        fresh, stale = set(), set()
        for sig in verified.verified:
            key = sig.verifier.public_key
            if key not in witness_keys:  # the log's own signature
                continue
            if self._is_fresh(sig.verifier, sig.signature, now):  # 4
                fresh.add(key)  # 3: a set of keys, not a count of lines
            else:
                stale.add(key)
        if len(fresh) < self.k:  # 5
            detail = f" ({len(stale - fresh)} more too old or in the future)" if stale - fresh else ""
            raise PolicyError(
                f"checkpoint has {len(fresh)} of the {self.k} witness cosignatures required{detail}"
            )
        return checkpoint

    def _is_fresh(self, verifier: NoteVerifier, signature: bytes, now: int | None) -> bool:
        if now is None:
            return True
        if not isinstance(verifier, CosignatureVerifier):
            return self.max_age is None
        timestamp = cosignature_timestamp(signature)
        if timestamp > now + self.max_skew:
            return False
        return self.max_age is None or timestamp >= now - self.max_age


def verify_cosigned_checkpoint(
    note: bytes | str,
    log_verifier: NoteVerifier,
    witnesses: Sequence[NoteVerifier],
    k: int,
    *,
    now: int | None = None,
    max_age: int | None = None,
    origin: str | None = None,
) -> Checkpoint:
    """The checkpoint in ``note`` if the log and ``k`` distinct ``witnesses`` signed it.

    ``now`` (POSIX seconds) and ``max_age`` (seconds) bound the cosignature
    timestamps; ``origin`` defaults to the log key's name. Raises
    :class:`~identity.errors.PolicyError` when too few witnesses count and
    :class:`~identity.errors.InvalidSignature` when a known key's signature
    is bad.
    """
    policy = WitnessPolicy(log_verifier, tuple(witnesses), k, max_age=max_age, origin=origin)
    return policy.verify(note, now=now)
