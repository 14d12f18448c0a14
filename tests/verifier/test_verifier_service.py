"""The verifier service end to end, in process over its HTTP contract: an operator opens a
request for a policy, a wallet that follows only OpenID4VP 1.0 (with DCQL) and SD-JWT VC
answers it, the customer's KYC status is recorded with proofs, exported for APPI, and
flips when the issuer revokes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from issuer_world import NOW
from starlette.testclient import TestClient
from test_issuer_http import Setup, jpki_offer, wallet_redeem

from identity.credentials.sdjwt import parse_claims_unverified, present
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.document import signing_key
from identity.protocols.dcql import Candidate, parse_dcql_query, select_credentials
from identity.protocols.oid4vp import (
    build_authorization_response,
    build_error_response,
    parse_request_url,
    verify_request_object,
)
from registry.genesis import sign_member_entry
from registry.service import read_private_key
from registry.state import Member, Purpose
from verifier.app import create_app
from verifier.config import VerifierConfig
from verifier.export import verify_export
from verifier.identity import create_identity
from verifier.policies import default_policies, parse_policies
from verifier.requests import RequestStore
from verifier.service import Verifier

T = int(NOW.timestamp())
FORM = {"content-type": "application/x-www-form-urlencoded"}


class World:
    def __init__(self, folder: Path) -> None:
        self.setup = Setup(folder)
        issuer = self.setup.world.issuer
        identity, token = create_identity(folder / "verifier")
        self.admin = {"authorization": "Bearer " + token}
        ledger = self.setup.ledger
        ledger.submit(identity.did_create_entry())
        purposes = tuple(
            Purpose(pid, text)
            for pid, text in (
                ("car-sharing", "カーシェア会員登録時の本人確認"),
                ("space-sharing", "スペース利用者の本人・年齢確認"),
                ("parcel-locker", "宅配ロッカーの受取人確認"),
            )
        )
        member = Member(identity.did, "verifier", "株式会社カーシェア", "2120901007402", 1, purposes=purposes)
        governance = [read_private_key(p) for p in sorted((folder / "registry" / "governance").iterdir())]
        ledger.submit(sign_member_entry("member.add", member.to_body(), governance[:2]))
        config = replace(VerifierConfig(data_dir=folder / "verifier"), port=8472)
        self.verifier = Verifier(
            config,
            identity,
            ledger=ledger,
            policies=parse_policies(default_policies()),
            issuers=[issuer.url],
            fetch_status_list=lambda uri: issuer.status_token(uri.rsplit("/", 1)[1]),
            clock=lambda: T,
        )
        self.http = TestClient(create_app(self.verifier), raise_server_exceptions=False)
        self.holder = Ed25519PrivateKey.generate()
        answer = wallet_redeem(self.setup, jpki_offer(self.setup)["offer_url"], [self.holder]).json()
        self.credential: str = answer["credentials"][0]["credential"]
        self.digest: str = answer["credentials"][0]["akashi_anchor"]["entry"]["body"]["digest"]

    def last_body_for_replay(self) -> str:
        return str(self.last_body)

    def wallet_answer(self, url: str, *, refuse: bool = False) -> Any:
        """A wallet: fetch and verify the request object, select by DCQL, present, post."""
        reference = parse_request_url(url)
        request_object = self.http.get(reference.request_uri.removeprefix(self.verifier.url)).text
        verifier_did = self.verifier.identity.did
        document = self.setup.ledger.resolve_did(verifier_did).document
        assert document is not None
        key = signing_key(document, self.verifier.identity.kid, relationship="authentication")
        request = verify_request_object(request_object, key, expected_client_id=reference.client_id, now=T)
        if refuse:
            body = build_error_response("access_denied", state=request.state)
            return self.http.post("/oid4vp/response", content=body, headers=FORM)
        query = parse_dcql_query(request.dcql_query)
        candidates = [
            Candidate(
                parse_claims_unverified(self.credential)["vct"], parse_claims_unverified(self.credential)
            )
        ]
        selection = select_credentials(query, candidates)
        vp_token = {
            query_id: [
                present(
                    self.credential,
                    paths,
                    holder_key=self.holder,
                    nonce=request.nonce,
                    aud=request.client_id,
                    iat=T,
                )
                for _, paths in chosen
            ]
            for query_id, chosen in selection.items()
        }
        body = build_authorization_response(vp_token, request.state or "")
        self.last_body = body
        return self.http.post("/oid4vp/response", content=body, headers=FORM)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.verifier.close()
    w.setup.close()


def test_space_sharing_verifies_a_plain_wallet_and_records_the_customer(world: World) -> None:
    opened = world.http.post("/admin/requests", json={"policy": "space-sharing"}, headers=world.admin)
    assert opened.status_code == 201, opened.text
    answer = world.wallet_answer(opened.json()["url"])
    assert answer.status_code == 200, answer.text
    customers = world.http.get("/admin/customers", headers=world.admin).json()["customers"]
    assert len(customers) == 1 and customers[0]["status"] == "verified"
    customer = customers[0]["customer"]
    status = world.http.get(f"/customers/{customer}/kyc", headers=world.admin).json()
    assert status["status"] == "verified" and status["methods"] == ["jpki"]
    # The APPI records verify offline against the ledger's checkpoints.
    export = world.http.get("/admin/export", params={"format": "jsonl"}, headers=world.admin)
    path = Path(world.verifier.config.data_dir) / "appi.jsonl"
    path.write_bytes(export.content)
    genesis = world.setup.registry.genesis
    report = verify_export(
        path, log_key_vkey=genesis.log_key, witness_vkeys=[world.setup.registry.witness_verifier.vkey], k=1
    )
    assert report.ok and report.rows == 1
    # The issuer revokes: a recheck flips the customer's status.
    world.setup.world.issuer.change_status(world.digest, "revoke")
    changes = world.http.post("/admin/recheck", headers=world.admin).json()["changes"]
    assert changes and changes[0]["status"] == "revoked"
    assert world.http.get(f"/customers/{customer}/kyc", headers=world.admin).json()["status"] == "revoked"


def test_a_request_is_answered_once(world: World) -> None:
    url = world.http.post("/admin/requests", json={"policy": "space-sharing"}, headers=world.admin).json()[
        "url"
    ]
    assert world.wallet_answer(url).status_code == 200
    replayed = world.http.post("/oid4vp/response", content=world.last_body_for_replay(), headers=FORM)
    assert replayed.status_code == 422 and replayed.json()["type"].endswith("/binding")
    assert len(world.http.get("/admin/customers", headers=world.admin).json()["customers"]) == 1


def test_car_sharing_asks_for_a_licence_and_a_consent_receipt(world: World) -> None:
    from identity.errors import PolicyError

    url = world.http.post("/admin/requests", json={"policy": "car-sharing"}, headers=world.admin).json()[
        "url"
    ]
    reference = parse_request_url(url)
    request_object = world.http.get(reference.request_uri.removeprefix(world.verifier.url)).text
    document = world.setup.ledger.resolve_did(world.verifier.identity.did).document
    assert document is not None
    key = signing_key(document, world.verifier.identity.kid, relationship="authentication")
    request = verify_request_object(request_object, key, expected_client_id=reference.client_id, now=T)
    assert request.client_metadata["akashi_consent_request"]["receipt_required"] is True
    # A wallet holding only the KYC credential cannot satisfy it (the licence is required).
    with pytest.raises(PolicyError, match="licence"):
        world.wallet_answer(url)
    assert world.http.get("/admin/customers", headers=world.admin).json()["customers"] == []


def test_a_refusal_closes_the_request(world: World) -> None:
    url = world.http.post("/admin/requests", json={"policy": "space-sharing"}, headers=world.admin).json()[
        "url"
    ]
    assert world.wallet_answer(url, refuse=True).status_code == 200
    assert world.http.get("/admin/customers", headers=world.admin).json()["customers"] == []


def test_the_operator_api_needs_the_token(world: World) -> None:
    response = world.http.post("/admin/requests", json={"policy": "space-sharing"})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert world.http.post("/admin/requests", json={"policy": "nope"}, headers=world.admin).status_code == 404
    assert world.http.post("/oid4vp/response", content=b"garbage", headers=FORM).status_code == 400


def test_a_data_folder_from_before_the_merge_keeps_its_open_requests(world: World) -> None:
    """An older version kept requests in requests.db beside customers.db: the verifier adopts
    them when it opens the folder, and a request opened before the upgrade is answered."""
    old, config = world.verifier, world.verifier.config
    old.close()
    with sqlite3.connect(config.path("customers.db")) as conn:  # the old customers.db had no requests
        conn.execute("DROP TABLE transactions")
    legacy = RequestStore(config.path("requests.db"), old.clock)
    opened = legacy.create(
        old.policies["space-sharing"], client_id=old.identity.client_id, response_uri=old.response_uri,
        signing_key=old.identity.signing_key, kid=old.identity.kid, issuers=old.vct_values,
    )  # fmt: skip
    legacy.close()
    world.verifier = Verifier(
        config, old.identity, ledger=old.ledger, policies=old.policies,
        issuers=[world.setup.world.issuer.url], fetch_status_list=old.fetch_status_list, clock=old.clock,
    )  # fmt: skip
    world.http = TestClient(create_app(world.verifier), raise_server_exceptions=False)
    assert not config.path("requests.db").exists() and config.path("requests.db.migrated").exists()
    assert world.wallet_answer(opened.url).status_code == 200
    customers = world.http.get("/admin/customers", headers=world.admin).json()["customers"]
    assert [c["status"] for c in customers] == ["verified"]
