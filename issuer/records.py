"""Verification records of Japan's AML act, encrypted at rest in their own SQLite file.

The Act on Prevention of Transfer of Criminal Proceeds (犯罪収益移転防止法) Article 6
makes a specified business operator record each verification at the time of a
transaction (確認記録) — who checked, when, by which method, the identification
document or certificate used, and the customer's identity items — and keep the
record for seven years. :class:`VerificationRecord` holds those items for the
two methods akashi offers: JPKI (Ordinance Art. 6(1)(i) ワ) and the driver's
licence IC chip with a face comparison (ヘ).

:class:`RecordStore` keeps them apart from the operational tables:

1. Each record is serialised to JSON and sealed with XSalsa20-Poly1305
   (:mod:`identity.crypto.secretbox`) under the store's 32-byte key. Only
   non-personal metadata is in clear: record id, creation time, retention
   deadline and method letter.
2. The sealed JSON names its record id and creation time, so a sealed record
   moved to another row (or a row's clear metadata edited) is detected.
3. The file holds a sealed check value: opening it with another key fails at
   once with :class:`~identity.errors.KeyStateError`, never with garbage.
4. :meth:`RecordStore.purge` deletes records past their retention and
   rewrites the file (``secure_delete``, ``VACUUM``, WAL truncated) so no
   deleted ciphertext lingers in free pages or the write-ahead log.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from identity.credentials.kyc import Address, AmlMethod, FaceComparison, PersonClaims
from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import RandomSource
from identity.crypto.secretbox import KEY_BYTES, open_secret, seal_secret
from identity.crypto.strict_json import loads_object
from identity.errors import InvalidSignature, KeyStateError, MalformedInput, NotFound
from issuer.database import Database

__all__ = [
    "JpkiCertificate",
    "LicenceDocument",
    "RecordInfo",
    "RecordStore",
    "VerificationRecord",
]

Method = Literal["jpki", "drivers_licence_ic"]
_FORMAT = 1
_KEY_CHECK = b"akashi verification record store, key check v1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    retention_until INTEGER NOT NULL,
    aml_method TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_retention ON records (retention_until);
"""


@dataclass(frozen=True, slots=True)
class JpkiCertificate:
    """The My Number card's JPKI signature certificate that was verified."""

    issuer: str  # the certificate's issuer DN
    serial_number: str


@dataclass(frozen=True, slots=True)
class LicenceDocument:
    """The driver's licence whose IC-chip data was verified."""

    number: str
    issuing_authority: str  # e.g. 東京都公安委員会


@dataclass(frozen=True, slots=True)
class VerificationRecord:
    """One 確認記録: who checked whom, when, how and with which document.

    The method letter is derived, never stated: JPKI is ワ; the licence chip is
    ヘ only with a face comparison, and satisfies no method without one."""

    checked_by: str  # the checking organisation / operator id
    checked_at: datetime
    method: Method
    document: JpkiCertificate | LicenceDocument
    person: PersonClaims
    verification_process: str  # the provider's reference, as in verified_claims
    face_comparison: FaceComparison | None = None  # who compared the face, and when
    credential_digests: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.checked_at.tzinfo is None:
            raise ValueError("checked_at needs a time zone")
        expected = {"jpki": JpkiCertificate, "drivers_licence_ic": LicenceDocument}.get(self.method)
        if expected is None or not isinstance(self.document, expected):
            raise ValueError(f"method {self.method!r} does not go with a {type(self.document).__name__}")
        if self.face_comparison is not None and self.face_comparison.time.tzinfo is None:
            raise ValueError("the face comparison time needs a time zone")

    @property
    def aml_method(self) -> AmlMethod | None:
        """ワ for JPKI; ヘ for the licence chip with a face comparison; otherwise none."""
        if self.method == "jpki":
            return AmlMethod.WA
        return AmlMethod.HE if self.face_comparison is not None else None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (what is sealed)."""
        if isinstance(self.document, JpkiCertificate):
            document = {
                "type": "jpki_certificate",
                "issuer": self.document.issuer,
                "serial_number": self.document.serial_number,
            }
        else:
            document = {
                "type": "drivers_licence",
                "number": self.document.number,
                "issuing_authority": self.document.issuing_authority,
            }
        face = self.face_comparison
        return {
            "v": _FORMAT,
            "checked_by": self.checked_by,
            "checked_at": self.checked_at.isoformat(),
            "method": self.method,
            "aml_method": None if self.aml_method is None else self.aml_method.value,
            "document": document,
            "face_comparison": {"done": False}
            if face is None
            else {"done": True, "organization": face.organization, "time": face.time.isoformat()},
            "person": self.person.to_json(),
            "verification_process": self.verification_process,
            "credential_digests": list(self.credential_digests),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> VerificationRecord:
        """Read :meth:`to_json`'s output; anything else is :class:`MalformedInput`."""
        try:
            if obj["v"] != _FORMAT:
                raise ValueError(f"unknown record format {obj['v']!r}")
            doc = obj["document"]
            document: JpkiCertificate | LicenceDocument
            if doc["type"] == "jpki_certificate":
                document = JpkiCertificate(_text(doc, "issuer"), _text(doc, "serial_number"))
            elif doc["type"] == "drivers_licence":
                document = LicenceDocument(_text(doc, "number"), _text(doc, "issuing_authority"))
            else:
                raise ValueError(f"unknown document type {doc['type']!r}")
            face = obj["face_comparison"]
            record = cls(
                checked_by=_text(obj, "checked_by"),
                checked_at=datetime.fromisoformat(_text(obj, "checked_at")),
                method=obj["method"],
                document=document,
                person=_person(obj["person"]),
                verification_process=_text(obj, "verification_process"),
                face_comparison=None
                if face["done"] is False
                else FaceComparison(
                    time=datetime.fromisoformat(_text(face, "time")),
                    organization=_text(face, "organization"),
                ),
                credential_digests=tuple(_texts(obj, "credential_digests")),
            )
            stated = obj["aml_method"]
            if stated != (None if record.aml_method is None else record.aml_method.value):
                raise ValueError(f"method letter {stated!r} does not match the evidence")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedInput(f"not a verification record: {exc}") from exc
        return record


def _text(obj: Mapping[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def _texts(obj: Mapping[str, Any], name: str) -> list[str]:
    values = obj[name]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of strings")
    return values


def _person(obj: Mapping[str, Any]) -> PersonClaims:
    address = obj.get("address")
    return PersonClaims(
        family_name=_text(obj, "family_name"),
        given_name=_text(obj, "given_name"),
        birthdate=date.fromisoformat(_text(obj, "birthdate")),
        address=None if address is None else Address(**{k: _text(address, k) for k in address}),
        gender=None if obj.get("gender") is None else _text(obj, "gender"),
    )


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """What is in clear about a record: nothing about the person."""

    record_id: str
    created_at: int
    retention_until: int
    aml_method: str | None


class RecordStore:
    """Sealed verification records in one SQLite file (rules 1-4 of the module docstring)."""

    def __init__(
        self,
        db_path: Path | str,
        key: bytes,
        clock: Callable[[], float] = time.time,
        *,
        retention_years: int = 7,
        random: RandomSource = os.urandom,
        durable: bool = True,
    ) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise MalformedInput(f"the record key is exactly {KEY_BYTES} bytes (a 32-byte key file)")
        if retention_years < 1:
            raise ValueError("records are kept for at least a year")
        self._key, self._clock, self._random = key, clock, random
        self._years = retention_years
        self._db = Database(db_path, schema=_SCHEMA, durable=durable, secure_delete=True)
        try:
            with self._db.transaction() as conn:  # rule 3
                row = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
                if row is None:
                    check = seal_secret(key, _KEY_CHECK, random)
                    conn.execute("INSERT INTO meta (key, value) VALUES ('key_check', ?)", (check,))
                elif not _opens(key, bytes(row[0])):
                    raise KeyStateError(f"the record key does not open {db_path}: wrong key file?")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close every connection this store opened."""
        self._db.close()

    def retention_deadline(self, created_at: int) -> int:
        """``retention_years`` calendar years after ``created_at`` (29 February → 1 March)."""
        start = datetime.fromtimestamp(created_at, UTC)
        try:
            end = start.replace(year=start.year + self._years)
        except ValueError:  # 29 February into a common year: keep it a day longer, not shorter
            end = start.replace(year=start.year + self._years, month=3, day=1)
        return int(end.timestamp())

    def add(self, record: VerificationRecord, *, retain_until: int | None = None) -> str:
        """Seal and store ``record``; return its random id. ``retain_until`` overrides the
        default deadline (the act counts seven years from the end of the business relationship)."""
        record_id = b64url_encode(self._random(16))
        created_at = int(self._clock())
        deadline = self.retention_deadline(created_at) if retain_until is None else retain_until
        method = record.aml_method
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO records (record_id, created_at, retention_until, aml_method, sealed) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    record_id,
                    created_at,
                    deadline,
                    None if method is None else method.value,
                    self._seal(record_id, created_at, record),
                ),
            )
        return record_id

    def get(self, record_id: str) -> VerificationRecord:
        """Open one record; :class:`InvalidSignature` if it was altered or moved."""
        row = self._db.conn.execute(
            "SELECT created_at, sealed FROM records WHERE record_id = ?", (record_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no verification record {record_id!r}")
        return self._open(record_id, int(row[0]), bytes(row[1]))

    def attach_credentials(self, record_id: str, digests: list[str]) -> VerificationRecord:
        """Add the digests of credentials issued under this verification, re-sealed."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT created_at, sealed FROM records WHERE record_id = ?", (record_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no verification record {record_id!r}")
            old = self._open(record_id, int(row[0]), bytes(row[1]))
            new = replace(old, credential_digests=old.credential_digests + tuple(digests))
            conn.execute(
                "UPDATE records SET sealed = ? WHERE record_id = ?",
                (self._seal(record_id, int(row[0]), new), record_id),
            )
        return new

    def extend_retention(self, record_id: str, until: int) -> None:
        """Keep a record at least until ``until`` (a continuing relationship); never shortens."""
        with self._db.transaction() as conn:
            done = conn.execute(
                "UPDATE records SET retention_until = MAX(retention_until, ?) WHERE record_id = ?",
                (until, record_id),
            ).rowcount
            if done == 0:
                raise NotFound(f"no verification record {record_id!r}")

    def records(self) -> list[RecordInfo]:
        """The clear metadata of every record, oldest first."""
        rows = self._db.conn.execute(
            "SELECT record_id, created_at, retention_until, aml_method FROM records "
            "ORDER BY created_at, record_id"
        )
        return [RecordInfo(str(i), int(c), int(r), None if m is None else str(m)) for i, c, r, m in rows]

    def purge(self, now: float | None = None) -> int:
        """Delete every record whose retention ended at or before ``now``; return how many (rule 4)."""
        moment = int(self._clock() if now is None else now)
        with self._db.transaction() as conn:
            count = conn.execute("DELETE FROM records WHERE retention_until <= ?", (moment,)).rowcount
        if count:
            conn = self._db.conn
            conn.execute("VACUUM")
            # The VACUUMed pages went through the WAL; copy them home and empty the log.
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                raise RuntimeError("records purged, but another connection kept the WAL from being emptied")
        return int(count)

    def _seal(self, record_id: str, created_at: int, record: VerificationRecord) -> bytes:
        envelope = {"record_id": record_id, "created_at": created_at, "record": record.to_json()}
        text = json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return seal_secret(self._key, text.encode("utf-8"), self._random)

    def _open(self, record_id: str, created_at: int, sealed: bytes) -> VerificationRecord:
        try:
            plaintext = open_secret(self._key, sealed)
        except InvalidSignature as exc:  # the key was checked at open: so the row was altered
            raise InvalidSignature(f"verification record {record_id!r} is invalid: altered") from exc
        envelope = loads_object(plaintext, what="verification record")
        if envelope.get("record_id") != record_id or envelope.get("created_at") != created_at:  # rule 2
            raise InvalidSignature(f"verification record {record_id!r} is invalid: moved or relabelled")
        record = envelope.get("record")
        if not isinstance(record, Mapping):
            raise MalformedInput("verification record has no 'record' object")
        return VerificationRecord.from_json(record)


def _opens(key: bytes, sealed: bytes) -> bool:
    try:
        return open_secret(key, sealed) == _KEY_CHECK
    except InvalidSignature:
        return False
