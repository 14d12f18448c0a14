"""Admission: everything about an entry that needs no ledger state.

For each submitted entry: its size, the envelope's shape, the time it claims
against the node's clock, its canonical (JCS) bytes and digest, the body's
schema and the signature under the key the signer names
(:func:`registry.rules.prevalidate`). None of it reads state, so a node can
run it for many entries at once in worker processes, ahead of the ordered
rules; :func:`admit_entries` is the function it sends them.

Errors cross the process boundary as plain :class:`Refusal` records (exception
objects with keyword-only attributes do not survive pickling intact) and turn
back into the same :mod:`identity.errors` exceptions on the other side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import identity.errors as errors
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.errors import AkashiError, MalformedInput, RejectedByRules, SchemaViolation
from identity.ledger.envelope import parse_envelope
from registry import rules

__all__ = ["Admitted", "Refusal", "admit_entries", "admit_entry"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """An entry ready for the rules: parsed, canonical, schema-valid, signature checked."""

    entry: rules.Prevalidated
    data: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an entry was refused, in a form that pickles: the error class's code and fields."""

    code: str
    message: str
    rule: str = ""
    schema: str = ""
    path: str = ""

    @classmethod
    def of(cls, error: AkashiError) -> Refusal:
        return cls(
            error.code,
            error.message,
            rule=getattr(error, "rule", ""),
            schema=getattr(error, "schema", ""),
            path=getattr(error, "path", ""),
        )

    def error(self) -> AkashiError:
        """The exception this refusal stands for."""
        if self.code == RejectedByRules.code:
            return RejectedByRules(self.message, rule=self.rule)
        if self.code == SchemaViolation.code:
            return SchemaViolation(self.message, schema=self.schema, path=self.path)
        return _CLASSES.get(self.code, AkashiError)(self.message)


_CLASSES: dict[str, type[AkashiError]] = {
    cls.code: cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, AkashiError)
}


def admit_entry(entry: bytes | dict[str, Any], now: float, max_bytes: int, max_skew: int) -> Admitted:
    """Admit one entry, or raise the :mod:`identity.errors` exception that refuses it."""
    envelope = parse_envelope(entry, max_bytes=max_bytes, check_jcs=False)
    claimed = rules.entry_time(envelope)
    if claimed is not None and abs(claimed - now) > max_skew:
        raise RejectedByRules(
            f"the entry's time {claimed} is more than {max_skew} s from the node's clock ({int(now)})",
            rule="admission.clock-skew",
        )
    data = canonicalize(envelope)
    if len(data) > max_bytes:
        raise MalformedInput(f"an entry is at most {max_bytes} bytes")
    return Admitted(rules.prevalidate(envelope, data=data), data, sha256(data))


def admit_entries(
    entries: Sequence[bytes | dict[str, Any]], now: float, max_bytes: int, max_skew: int
) -> list[Admitted | Refusal]:
    """:func:`admit_entry` for each entry, refusals as records (what a worker returns)."""
    out: list[Admitted | Refusal] = []
    for entry in entries:
        try:
            out.append(admit_entry(entry, now, max_bytes, max_skew))
        except AkashiError as error:
            out.append(Refusal.of(error))
    return out
