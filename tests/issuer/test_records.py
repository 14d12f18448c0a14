"""AML verification records: sealed at rest, wrong keys and tampering refused, purged after retention."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.credentials.kyc import Address, AmlMethod, FaceComparison, PersonClaims
from identity.errors import AkashiError, InvalidSignature, KeyStateError, MalformedInput, NotFound
from issuer.records import JpkiCertificate, LicenceDocument, RecordStore, VerificationRecord

JST = timezone(timedelta(hours=9))
KEY = bytes(range(32))
T0 = int(datetime(2026, 4, 1, 10, 0, tzinfo=JST).timestamp())
LICENCE_NUMBER = "123456789012"

PERSON = PersonClaims(
    family_name="山田",
    given_name="花子",
    birthdate=date(1998, 7, 15),
    address=Address(formatted="東京都千代田区霞が関1-1-1", country="JP"),
    gender="female",
)
JPKI = VerificationRecord(
    checked_by="did:akashi:QmKycProviderExample",
    checked_at=datetime(2026, 4, 1, 10, 0, tzinfo=JST),
    method="jpki",
    document=JpkiCertificate(
        issuer="CN=Japan Agency for Local Authority Information Systems", serial_number="0A1B2C"
    ),
    person=PERSON,
    verification_process="kyc-2026-0001",
    credential_digests=("Z0bAbn5T8nK6ZV5mkKmkmdqg1s5Ea9ov3bdzR9BdOic",),
)
LICENCE = VerificationRecord(
    checked_by="operator-17",
    checked_at=datetime(2026, 4, 1, 10, 5, tzinfo=JST),
    method="drivers_licence_ic",
    document=LicenceDocument(number=LICENCE_NUMBER, issuing_authority="東京都公安委員会"),
    person=replace(PERSON, gender=None),
    verification_process="kyc-2026-0002",
    face_comparison=FaceComparison(time=datetime(2026, 4, 1, 10, 6, tzinfo=JST), organization="operator-17"),
)
PERSONAL = ["山田", "花子", "1998-07-15", "霞が関", LICENCE_NUMBER, "0A1B2C", "kyc-2026-0001"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "records.db"


@pytest.fixture
def store(path: Path) -> Iterator[RecordStore]:
    opened = RecordStore(path, KEY, Clock(T0), random=random.Random(1).randbytes, durable=False)
    yield opened
    opened.close()


def file_bytes(path: Path) -> bytes:
    """The database and whatever its write-ahead log and shared memory hold."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def sealed_of(path: Path, record_id: str) -> bytes:
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT sealed FROM records WHERE record_id = ?", (record_id,)).fetchone()
    conn.close()
    return bytes(row[0])


def overwrite(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


# --- the record --------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [JPKI, LICENCE, replace(LICENCE, face_comparison=None)])
def test_record_json_round_trip(record: VerificationRecord) -> None:
    text = json.dumps(record.to_json(), ensure_ascii=False)
    assert VerificationRecord.from_json(json.loads(text)) == record


def test_method_letters_follow_the_evidence() -> None:
    assert JPKI.aml_method is AmlMethod.WA
    assert LICENCE.aml_method is AmlMethod.HE
    assert replace(LICENCE, face_comparison=None).aml_method is None  # chip data alone: no method
    assert LICENCE.to_json()["face_comparison"] == {
        "done": True, "organization": "operator-17", "time": "2026-04-01T10:06:00+09:00"
    }
    assert replace(LICENCE, face_comparison=None).to_json()["face_comparison"] == {"done": False}


def test_inconsistent_records_are_refused() -> None:
    with pytest.raises(ValueError):
        replace(JPKI, document=LICENCE.document)
    with pytest.raises(ValueError):
        replace(JPKI, checked_at=datetime(2026, 4, 1, 10, 0))  # no time zone
    stated_he = JPKI.to_json() | {"aml_method": "ヘ"}
    for bad in (stated_he, JPKI.to_json() | {"method": "selfie"}, {"v": 1}, JPKI.to_json() | {"v": 2}):
        with pytest.raises(MalformedInput):
            VerificationRecord.from_json(bad)


# --- the store ---------------------------------------------------------------------------------


def test_records_round_trip_with_only_metadata_in_clear(store: RecordStore) -> None:
    first, second = store.add(JPKI), store.add(LICENCE)
    assert first != second
    assert store.get(first) == JPKI and store.get(second) == LICENCE
    infos = {info.record_id: info for info in store.records()}
    assert infos[first].aml_method == "ワ" and infos[second].aml_method == "ヘ"
    assert infos[first].created_at == T0
    assert infos[first].retention_until == int(datetime(2033, 4, 1, 10, 0, tzinfo=JST).timestamp())
    with pytest.raises(NotFound):
        store.get("no-such-record")


def test_the_file_holds_no_personal_data(store: RecordStore, path: Path) -> None:
    for record in (JPKI, LICENCE, replace(LICENCE, face_comparison=None)):
        store.add(record)
    record_id = store.add(JPKI)
    store.attach_credentials(record_id, ["bG9uZ2VyLWRpZ2VzdC1vZi1hLWNyZWRlbnRpYWwtMDAwMQ"])
    for data in (file_bytes(path), _closed_file_bytes(store, path)):
        assert data
        for value in PERSONAL:
            assert value.encode("utf-8") not in data, value
            assert json.dumps(value).strip('"').encode("ascii") not in data, value  # \uXXXX escapes


def _closed_file_bytes(store: RecordStore, path: Path) -> bytes:
    store.close()  # the last connection checkpoints the WAL into the main file
    return file_bytes(path)


def test_a_wrong_key_is_refused_when_opening(path: Path, store: RecordStore) -> None:
    store.add(JPKI)
    with pytest.raises(KeyStateError, match="wrong key"):
        RecordStore(path, bytes(32), durable=False)
    with pytest.raises(MalformedInput):
        RecordStore(path, KEY[:31], durable=False)
    again = RecordStore(path, KEY, durable=False)  # the right key still opens it
    assert len(again.records()) == 1
    again.close()


def test_tampered_or_moved_records_are_refused(store: RecordStore, path: Path) -> None:
    jpki, licence = store.add(JPKI), store.add(LICENCE)
    sealed = sealed_of(path, jpki)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    overwrite(path, "UPDATE records SET sealed = ? WHERE record_id = ?", flipped, jpki)
    with pytest.raises(InvalidSignature, match="altered"):
        store.get(jpki)
    overwrite(path, "UPDATE records SET sealed = ? WHERE record_id = ?", sealed_of(path, licence), jpki)
    with pytest.raises(InvalidSignature, match="moved"):
        store.get(jpki)  # a valid box, but another record's
    overwrite(path, "UPDATE records SET created_at = created_at + 1 WHERE record_id = ?", licence)
    with pytest.raises(InvalidSignature, match="relabelled"):
        store.get(licence)


@settings(max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_of_a_sealed_record_is_rejected(
    store: RecordStore, path: Path, data: st.DataObject
) -> None:
    record_id = store.add(LICENCE)
    sealed = sealed_of(path, record_id)
    position = data.draw(st.integers(0, len(sealed) - 1))
    altered = bytearray(sealed)
    altered[position] ^= data.draw(st.integers(1, 255))
    overwrite(path, "UPDATE records SET sealed = ? WHERE record_id = ?", bytes(altered), record_id)
    with pytest.raises(AkashiError) as caught:
        store.get(record_id)
    assert isinstance(caught.value, InvalidSignature)


def test_credentials_issued_later_are_attached(store: RecordStore) -> None:
    record_id = store.add(LICENCE)
    updated = store.attach_credentials(record_id, ["digest-1", "digest-2"])
    assert store.get(record_id) == updated == replace(LICENCE, credential_digests=("digest-1", "digest-2"))
    with pytest.raises(NotFound):
        store.attach_credentials("nope", ["digest-3"])


# --- retention ---------------------------------------------------------------------------------


def test_purge_deletes_records_past_retention_and_leaves_no_trace(path: Path) -> None:
    clock = Clock(T0)
    store = RecordStore(path, KEY, clock, random=random.Random(2).randbytes, durable=False)
    old = store.add(JPKI)
    clock.now = T0 + 86400
    kept = store.add(LICENCE)
    old_sealed = sealed_of(path, old)
    deadline = store.records()[0].retention_until
    assert store.purge(deadline - 1) == 0
    assert store.purge(deadline) == 1
    with pytest.raises(NotFound):
        store.get(old)
    assert store.get(kept) == LICENCE
    data = file_bytes(path)
    assert old_sealed[:32] not in data and old_sealed[-32:] not in data  # not in free pages or the WAL
    clock.now = deadline + 86400
    assert store.purge() == 1  # by the store's clock
    assert store.records() == []
    store.close()


def test_retention_is_seven_calendar_years_by_default_and_configurable(
    path: Path, store: RecordStore
) -> None:
    leap = int(datetime(2028, 2, 29, 12, 0, tzinfo=UTC).timestamp())
    assert store.retention_deadline(leap) == int(datetime(2035, 3, 1, 12, 0, tzinfo=UTC).timestamp())
    ten = RecordStore(path, KEY, Clock(T0), retention_years=10, durable=False)
    assert ten.retention_deadline(T0) == int(datetime(2036, 4, 1, 10, 0, tzinfo=JST).timestamp())
    record_id = ten.add(JPKI, retain_until=T0 + 5)
    assert ten.purge(T0 + 5) == 1
    record_id = ten.add(JPKI)
    ten.extend_retention(record_id, T0 + 20 * 365 * 86400)  # a relationship that goes on
    ten.extend_retention(record_id, T0)  # never shortens
    assert ten.purge(T0 + 11 * 365 * 86400) == 0
    with pytest.raises(NotFound):
        ten.extend_retention("nope", T0)
    ten.close()
