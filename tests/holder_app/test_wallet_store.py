"""The wallet store's records: round trips, the rules of keys, copies and consents,
transactions that leave no trace when they fail, and nothing personal in the clear."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from wallet_world import (
    ADDRESS,
    ANCHOR,
    BIKESHARE,
    CARSHARE,
    ISSUER,
    NAME,
    NOW,
    PASSPHRASE,
    ROOT_DID,
    fill,
    key,
    new_wallet,
    open_wallet,
    sd_jwt,
)

from holder_app.records import NewCopy
from holder_app.store import WalletStore
from identity.crypto.encoding import b64url_encode
from identity.crypto.passphrase import TEST_PARAMS
from identity.errors import ConsentError, MalformedInput, NotFound


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_everything_stored_is_there_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "wallet.db"
    with new_wallet(path) as store:
        ids = fill(store)
        before = store.contents()
    with open_wallet(path) as store:
        assert store.contents() == before
        assert store.key(ids.root) == key("root")
        assert store.identity() is not None and store.identity().did == ROOT_DID  # type: ignore[union-attr]
        credential = store.credential(ids.credential)
        assert [c.sd_jwt for c in credential.copies] == [sd_jwt(i) for i in range(3)]
        assert credential.copies[0].anchor == ANCHOR and credential.issuer == ISSUER
        claims = store.consent(ids.consent).claims
        assert claims == (("verified_claims", "claims", "family_name"), ("age_over_20",))
        assert [(e.seq, e.kind, e.outcome) for e in store.history()] == [
            (1, "issuance", "completed"), (2, "presentation", "completed"), (3, "presentation", "refused"),
        ]


def test_keys_by_role_retirement_and_pairwise_lookup(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        ids = fill(store)
        assert [k.id for k in store.keys("holder")] == list(ids.holders)
        assert {k.role for k in store.keys(active_only=True)} == {"root", "next", "holder", "pairwise"}
        found = store.pairwise_key(CARSHARE)
        assert found is not None and found.id == ids.pairwise and found.key == key("pairwise-carshare")
        assert store.pairwise_key(BIKESHARE) is None
        with pytest.raises(ValueError, match="already has an active pairwise key"):
            store.add_key("pairwise", key("another"), CARSHARE)

        retired = store.retire_key(ids.pairwise, NOW + 10)
        assert retired.retired_at == NOW + 10 and not retired.active
        assert store.pairwise_key(CARSHARE) is None
        assert ids.pairwise not in [k.id for k in store.keys(active_only=True)]
        assert ids.pairwise in [k.id for k in store.keys(active_only=False)]
        assert store.key(ids.pairwise) == key("pairwise-carshare")  # still readable
        fresh = store.add_key("pairwise", key("pairwise-carshare-2"), CARSHARE)
        assert store.pairwise_key(CARSHARE).id == fresh  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="already retired"):
            store.retire_key(ids.pairwise)


@pytest.mark.parametrize(
    ("role", "relation"), [("pairwise", None), ("holder", CARSHARE), ("root", CARSHARE), ("admin", None)]
)
def test_key_roles_and_relations_must_agree(tmp_path: Path, role: str, relation: str | None) -> None:
    with new_wallet(tmp_path / "w.db") as store, pytest.raises(ValueError):
        store.add_key(role, key("k"), relation)  # type: ignore[arg-type]


def test_unknown_ids_are_not_found(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        for call in (store.key, store.credential, store.consent, store.unused_copy):
            with pytest.raises(NotFound):
                call("nope")


def test_identity_is_replaced_not_duplicated(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        assert store.identity() is None
        store.set_identity(ROOT_DID, [{"n": 1}])
        store.set_identity(ROOT_DID, [{"n": 1}, {"n": 2}])
        identity = store.identity()
        assert identity is not None and identity.events == ({"n": 1}, {"n": 2})


def test_one_copy_per_verifier_and_the_same_copy_again_for_the_same_verifier(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        ids = fill(store)  # copy 0 went to the car-sharing operator
        assert store.copy_for(ids.credential, CARSHARE).id == ids.copies[0]  # type: ignore[union-attr]
        assert store.unused_copy(ids.credential).id == ids.copies[1]  # type: ignore[union-attr]
        assert store.copy_for(ids.credential, BIKESHARE).id == ids.copies[1]  # type: ignore[union-attr]
        assert store.mark_copy_used(ids.copies[0], CARSHARE).used_by == CARSHARE  # again: fine
        with pytest.raises(ValueError, match="another verifier"):
            store.mark_copy_used(ids.copies[0], BIKESHARE)

        store.mark_copy_used(ids.copies[1], BIKESHARE)
        store.mark_copy_used(ids.copies[2], "did:akashi:third")
        assert store.unused_copy(ids.credential) is None
        assert store.copy_for(ids.credential, "did:akashi:fourth") is None  # would link two verifiers
        assert store.copy_for(ids.credential, BIKESHARE).id == ids.copies[1]  # type: ignore[union-attr]


def test_a_credential_needs_distinct_holder_keys(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        ids = fill(store)
        common: dict[str, Any] = {"vct": "v", "issuer": ISSUER, "issued_at": NOW, "expires_at": None}
        with pytest.raises(ValueError, match="different holder key"):
            same = [NewCopy("a", ids.holders[0], "d"), NewCopy("b", ids.holders[0], "e")]
            store.add_credential(**common, copies=same)
        with pytest.raises(ValueError, match="not a holder key"):
            store.add_credential(**common, copies=[NewCopy("a", ids.pairwise, "d")])
        with pytest.raises(NotFound):
            store.add_credential(**common, copies=[NewCopy("a", "key_missing", "d")])
        assert [c.id for c in store.credentials()] == [ids.credential]


def test_consents_list_revoke_and_expire(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        ids = fill(store)
        other = store.add_consent(
            receipt="r2", digest="d2", verifier=BIKESHARE, purpose="age", claims=[["age_over_20"]],
            expires_at=NOW + 60, updates_allowed=False,
        )
        assert [c.id for c in store.consents(verifier=CARSHARE)] == [ids.consent]
        assert [c.id for c in store.consents(status="active")] == [ids.consent, other.id]
        assert other.state(NOW) == "active" and other.state(NOW + 60) == "expired"

        revoked = store.revoke_consent(ids.consent, at=NOW + 5, anchor={"entry": 7})
        assert (revoked.status, revoked.revoked_at) == ("revoked", NOW + 5)
        assert revoked.revocation_anchor == {"entry": 7}
        assert revoked.state(NOW + 5) == "revoked"
        assert [c.id for c in store.consents(status="revoked")] == [ids.consent]
        with pytest.raises(ConsentError, match="already revoked"):
            store.revoke_consent(ids.consent)

        later = store.set_consent_anchor(other.id, grant={"entry": 9})
        assert later.grant_anchor == {"entry": 9} and store.consent(other.id) == later
        with pytest.raises(ValueError, match="not revoked"):
            store.set_consent_anchor(other.id, revocation={"entry": 10})


def test_history_per_counterpart_names_claims_not_values(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        fill(store)
        assert [e.outcome for e in store.history(CARSHARE)] == ["completed"]
        refused = store.history(BIKESHARE)
        assert [(e.kind, e.reason) for e in refused] == [("presentation", "not in the trust registry")]
        assert store.history(ISSUER)[0].claims == (("family_name",), ("address",))
        with pytest.raises(ValueError):
            store.log("gossip", outcome="completed")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            store.log("update", outcome="maybe")  # type: ignore[arg-type]
        with pytest.raises(MalformedInput):
            store.log("update", outcome="completed", claims=[[1.5]])  # type: ignore[list-item]


def test_a_failing_change_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with new_wallet(path) as store:
        ids = fill(store)
        before, contents = digest_of(path), store.contents()
        # The credential row and the first copy are written, then the second copy cannot be.
        copies = [
            NewCopy("a", ids.holders[0], "d", {"ok": 1}),
            NewCopy("b", ids.holders[1], "e", {"not JSON": {1, 2}}),
        ]
        with pytest.raises(TypeError):
            store.add_credential(vct="v", issuer=ISSUER, issued_at=NOW, expires_at=None, copies=copies)
        assert store.contents() == contents
    assert digest_of(path) == before


def test_nothing_personal_or_secret_is_in_the_file_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with new_wallet(path) as store:
        fill(store)
    raw = path.read_bytes()
    secrets = [NAME, ADDRESS, CARSHARE, BIKESHARE, ROOT_DID, "consent-digest", "not in the trust registry",
               "family_name", "kyc-rental"]
    for text in secrets:
        assert text.encode() not in raw, text
    for name in ("root", "next", "holder0", "pairwise-carshare"):
        seed = key(name).seed
        assert seed not in raw and b64url_encode(seed).encode() not in raw
    assert ISSUER.encode() in raw  # public facts about a credential stay queryable


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_wallet_and_backup_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    with new_wallet(tmp_path / "w.db") as store:
        fill(store)
        store.export_backup(tmp_path / "b", "backup passphrase", params=TEST_PARAMS)
        store.export_backup(tmp_path / "b", "backup passphrase", params=TEST_PARAMS, overwrite=True)
    for name in ("w.db", "b"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_creating_never_writes_over_a_file(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"my thesis")
    with pytest.raises(FileExistsError):
        new_wallet(path)
    assert path.read_bytes() == b"my thesis"


def test_an_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="must not be empty"):
        WalletStore.create(tmp_path / "w.db", "", params=TEST_PARAMS)
    assert not (tmp_path / "w.db").exists()


def test_a_closed_store_cannot_be_used(tmp_path: Path) -> None:
    store = new_wallet(tmp_path / "w.db")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        store.keys()


def test_the_passphrase_opens_it_again_and_nothing_else_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    new_wallet(path).close()
    with WalletStore.open(path, PASSPHRASE) as store:
        assert store.contents().keys == ()
