"""The issuer over its real HTTP contract, anchoring on a real registry node, both in
process: a wallet that knows only OpenID4VCI 1.0 and SD-JWT VC gets verifiable,
anchored credentials; refusals use the specification's errors; nothing personal
reaches the ledger, and the offer's personal data is gone once redeemed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from issuer_world import NOW, PERSONAL, World, der, make_world
from starlette.testclient import TestClient

from identity.credentials.sdjwt import present, verify
from identity.credentials.status_list import INVALID, verify_status_list_token
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.jose.jwk import public_key_from_jwk
from identity.ledger.merkle import leaf_hash
from identity.ledger.proofs import parse_inclusion_proof
from identity.protocols.oid4vci.offer import parse_offer_url
from identity.protocols.oid4vci.proof import build_proof_jwt
from identity.protocols.oid4vci.token import build_token_request
from issuer.app import create_app
from issuer.evidence.testca import sign_challenge
from registry.app import create_app as create_registry_app
from registry.client import ClientTrust, RegistryClient
from registry.config import RegistryConfig
from registry.genesis import sign_member_entry
from registry.service import Service, init_data_dir, open_service, read_private_key
from registry.state import Member

FORM = {"content-type": "application/x-www-form-urlencoded"}


class Setup:
    def __init__(self, folder: Path) -> None:
        config = RegistryConfig(data_dir=folder / "registry")
        result = init_data_dir(config, origin="akashi.test/registry", governance_keys=3, threshold=2)
        governance = [read_private_key(p) for p in result.governance_key_files]
        self.registry: Service = open_service(config, clock=lambda: NOW.timestamp())
        self.registry_http = TestClient(create_registry_app(self.registry.node))
        trust = ClientTrust.from_genesis(self.registry.genesis, [self.registry.witness_verifier.vkey], 1)
        self.ledger = RegistryClient(client=self.registry_http, trust=trust, clock=lambda: NOW.timestamp())
        self.world: World = make_world(folder, ledger=self.ledger)
        issuer = self.world.issuer
        self.ledger.submit(issuer.identity.did_create_entry())
        member = Member(
            issuer.identity.did,
            "issuer",
            "株式会社テスト本人確認",
            "4010001234567",
            1,
            evidence_methods=("jpki", "drivers_licence_ic"),
        )
        self.ledger.submit(sign_member_entry("member.add", member.to_body(), governance[:2]))
        self.http = TestClient(create_app(issuer), raise_server_exceptions=False)
        self.admin = {"authorization": "Bearer " + self.world.admin_token}

    def close(self) -> None:
        self.ledger.close()
        self.world.issuer.close()
        self.registry.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.close()


def jpki_offer(s: Setup, *, tx_code: bool = False) -> dict[str, Any]:
    challenge = s.http.post("/admin/challenges", headers=s.admin).json()
    signature = sign_challenge(s.world.card.key, base64.urlsafe_b64decode(challenge["challenge"]))
    body = {
        "challenge_id": challenge["id"],
        "certificate": base64.b64encode(der(s.world.card.certificate)).decode(),
        "signature": base64.b64encode(signature).decode(),
        "operator": "counter-1",
        "tx_code": tx_code,
    }
    response = s.http.post("/admin/checks/jpki", json=body, headers=s.admin)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def wallet_redeem(
    s: Setup, offer_url: str, holders: list[Ed25519PrivateKey], tx_code: str | None = None
) -> Any:
    """What a wallet does with only the specifications: follow the offer to metadata, token,
    nonce and credential endpoints."""
    reference = parse_offer_url(offer_url)
    offer = reference.offer
    assert offer is not None
    base = offer.credential_issuer
    metadata = s.http.get(
        base.removeprefix(s.world.issuer.url) + "/.well-known/openid-credential-issuer"
    ).json()
    token_endpoint = s.http.get("/.well-known/oauth-authorization-server").json()["token_endpoint"]
    token = s.http.post(
        token_endpoint.removeprefix(base),
        content=build_token_request(offer.pre_authorized_code or "", tx_code=tx_code),
        headers=FORM,
    )
    if token.status_code != 200:
        return token
    nonce = s.http.post(metadata["nonce_endpoint"].removeprefix(base)).json()["c_nonce"]
    proofs = [build_proof_jwt(k, audience=base, iat=int(NOW.timestamp()), nonce=nonce) for k in holders]
    request = {
        "credential_configuration_id": offer.credential_configuration_ids[0],
        "proofs": {"jwt": proofs},
    }
    return s.http.post(
        metadata["credential_endpoint"].removeprefix(base),
        json=request,
        headers={"authorization": "Bearer " + token.json()["access_token"]},
    )


def test_a_wallet_gets_anchored_verifiable_credentials(setup: Setup) -> None:
    offer = jpki_offer(setup)
    holders = [Ed25519PrivateKey.generate() for _ in range(3)]
    response = wallet_redeem(setup, offer["offer_url"], holders)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    credentials = response.json()["credentials"]
    assert len(credentials) == 3
    jwks = setup.http.get("/.well-known/jwt-vc-issuer").json()["jwks"]["keys"]
    issuer_key = public_key_from_jwk({k: v for k, v in jwks[0].items() if k in ("kty", "crv", "x")})
    now = int(NOW.timestamp())
    statuses = set()
    for holder, item in zip(holders, credentials, strict=True):
        presentation = present(
            item["credential"], [("age_over_20",)], holder_key=holder, nonce="n", aud="v", iat=now
        )
        result = verify(presentation, issuer_key, now=now, nonce="n", aud="v")
        assert result.claims["age_over_20"] is True
        assert result.claims["verified_claims"]["verification"]["evidence"] == [
            {"type": "electronic_signature", "jp_aml_method": "ワ"}
        ]
        statuses.add(result.claims["status"]["status_list"]["idx"])
        anchor = item["akashi_anchor"]
        proof = parse_inclusion_proof(json.dumps(anchor["inclusion_proof"]))
        root = setup.registry.node.root(proof.tree_size)
        proof.verify(leaf_hash(canonicalize(anchor["entry"])), root)
        assert setup.ledger.attestation(anchor["entry"]["body"]["digest"]).record.method == "jpki"
    assert len(statuses) == 3, "each copy has its own status index (unlinkable copies)"
    by_reference = setup.http.get(
        offer["offer_url_by_reference"]
        .split("credential_offer_uri=")[1]
        .replace("%3A", ":")
        .replace("%2F", "/")
        .removeprefix(setup.world.issuer.url)
    )
    assert by_reference.status_code == 200


def test_the_offer_is_single_use_and_its_personal_data_is_deleted(setup: Setup) -> None:
    offer = jpki_offer(setup)
    assert wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()]).status_code == 200
    again = wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    stored = b"".join(p.read_bytes() for p in (setup.world.folder / "issuer").glob("issuer.db*"))
    for value in PERSONAL:
        assert value.encode() not in stored
    assert setup.world.issuer.store.offer_state(offer["offer_id"]) == "issued"


def test_transaction_code(setup: Setup) -> None:
    offer = jpki_offer(setup, tx_code=True)
    assert offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
        "tx_code"
    ]
    wrong = wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()], tx_code="000000")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()], tx_code=offer["tx_code"])
    assert right.status_code == 200


def _token_and_nonce(s: Setup) -> tuple[str, str]:
    offer = jpki_offer(s)
    code = offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
        "pre-authorized_code"
    ]
    token = s.http.post("/token", content=build_token_request(code), headers=FORM).json()["access_token"]
    nonce = s.http.post("/nonce").json()["c_nonce"]
    return token, nonce


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"nonce": "not-a-nonce-we-gave"}, "invalid_nonce"),
        ({"audience": "https://another-issuer.example"}, "invalid_proof"),
        ({"iat": int(NOW.timestamp()) - 3600}, "invalid_proof"),
    ],
    ids=["wrong nonce", "wrong audience", "stale proof"],
)
def test_bad_proofs_get_the_specified_errors(setup: Setup, change: dict[str, Any], error: str) -> None:
    token, nonce = _token_and_nonce(setup)
    args: dict[str, Any] = {"audience": setup.world.issuer.url, "iat": int(NOW.timestamp()), "nonce": nonce}
    args.update(change)
    proof = build_proof_jwt(Ed25519PrivateKey.generate(), **args)
    response = setup.http.post(
        "/credential",
        json={"credential_configuration_id": "akashi_kyc", "proofs": {"jwt": [proof]}},
        headers={"authorization": "Bearer " + token},
    )
    assert response.status_code == 400 and response.json()["error"] == error


def test_a_nonce_proves_one_request_only(setup: Setup) -> None:
    token, nonce = _token_and_nonce(setup)
    proof = build_proof_jwt(
        Ed25519PrivateKey.generate(), audience=setup.world.issuer.url, iat=int(NOW.timestamp()), nonce=nonce
    )
    body = {"credential_configuration_id": "akashi_kyc", "proofs": {"jwt": [proof]}}
    first = setup.http.post("/credential", json=body, headers={"authorization": "Bearer " + token})
    assert first.status_code == 200
    token2, _ = _token_and_nonce(setup)
    replay = setup.http.post("/credential", json=body, headers={"authorization": "Bearer " + token2})
    assert replay.json()["error"] == "invalid_nonce"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("post", "/token", b"grant_type=password", FORM),
        ("post", "/token", b"{}", {"content-type": "application/json"}),
        (
            "post",
            "/token",
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code",
            FORM,
        ),
        ("post", "/credential", b"{}", {"content-type": "application/json"}),
        (
            "post",
            "/credential",
            b"not json",
            {"content-type": "application/json", "authorization": "Bearer x"},
        ),
        ("post", "/credential", b"{}", {"content-type": "application/json", "authorization": "Bearer nope"}),
        ("get", "/status/nope", b"", {}),
        ("get", "/vct/nope", b"", {}),
        ("get", "/offers/nope", b"", {}),
        ("post", "/admin/challenges", b"", {}),
        ("post", "/admin/challenges", b"", {"authorization": "Bearer wrong"}),
    ],
)
def test_malformed_requests_get_errors_never_500(
    setup: Setup, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    response = setup.http.request(method, path, content=body or None, headers=headers)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)


def test_evidence_failures_issue_nothing(setup: Setup) -> None:
    challenge = setup.http.post("/admin/challenges", headers=setup.admin).json()
    bad_signature = sign_challenge(setup.world.card.key, b"another challenge")
    body = {
        "challenge_id": challenge["id"],
        "certificate": base64.b64encode(der(setup.world.card.certificate)).decode(),
        "signature": base64.b64encode(bad_signature).decode(),
    }
    response = setup.http.post("/admin/checks/jpki", json=body, headers=setup.admin)
    assert response.status_code == 422 and response.json()["type"].endswith("/invalid-signature")
    replay = setup.http.post("/admin/checks/jpki", json=body, headers=setup.admin)
    assert replay.status_code == 422 and replay.json()["type"].endswith("/binding")
    assert setup.http.get("/admin/credentials", headers=setup.admin).json()["credentials"] == []


def test_revocation_reaches_the_status_list_and_the_ledger(setup: Setup) -> None:
    offer = jpki_offer(setup)
    response = wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()])
    digest = response.json()["credentials"][0]["akashi_anchor"]["entry"]["body"]["digest"]
    answer = setup.http.post(f"/admin/credentials/{digest}/revoke", headers=setup.admin)
    assert answer.status_code == 200 and answer.json()["anchored"] >= 1
    listed = setup.http.get("/admin/credentials", headers=setup.admin).json()["credentials"]
    assert listed[0]["status"] == "invalid"
    reference = setup.world.issuer.status.credential(digest).reference
    token = setup.http.get(reference.uri.removeprefix(setup.world.issuer.url))
    assert token.headers["content-type"].startswith("application/statuslist+jwt")
    verified = verify_status_list_token(
        token.text, setup.world.issuer.identity.signing_key.public_key, uri=reference.uri, now=NOW.timestamp()
    )
    assert verified.status_list.get(reference.idx) == INVALID
    assert setup.http.post(f"/admin/credentials/{digest}/reinstate", headers=setup.admin).status_code == 422


def test_no_personal_data_reaches_the_registry(setup: Setup) -> None:
    offer = jpki_offer(setup)
    wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate() for _ in range(2)])
    stored = b"".join(p.read_bytes() for p in (setup.world.folder / "registry").rglob("*.db*"))
    for value in PERSONAL:
        assert value.encode() not in stored, value


def test_a_licence_check_offers_kyc_and_a_separate_licence_credential(setup: Setup) -> None:
    data, signature = setup.world.licence
    body = {
        "data": base64.b64encode(data).decode(),
        "signature": base64.b64encode(signature).decode(),
        "face_compared": True,
        "operator": "counter-2",
    }
    offer = setup.http.post("/admin/checks/licence", json=body, headers=setup.admin).json()
    assert offer["credential_offer"]["credential_configuration_ids"] == ["akashi_kyc", "akashi_licence"]
    grant = offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    token = setup.http.post(
        "/token", content=build_token_request(grant["pre-authorized_code"]), headers=FORM
    ).json()
    auth = {"authorization": "Bearer " + token["access_token"]}
    holder = Ed25519PrivateKey.generate()
    now = int(NOW.timestamp())
    issued = {}
    for configuration in ("akashi_licence", "akashi_kyc"):
        nonce = setup.http.post("/nonce").json()["c_nonce"]
        proof = build_proof_jwt(holder, audience=setup.world.issuer.url, iat=now, nonce=nonce)
        answer = setup.http.post(
            "/credential",
            json={"credential_configuration_id": configuration, "proofs": {"jwt": [proof]}},
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        issued[configuration] = answer.json()["credentials"][0]["credential"]
        # Both are anchored under the check that produced them: a licence IC check (ヘ), also
        # for the KYC credential (a verifier refuses an anchor naming another method).
        anchor = answer.json()["credentials"][0]["akashi_anchor"]
        assert anchor["entry"]["body"]["method"] == "drivers_licence_ic", configuration
    key = setup.world.issuer.identity.signing_key.public_key
    # A car-sharing operator asks the licence credential for the category and expiry only.
    shown = present(
        issued["akashi_licence"],
        [("categories", None), ("date_of_expiry",)],
        holder_key=holder,
        nonce="n",
        aud="v",
        iat=now,
    )
    claims = verify(shown, key, now=now, nonce="n", aud="v").claims
    assert claims["categories"] == ["普通"] and claims["date_of_expiry"] == "2029-08-15"
    assert "document_number" not in claims and "family_name" not in claims
    kyc = verify(
        present(issued["akashi_kyc"], [], holder_key=holder, nonce="n", aud="v", iat=now),
        key,
        now=now,
        nonce="n",
        aud="v",
    ).claims
    assert kyc["verified_claims"]["verification"]["evidence"] == [{"type": "document", "jp_aml_method": "ヘ"}]
    # Both issued: the offer's personal data is gone, and the token cannot issue again.
    assert setup.world.issuer.store.offer_state(offer["offer_id"]) == "issued"
    nonce = setup.http.post("/nonce").json()["c_nonce"]
    again = setup.http.post(
        "/credential",
        json={
            "credential_configuration_id": "akashi_kyc",
            "proofs": {
                "jwt": [build_proof_jwt(holder, audience=setup.world.issuer.url, iat=now, nonce=nonce)]
            },
        },
        headers=auth,
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_token"


def test_cli_testca_init_check_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from issuer.cli import main

    ca, data = tmp_path / "ca", tmp_path / "data"
    assert main(["testca", "--out", str(ca)]) == 0
    assert (
        main(
            [
                "init",
                "--data",
                str(data),
                "--jpki-root",
                str(ca / "jpki-root.pem"),
                "--jpki-crl",
                str(ca / "jpki-root.crl.pem"),
                "--licence-authority",
                str(ca / "licence-authority.pem"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["check", "jpki", "--data", str(data), "--card", str(ca / "card"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["offer_url"].startswith("openid-credential-offer://")
    assert (
        main(["check", "licence", "--data", str(data), "--licence", str(ca / "licence-301234567890.json")])
        == 0
    )
    assert main(["list", "--data", str(data)]) == 0
    assert main(["revoke", "--data", str(data), "no-such-credential"]) == 1
    assert "akashi-issuer: " in capsys.readouterr().err


def test_admin_fields_of_the_wrong_type_are_a_400(setup: Setup) -> None:
    challenge = setup.http.post("/admin/challenges", headers=setup.admin).json()
    body = {"challenge_id": challenge["id"], "certificate": "AAAA", "signature": "AAAA", "intermediates": 5}
    response = setup.http.post("/admin/checks/jpki", json=body, headers=setup.admin)
    assert response.status_code == 400 and "intermediates" in response.json()["detail"]
    response = setup.http.post(
        "/admin/checks/jpki", json={**body, "intermediates": [], "tx_code": "false"}, headers=setup.admin
    )
    assert response.status_code == 400 and "tx_code" in response.json()["detail"]


def test_an_expired_offer_loses_its_personal_data(setup: Setup) -> None:
    offer = jpki_offer(setup)
    setup.world.clock[0] += setup.world.issuer.config.offer_ttl + 1
    jpki_offer(setup)  # any new offer purges the expired ones
    assert setup.world.issuer.store.offer_state(offer["offer_id"]) == "expired"
    assert (
        wallet_redeem(setup, offer["offer_url"], [Ed25519PrivateKey.generate()]).json()["error"]
        == "invalid_grant"
    )


def test_a_credential_works_with_an_independent_sd_jwt_implementation(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What we issue, another implementation (the sd-jwt reference package) can hold, present
    and verify: the credential format is the standard one, nothing akashi-specific."""
    from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
    from sd_jwt import verifier as reference_verifier
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.verifier import SDJWTVerifier

    from identity.jose.jwk import private_key_to_jwk, public_key_to_jwk

    monkeypatch.setattr(reference_verifier, "DEFAULT_SIGNING_ALG", "EdDSA")  # 0.10.4 assumes ES256
    holder = Ed25519PrivateKey.generate()
    offer = jpki_offer(setup)
    credential = wallet_redeem(setup, offer["offer_url"], [holder]).json()["credentials"][0]["credential"]
    wallet = SDJWTHolder(credential)
    wallet.create_presentation(
        {"age_over_20": True, "verified_claims": {"claims": {"family_name": True}}},
        nonce="n-1",
        aud="did:key:z6MkOperator",
        holder_key=JWK.from_json(json.dumps(private_key_to_jwk(holder))),
        sign_alg="EdDSA",
    )
    issuer_public = JWK.from_json(
        json.dumps(public_key_to_jwk(setup.world.issuer.identity.signing_key.public_key))
    )
    checked = SDJWTVerifier(
        wallet.sd_jwt_presentation,
        lambda iss, header: issuer_public,
        expected_aud="did:key:z6MkOperator",
        expected_nonce="n-1",
    ).get_verified_payload()
    assert checked["age_over_20"] is True
    assert checked["verified_claims"]["claims"] == {"family_name": "山田"}
    assert checked["iss"] == setup.world.issuer.identity.did
