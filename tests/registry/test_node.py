"""The node's append pipeline over real SQLite: order, durability, de-duplication,
rejections that change nothing, proofs that verify, and an audit that catches
any changed byte."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from node_harness import Harness
from rules_world import PERSONAL, T0, Base, base

from identity.crypto.jcs import canonicalize
from identity.errors import AkashiError, NotFound, RejectedByRules
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.merkle import verify_consistency, verify_inclusion
from registry.audit import replay_state, verify_store
from registry.node import Accepted
from registry.storage import SqliteStorage

SCENARIO: Base = base()
HISTORY = SCENARIO.world.history


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.storage.close()


def test_history_appends_in_order_and_every_entry_is_proven(harness: Harness) -> None:
    for number, envelope in enumerate(HISTORY):
        (accepted,) = harness.accepted([envelope])
        assert (accepted.index, accepted.size, accepted.duplicate) == (number, number + 1, False)
    checkpoint = harness.node.latest_checkpoint()
    body = verify_checkpoint(checkpoint.note.encode(), harness.genesis.log_verifier())
    assert (body.size, body.root_hash) == (len(HISTORY), checkpoint.root)
    for index in range(len(HISTORY)):
        size, path = harness.node.inclusion_proof(index)
        verify_inclusion(harness.node.entry(index).leaf_hash, index, size, path, body.root_hash)
    # One checkpoint per batch, each consistent with the last.
    checkpoints = list(harness.storage.checkpoints())
    assert [cp.size for cp in checkpoints] == list(range(1, len(HISTORY) + 1))
    for older in checkpoints[:-1]:
        _, proof = harness.node.consistency_proof(older.size)
        verify_consistency(older.size, checkpoint.size, proof, older.root, checkpoint.root)


def test_a_batch_is_one_transaction_and_one_checkpoint(harness: Harness) -> None:
    accepted = harness.accepted(list(HISTORY))
    assert [a.index for a in accepted] == list(range(len(HISTORY)))
    assert [cp.size for cp in harness.storage.checkpoints()] == [len(HISTORY)]


def test_the_same_entry_twice_is_appended_once(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:3]))
    again = harness.accepted([HISTORY[1], HISTORY[1]])
    assert [(a.index, a.duplicate) for a in again] == [(1, True), (1, True)]
    assert harness.node.size() == 3
    # Within one batch too: the second copy points at the first.
    harness.accepted([HISTORY[3], HISTORY[3]])
    assert harness.node.size() == 4


def test_a_rejected_entry_changes_nothing(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:5]))
    before = harness.snapshot()
    # HISTORY[-1] depends on entries not yet appended: the rules refuse it here.
    (outcome,) = harness.node.submit([HISTORY[-1]])
    assert isinstance(outcome, RejectedByRules) and outcome.rule
    (outcome,) = harness.node.submit([{**HISTORY[5], "sig": HISTORY[4]["sig"]}])
    assert isinstance(outcome, AkashiError)
    (outcome,) = harness.node.submit([b'{"v":1,"type":"did.create"'])
    assert isinstance(outcome, AkashiError)
    assert harness.snapshot() == before


def test_rejections_inside_a_batch_leave_the_rest_appended(harness: Harness) -> None:
    bad = {**HISTORY[1], "sig": HISTORY[0]["sig"]}
    outcomes = harness.node.submit([HISTORY[0], bad, HISTORY[1]])
    assert isinstance(outcomes[0], Accepted) and isinstance(outcomes[2], Accepted)
    assert isinstance(outcomes[1], AkashiError)
    assert (outcomes[0].index, outcomes[2].index) == (0, 1)


def test_entries_that_claim_a_far_time_are_refused_at_admission(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_clock_skew=300)
    anchor = next(e for e in HISTORY if e["type"] == "attestation.anchor")  # claims iat = T0
    (outcome,) = h.node.submit([anchor])
    assert isinstance(outcome, RejectedByRules) and outcome.rule == "admission.clock-skew"


def test_derived_state_rebuilt_from_the_log_equals_the_live_tables(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:7]))
    harness.accepted(list(HISTORY[7:]))
    live = {(kind, key): value for kind, key, value in harness.storage.state_items()}
    assert replay_state(harness.storage, harness.genesis) == live
    world_state = SCENARIO.world.state.to_json()
    for kind, records in world_state.items():
        for key, value in records.items():
            assert live[(kind, key)] == value


def test_a_reopened_node_continues_the_same_tree(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:6]))
    first = harness.node.latest_checkpoint()
    harness.reopen()
    harness.accepted(list(HISTORY[6:]))
    last = harness.node.latest_checkpoint()
    _, proof = harness.node.consistency_proof(first.size)
    verify_consistency(first.size, last.size, proof, first.root, last.root)
    assert verify_store(harness.storage, harness.genesis) is None


def test_concurrent_submitters_share_commits(harness: Harness) -> None:
    harness.accepted(list(HISTORY))
    world = SCENARIO.world
    grants = [world.grant(world.taro, granted_at=T0 + 10 + n) for n in range(60)]
    threads = [threading.Thread(target=harness.accepted, args=([grant],)) for grant in grants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert harness.node.size() == len(HISTORY) + len(grants)
    new_checkpoints = [cp for cp in harness.storage.checkpoints() if cp.size > len(HISTORY)]
    assert len(new_checkpoints) <= len(grants)
    assert verify_store(harness.storage, harness.genesis) is None


def test_no_personal_data_reaches_the_database(harness: Harness) -> None:
    harness.accepted(list(HISTORY))
    raw = Path(harness.storage.path).read_bytes()
    wal = Path(harness.storage.path + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    for value in PERSONAL:
        assert value.encode() not in raw, value


def test_reads_of_missing_things_are_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.node.latest_checkpoint()
    harness.accepted(list(HISTORY[:2]))
    for call in (
        lambda: harness.node.entry(5),
        lambda: harness.node.inclusion_proof(2),
        lambda: harness.node.consistency_proof(3),
        lambda: harness.node.inclusion_proof(0, 3),
    ):
        with pytest.raises(NotFound):
            call()


# ------------------------------------------------------------------ verify catches any changed byte


def _columns(storage: SqliteStorage) -> list[tuple[str, str, str, Any]]:
    """(table, column, rowid-ish key, value) for every stored value that carries meaning."""
    conn = sqlite3.connect(storage.path)
    cells = []
    for table, key_columns in (
        ("entries", ("idx",)),
        ("tiles", ("level", "idx")),
        ("checkpoints", ("size",)),
    ):
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        for row in conn.execute(f"SELECT * FROM {table}"):
            values = dict(zip(columns, row, strict=True))
            where = " AND ".join(f"{column} = {values[column]!r}" for column in key_columns)
            for column in columns:
                cells.append((table, column, where, values[column]))
    conn.close()
    return cells


def _flipped(value: Any, position: int) -> Any:
    if isinstance(value, bytes):
        data = bytearray(value)
        data[position % len(data)] ^= 0x01
        return bytes(data)
    if isinstance(value, str):
        data = bytearray(value.encode())
        data[position % len(data)] ^= 0x01
        return data.decode("utf-8", "replace")
    return value ^ 1


def test_verify_reports_any_single_byte_change(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:4]))
    harness.accepted(list(HISTORY[4:]))
    assert verify_store(harness.storage, harness.genesis) is None
    cells = _columns(harness.storage)
    assert len(cells) > 50
    for number, (table, column, where, value) in enumerate(cells):
        changed = _flipped(value, number * 7)
        conn = sqlite3.connect(harness.storage.path)
        try:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (changed,))
            conn.commit()
        except sqlite3.IntegrityError:
            conn.close()
            continue  # the database itself refused the change (a duplicate key)
        try:
            mismatch = verify_store(harness.storage, harness.genesis)
            assert mismatch is not None, f"{table}.{column} changed without notice"
        finally:
            conn.execute(
                f"UPDATE {table} SET {column} = ? WHERE {_where_after(where, column, changed)}", (value,)
            )
            conn.commit()
            conn.close()
    assert verify_store(harness.storage, harness.genesis) is None


def _where_after(where: str, column: str, changed: Any) -> str:
    """The row's key after ``column`` became ``changed`` (when the key itself changed)."""
    parts = []
    for clause in where.split(" AND "):
        name, _, _ = clause.partition(" = ")
        parts.append(f"{name} = {changed!r}" if name == column else clause)
    return " AND ".join(parts)


def test_verify_reports_a_changed_state_row(harness: Harness) -> None:
    harness.accepted(list(HISTORY))
    conn = sqlite3.connect(harness.storage.path)
    kind, key, value = conn.execute("SELECT kind, key, value FROM state WHERE kind = 'consent'").fetchone()
    conn.execute(
        "UPDATE state SET value = ? WHERE kind = ? AND key = ?", (value.replace("true", "false"), kind, key)
    )
    conn.commit()
    conn.close()
    mismatch = verify_store(harness.storage, harness.genesis)
    assert mismatch is not None and mismatch.table == "state"


def test_entries_are_stored_in_their_canonical_form(harness: Harness) -> None:
    harness.accepted(list(HISTORY[:1]))
    assert harness.node.entry(0).data == canonicalize(HISTORY[0])
