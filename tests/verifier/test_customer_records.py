"""Customer KYC records and status monitoring, on a real (in-memory) ledger and real
issuer-signed status list tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from records_world import ISSUER, ISSUER_NAME, KYC_CLAIMS, STATUS_URI, Ledger, T, consent, credential

from identity.credentials.status_list import INVALID, SUSPENDED, VALID
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import NotFound, RemoteError
from verifier.monitoring import recheck
from verifier.records import CustomerStore


class Clock:
    def __init__(self) -> None:
        self.now = float(T)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CustomerStore]:
    s = CustomerStore(tmp_path / "customers.db", Clock())
    yield s
    s.close()


def enrol(store: CustomerStore, ledger: Ledger, holder: Ed25519PrivateKey, idx: int, **extra: Any) -> str:
    claims = {**KYC_CLAIMS, **extra}
    verified, _ = credential(ledger, holder, idx, claims, [("age_over_20",), *((k,) for k in extra)])
    record, grant = consent(ledger, holder)
    proofs = {
        verified.digest: ledger.anchor(verified.anchor_index or 0),
        record["receipt_digest"]: ledger.anchor(grant),
    }
    customer = did_key_from_public_key(holder.public_key)
    return store.record_verification(customer, "car-sharing", [verified], record, proofs)


def test_a_recorded_verification_makes_the_customer_verified(store: CustomerStore) -> None:
    ledger, holder = Ledger(), Ed25519PrivateKey.from_seed(b"h" * 32)
    customer = did_key_from_public_key(holder.public_key)
    assert store.kyc_status(customer).status == "not_verified"
    record_id = enrol(store, ledger, holder, 3)
    status = store.kyc_status(customer)
    assert (status.status, status.policy, status.issuer, status.issuer_name) == (
        "verified", "car-sharing", ISSUER, ISSUER_NAME)
    assert status.methods == ("jpki",) and status.verified_at == T and status.record_id == record_id
    assert [c.customer for c in store.customers()] == [customer]
    # Only the disclosed values are kept as customer data, not the whole credential.
    disclosed = store.disclosed_claims(record_id)
    assert list(disclosed.values()) == [[{"path": ["age_over_20"], "value": True}]]


def test_licence_validity_and_categories_are_recorded(store: CustomerStore, tmp_path: Path) -> None:
    ledger, holder = Ledger(), Ed25519PrivateKey.from_seed(b"h" * 32)
    enrol(store, ledger, holder, 1, categories=["普通"], date_of_expiry="2026-01-01")
    row = store._conn.execute("SELECT summary FROM verifications").fetchone()[0]
    assert '"licence":{"categories":["普通"],"valid":true}' in row


def test_unknown_digest_and_bad_status_are_refused(store: CustomerStore) -> None:
    with pytest.raises(NotFound):
        store.set_credential_status("nope", "revoked", "x")
    with pytest.raises(ValueError):
        store.set_credential_status("nope", "gone", "x")


def test_expired_credential_is_not_verified(tmp_path: Path) -> None:
    clock = Clock()
    store = CustomerStore(tmp_path / "c.db", clock)
    holder = Ed25519PrivateKey.from_seed(b"h" * 32)
    enrol(store, Ledger(), holder, 2)
    clock.now = T + 86400 * 366
    status = store.kyc_status(did_key_from_public_key(holder.public_key))
    assert status.status == "not_verified" and "expired" in status.reasons[0]
    store.close()


def run(store: CustomerStore, ledger: Ledger, fetch: Any = None) -> list[Any]:
    def key_for(did: str) -> Ed25519PublicKey:
        assert did == ISSUER
        return ledger.issuer_key.public_key

    fetched: list[str] = []

    def fetch_list(uri: str) -> str:
        fetched.append(uri)
        return ledger.status_token()

    changes = recheck(store, fetch or fetch_list, key_for, T + 60)
    if fetch is None:
        assert len(fetched) <= 1  # one fetch per URI per run
    return changes


def test_recheck_flips_on_revoked_suspended_and_reinstated(store: CustomerStore) -> None:
    ledger = Ledger()
    alice, bob = (Ed25519PrivateKey.from_seed(bytes([n]) * 32) for n in (10, 11))
    enrol(store, ledger, alice, 5)
    enrol(store, ledger, bob, 6)
    a, b = (did_key_from_public_key(k.public_key) for k in (alice, bob))
    assert run(store, ledger) == []

    ledger.status.set(5, SUSPENDED)
    [change] = run(store, ledger)
    assert (change.customers, change.previous, change.status) == ((a,), "valid", "suspended")
    assert store.kyc_status(a).status == "suspended" and store.kyc_status(b).status == "verified"

    ledger.status.set(5, VALID)
    ledger.status.set(6, INVALID)
    changes = {c.status: c for c in run(store, ledger)}
    assert changes["valid"].customers == (a,) and changes["revoked"].customers == (b,)
    assert store.kyc_status(a).status == "verified"
    revoked = store.kyc_status(b)
    assert revoked.status == "revoked" and "revoked" in revoked.reasons[0]

    ledger.status.set(6, VALID)  # revocation is permanent: the credential is not looked at again
    assert run(store, ledger) == []
    assert store.kyc_status(b).status == "revoked"


def test_recheck_reports_a_list_it_cannot_trust_and_changes_nothing(store: CustomerStore) -> None:
    ledger = Ledger()
    holder = Ed25519PrivateKey.from_seed(b"h" * 32)
    enrol(store, ledger, holder, 7)
    ledger.status.set(7, INVALID)
    forged = Ledger()
    forged.issuer_key = Ed25519PrivateKey.from_seed(b"f" * 32)
    forged.status = ledger.status
    [change] = run(store, ledger, fetch=lambda uri: forged.status_token())
    assert change.status == "error" and STATUS_URI in change.reason
    assert change.customers == (did_key_from_public_key(holder.public_key),)

    def unreachable(uri: str) -> str:
        raise RemoteError("the issuer could not be reached")

    [change] = run(store, ledger, fetch=unreachable)
    assert change.status == "error" and "could not be reached" in change.reason
    assert store.kyc_status(did_key_from_public_key(holder.public_key)).status == "verified"


def test_a_new_verification_after_revocation_counts(store: CustomerStore) -> None:
    ledger, holder = Ledger(), Ed25519PrivateKey.from_seed(b"h" * 32)
    enrol(store, ledger, holder, 8)
    ledger.status.set(8, INVALID)
    run(store, ledger)
    customer = did_key_from_public_key(holder.public_key)
    assert store.kyc_status(customer).status == "revoked"
    store._clock.now += 10  # type: ignore[attr-defined]
    enrol(store, ledger, holder, 9)
    assert store.kyc_status(customer).status == "verified"


def test_prepared_rows_are_written_only_by_their_insert_and_in_canonical_json(store: CustomerStore) -> None:
    ledger, holder = Ledger(), Ed25519PrivateKey.from_seed(b"p" * 32)
    verified, _ = credential(ledger, holder, 12, KYC_CLAIMS, [("age_over_20",)])
    record, grant = consent(ledger, holder)
    proofs = {
        verified.digest: ledger.anchor(verified.anchor_index or 0),
        record["receipt_digest"]: ledger.anchor(grant),
    }
    customer = did_key_from_public_key(holder.public_key)
    prepared = store.prepare_verification(customer, "car-sharing", [verified], record, proofs)
    again = store.prepare_verification(customer, "car-sharing", [verified], record, proofs)
    assert store.customers() == [] and prepared.id != again.id  # nothing written yet
    with store.database.writes.transaction() as conn:
        prepared.insert(conn)
    assert store.kyc_status(customer).record_id == prepared.id
    # The APPI receipt, assembled from JSON written beforehand, is exactly what json.dumps of
    # the whole object (keys sorted, compact) would have written.
    text = store._conn.execute("SELECT record FROM appi_receipts").fetchone()[0]
    assert text == json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    [row] = store.appi_rows()
    assert row["credential"] == {"digest": verified.digest, "anchor": proofs[verified.digest].to_json()}
    assert row["consent"]["anchor"] == proofs[record["receipt_digest"]].to_json()
    assert row["consent"]["receipt_digest"] == record["receipt_digest"] and row["customer"] == customer
    assert [r[0] for r in again.rows] == [r[0] for r in prepared.rows]
    assert again.rows[1][1][-1] == prepared.rows[1][1][-1]  # the credential row's anchor, as JSON
