"""The genesis file: creation, the JSON round trip, its checks, initial members, approvals."""

from __future__ import annotations

import json

import pytest
from rules_world import GOVERNANCE, LOG_KEY, T0, World, key, make_genesis, mk

from identity.crypto.encoding import b64url_decode
from identity.crypto.jcs import canonicalize
from identity.errors import MalformedInput, SchemaViolation, UnsupportedAlgorithm
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from identity.ledger.note import ED25519, Ed25519NoteSigner, format_vkey
from identity.schemas import validate
from registry.genesis import (
    Genesis,
    approval_message,
    approve,
    create_genesis,
    dump_genesis,
    genesis_changes,
    governance_signer,
    load_genesis,
    parse_genesis,
)
from registry.state import Member, MemoryState, get_member

WITNESS_DID = World().outsider.did
WITNESS = Member(WITNESS_DID, "witness", "証人株式会社", "7000012050002", 1,
                 note_key=format_vkey("witness.test", ED25519, key("witness").public_key.raw))


def genesis_json(**changes: object) -> dict[str, object]:
    return {**make_genesis((WITNESS,)).to_json(), **changes}


def test_a_created_genesis_survives_dump_and_load() -> None:
    genesis = make_genesis((WITNESS,))
    data = dump_genesis(genesis)
    assert data.endswith(b"\n") and "証人株式会社".encode() in data  # readable UTF-8, not escaped
    loaded = load_genesis(data)
    assert loaded == genesis
    assert loaded.digest == genesis.digest
    validate(json.loads(data), "genesis")


def test_the_digest_changes_with_any_field() -> None:
    genesis = make_genesis()
    other = create_genesis(origin=genesis.origin, log_key=LOG_KEY.public_key,
                           governance_keys=[k.public_key for k in GOVERNANCE], threshold=3,
                           created_at=genesis.created_at)
    assert genesis.digest != other.digest
    assert len(genesis.digest) == 43


def test_the_log_key_verifies_the_logs_checkpoints() -> None:
    genesis = make_genesis()
    signer = Ed25519NoteSigner(genesis.origin, LOG_KEY)
    note = sign_checkpoint(Checkpoint(genesis.origin, 0, bytes(32)), signer)
    assert verify_checkpoint(note.encode(), genesis.log_verifier(), origin=genesis.origin).size == 0


@pytest.mark.parametrize(
    ("name", "changes", "error"),
    [
        ("log key named for another log",
         {"log_key": format_vkey("other.log", ED25519, LOG_KEY.public_key.raw)}, MalformedInput),
        ("log key of another type", {"log_key": format_vkey("akashi.test/registry", 0x02, bytes(32))},
         UnsupportedAlgorithm),
        ("threshold above the keys", {"governance": {"keys": [mk(GOVERNANCE[0])], "threshold": 2}},
         MalformedInput),
        ("no governance", {"governance": None}, SchemaViolation),
        ("an unknown field", {"comment": "x"}, SchemaViolation),
        ("origin with a space", {"origin": "akashi registry"}, SchemaViolation),
        ("member at version 2", {"members": [{**WITNESS.to_body(), "version": 2}]}, MalformedInput),
        ("member with a bad check digit",
         {"members": [{**WITNESS.to_body(), "corporate_number": "1000012050002"}]}, MalformedInput),
        ("one member twice", {"members": [WITNESS.to_body(), WITNESS.to_body()]}, MalformedInput),
        ("a member with a personal field", {"members": [{**WITNESS.to_body(), "contact": "山田"}]},
         SchemaViolation),
    ],
)
def test_a_bad_genesis_is_refused(name: str, changes: dict[str, object], error: type[Exception]) -> None:
    obj = {k: v for k, v in genesis_json(**changes).items() if v is not None}
    with pytest.raises(error):
        parse_genesis(obj)


def test_schema_failure_names_the_field() -> None:
    with pytest.raises(SchemaViolation) as caught:
        parse_genesis(genesis_json(created_at="yesterday"))
    assert caught.value.path == "/created_at"


def test_load_refuses_duplicate_names_and_oversized_files() -> None:
    text = dump_genesis(make_genesis()).decode()
    duplicated = text.replace('"v": 1,', '"v": 1, "v": 1,')
    with pytest.raises(MalformedInput):
        load_genesis(duplicated)
    with pytest.raises(MalformedInput):
        load_genesis(b" " * (1024 * 1024 + 1))


def test_initial_members_are_applied_as_if_governance_had_added_them() -> None:
    genesis = make_genesis((WITNESS,))
    state = MemoryState()
    state.apply(genesis_changes(genesis))
    member = get_member(state, WITNESS_DID)
    assert member == WITNESS
    # and governance takes over from there: version 2 is the next change
    w = World()
    w.genesis = genesis
    w.state = state
    renamed = {**WITNESS.to_body(), "version": 2, "legal_name": "新証人株式会社"}
    w.submit(w.member_entry("member.update", renamed))
    updated = get_member(w.state, WITNESS_DID)
    assert updated is not None and (updated.version, updated.legal_name) == (2, "新証人株式会社")


def test_an_approval_signs_the_entry_type_and_the_member() -> None:
    member = WITNESS.to_body()
    assert approval_message("member.add", member) == canonicalize({"type": "member.add", "member": member})
    approval = approve("member.add", member, GOVERNANCE[0])
    assert approval["key"] == mk(GOVERNANCE[0])
    GOVERNANCE[0].public_key.verify(
        b64url_decode(approval["sig"]),
        approval_message("member.add", member),
    )
    assert governance_signer(GOVERNANCE[0].public_key) == f"did:key:{mk(GOVERNANCE[0])}#{mk(GOVERNANCE[0])}"


def test_governance_knows_its_keys() -> None:
    genesis: Genesis = make_genesis()
    assert genesis.governance.public_key(mk(GOVERNANCE[2])) == GOVERNANCE[2].public_key
    assert genesis.governance.public_key(mk(key("outside"))) is None
    assert genesis.created_at == T0 - 86400
