"""Every JSON Schema in specs/ is a valid 2020-12 schema, named for its file, and loadable."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from identity.errors import SchemaViolation
from identity.schemas import SPECS_DIR, schema_names, validate


@pytest.mark.parametrize("name", schema_names())
def test_schema_is_valid_and_named_for_its_file(name: str) -> None:
    schema = json.loads((SPECS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://akashi.example/specs/{name}.schema.json"
    assert schema.get("title"), "every schema says what it describes"


def test_every_wire_object_of_the_core_has_a_schema() -> None:
    expected = {
        "ledger-envelope",
        "inclusion-proof",
        "consistency-proof",
        "did-document",
        "did-key-event",
        "status-list-token",
        "status-reference",
        "verified-claims-jp-aml",
        "kyc-credential-claims",
        "licence-credential-claims",
        "consent-receipt",
        "customer-update",
        "update-ack",
        "kb-jwt-claims",
        "sd-jwt-header",
    }
    assert expected <= set(schema_names())


def test_unknown_schema_is_a_programming_error() -> None:
    with pytest.raises(LookupError):
        validate({}, "no-such-schema")


def test_violation_names_the_schema_and_the_field() -> None:
    with pytest.raises(SchemaViolation) as caught:
        validate({"kty": "OKP"}, "consent-receipt")
    assert caught.value.schema == "consent-receipt"
    assert "consent-receipt" in str(caught.value)


def test_a_trailing_newline_does_not_slip_past_an_anchored_pattern() -> None:
    claims = {"iat": 1, "aud": "did:x", "nonce": "n", "sd_hash": "A" * 43}
    validate(claims, "kb-jwt-claims")
    with pytest.raises(SchemaViolation, match="/sd_hash"):
        validate({**claims, "sd_hash": "A" * 43 + "\n"}, "kb-jwt-claims")


def test_cross_file_references_are_followed() -> None:
    # kyc-credential-claims refers into verified-claims-jp-aml.schema.json.
    with pytest.raises(SchemaViolation):
        validate(
            {
                "iss": "did:x",
                "vct": "v",
                "iat": 1,
                "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43}},
                "verified_claims": {
                    "verification": {
                        "trust_framework": "jp_aml",
                        "time": "not a time",
                        "evidence": [{"type": "document"}],
                    }
                },
            },
            "kyc-credential-claims",
        )
