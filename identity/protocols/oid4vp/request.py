"""Signed Authorization Requests (OpenID4VP 1.0 section 5), built by the verifier, checked by the wallet.

akashi's profile: the verifier is identified by a DID with the Client
Identifier Prefix ``decentralized_identifier`` (section 5.9.3), so its
``client_id`` is ``decentralized_identifier:did:...``; the request travels
as a Request Object (RFC 9101) signed with EdDSA by a key of that DID, whose
DID URL is the ``kid``; ``response_type`` is ``vp_token``, ``response_mode``
``direct_post``, the query a ``dcql_query``, and ``client_metadata`` carries
``vp_formats_supported`` for ``dc+sd-jwt`` (Appendix B.3.4). ``aud`` is
``https://self-issued.me/v2`` (section 5.8, static discovery).

:func:`verify_request_object` applies these rules, in order:

1. The token is at most ``policy.max_length`` characters and a compact JWS.
2. ``typ`` is ``oauth-authz-req+jwt`` (section 5), ``alg`` ``EdDSA`` (no
   ``none``), no ``crit``; the signature verifies under the key the caller
   resolved from ``kid`` (read it first with :func:`request_object_kid_unverified`),
   over the received bytes.
3. ``kid`` is a DID URL (section 5.9.3: it names the key in the DID document).
4. Only then is the payload parsed: a JSON object without repeated names.
5. ``client_id`` equals the ``client_id`` of the request URL, prefix included
   (section 5.10.1), and the DID after ``decentralized_identifier:`` is the
   DID of ``kid`` — else :class:`BindingError`. ``iss``, if present, is ignored.
6. ``aud`` is ``policy.audience`` (a string, or an array holding it) — else
   :class:`BindingError`.
7. ``iat`` and ``exp`` are present; ``iat`` is not in the future nor older
   than ``policy.max_age``; ``exp`` has not passed and is at most
   ``policy.max_lifetime`` after ``iat`` (all with ``policy.skew``).
8. ``wallet_nonce`` equals the one the wallet sent, when it sent one
   (section 5.10.1).
9. ``transaction_data`` is refused (``invalid_transaction_data``: akashi knows
   no transaction data type); ``scope`` is refused (``invalid_request`` beside
   a ``dcql_query``, else ``invalid_scope``); ``redirect_uri`` is refused
   (``invalid_request``, section 8.2).
10. The payload satisfies ``specs/oid4vp-request-object.schema.json``; our
    profile requires ``response_mode`` ``direct_post`` with an https
    ``response_uri`` (plain http only on loopback) — else ``invalid_request``.
11. ``client_metadata.vp_formats_supported`` names ``dc+sd-jwt`` and, where
    it lists algorithms, one the wallet supports — else
    ``vp_formats_not_supported`` (section 8.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.did.url import parse_did, parse_did_url
from identity.errors import BindingError, MalformedInput
from identity.jose.jws import ALG, JwsVerifier, parse_compact_unverified, sign_jwt, verify_parsed
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.protocols.oid4vci.errors import INVALID_REQUEST, INVALID_SCOPE, OAuthError
from identity.protocols.oid4vci.urls import check_https_url
from identity.protocols.oid4vp.errors import INVALID_TRANSACTION_DATA, VP_FORMATS_NOT_SUPPORTED
from identity.schemas import validate

__all__ = [
    "DEFAULT_REQUEST_POLICY",
    "DID_PREFIX",
    "FORMAT_SD_JWT_VC",
    "REQUEST_OBJECT_TYP",
    "SELF_ISSUED_V2",
    "AuthorizationRequest",
    "RequestPolicy",
    "build_client_metadata",
    "build_request_object",
    "check_vp_formats",
    "client_id_for_did",
    "did_from_client_id",
    "request_object_kid_unverified",
    "verify_request_object",
]

REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
#: The ``aud`` of a Request Object under static discovery (section 5.8).
SELF_ISSUED_V2 = "https://self-issued.me/v2"
#: The Client Identifier Prefix of a verifier named by a DID (section 5.9.3).
DID_PREFIX = "decentralized_identifier:"
FORMAT_SD_JWT_VC = "dc+sd-jwt"


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """Limits a wallet applies to a Request Object (rules 1, 6, 7, 11)."""

    max_length: int = 64 * 1024
    audience: str = SELF_ISSUED_V2
    skew: int = 60
    max_age: int = 600
    max_lifetime: int = 3600
    alg_values: tuple[str, ...] = (ALG,)


DEFAULT_REQUEST_POLICY = RequestPolicy()


@dataclass(frozen=True)
class AuthorizationRequest:
    """A verified Authorization Request. ``raw`` is the whole payload, unknown claims included."""

    client_id: str
    verifier_did: str
    kid: str
    response_uri: str
    nonce: str
    state: str | None
    dcql_query: Mapping[str, Any]
    client_metadata: Mapping[str, Any]
    iat: int
    exp: int
    wallet_nonce: str | None
    raw: Mapping[str, Any]


def client_id_for_did(did: str) -> str:
    """``decentralized_identifier:<did>`` (section 5.9.3)."""
    return DID_PREFIX + parse_did(did, what="verifier DID")


def did_from_client_id(client_id: object) -> str:
    """The DID of a ``decentralized_identifier:`` Client Identifier.

    Any other prefix (or none: a pre-registered client) is not supported by
    akashi's wallet: ``invalid_request`` (section 8.5).
    """
    if not isinstance(client_id, str) or not client_id.startswith(DID_PREFIX):
        raise OAuthError(INVALID_REQUEST, "unsupported client identifier prefix")
    try:
        return parse_did(client_id[len(DID_PREFIX) :], what="client_id DID")
    except MalformedInput as exc:
        raise OAuthError(INVALID_REQUEST, "client_id is not a valid DID") from exc


def build_client_metadata(alg_values: Sequence[str] = (ALG,)) -> dict[str, Any]:
    """``client_metadata`` with ``vp_formats_supported`` for ``dc+sd-jwt`` (Appendix B.3.4)."""
    algs = list(alg_values)
    metadata = {
        "vp_formats_supported": {
            FORMAT_SD_JWT_VC: {"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs}
        }
    }
    validate(metadata, "oid4vp-client-metadata")
    return metadata


def build_request_object(
    key: Ed25519PrivateKey,
    kid: str,
    *,
    response_uri: str,
    nonce: str,
    state: str,
    dcql_query: Mapping[str, Any],
    now: int,
    lifetime: int = 300,
    client_metadata: Mapping[str, Any] | None = None,
    wallet_nonce: str | None = None,
    audience: str = SELF_ISSUED_V2,
) -> str:
    """Verifier side: the signed Request Object, ``client_id`` derived from the DID of ``kid``."""
    client_id = client_id_for_did(parse_did_url(kid, what="kid").did)
    check_https_url(response_uri, what="response_uri")
    claims: dict[str, Any] = {
        "client_id": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": response_uri,
        "nonce": nonce,
        "state": state,
        "dcql_query": dict(dcql_query),
        "client_metadata": dict(client_metadata or build_client_metadata()),
    }
    if wallet_nonce is not None:
        claims["wallet_nonce"] = wallet_nonce
    validate(claims, "oid4vp-request-object")
    return sign_jwt({"typ": REQUEST_OBJECT_TYP, "kid": kid}, claims, key)


def request_object_kid_unverified(token: str, *, max_length: int = DEFAULT_REQUEST_POLICY.max_length) -> str:
    """The ``kid`` DID URL of a Request Object, read before verification to resolve the key."""
    if not isinstance(token, str) or len(token) > max_length:
        raise MalformedInput(f"request object must be a string of at most {max_length} characters")
    header = parse_compact_unverified(token, what="request object").header
    return str(parse_did_url(header.get("kid"), what="request object kid"))


def check_vp_formats(client_metadata: Mapping[str, Any], alg_values: Sequence[str] = (ALG,)) -> None:
    """Rule 11: the verifier accepts ``dc+sd-jwt`` signed with an algorithm the wallet uses."""
    formats = client_metadata.get("vp_formats_supported", {})
    sd_jwt = formats.get(FORMAT_SD_JWT_VC)
    if not isinstance(sd_jwt, Mapping):
        raise OAuthError(VP_FORMATS_NOT_SUPPORTED, f"the verifier does not accept {FORMAT_SD_JWT_VC}")
    for name in ("sd-jwt_alg_values", "kb-jwt_alg_values"):
        accepted = sd_jwt.get(name)
        if accepted is not None and not set(accepted) & set(alg_values):
            raise OAuthError(VP_FORMATS_NOT_SUPPORTED, f"no algorithm of {name} is supported")


def _check_parameters(claims: Mapping[str, Any]) -> None:
    # rule 9
    if "transaction_data" in claims:
        raise OAuthError(INVALID_TRANSACTION_DATA, "transaction data types are not supported")
    if "scope" in claims:
        if "dcql_query" in claims:
            raise OAuthError(INVALID_REQUEST, "both dcql_query and scope are present")
        raise OAuthError(INVALID_SCOPE, "scope aliases for DCQL queries are not supported")
    if "redirect_uri" in claims:
        raise OAuthError(INVALID_REQUEST, "redirect_uri must not be present with direct_post")
    # rule 10
    if claims.get("response_mode") != "direct_post" or "response_uri" not in claims:
        raise OAuthError(INVALID_REQUEST, "only response_mode direct_post with a response_uri is supported")
    if "client_metadata" not in claims:
        raise OAuthError(INVALID_REQUEST, "client_metadata is required with a decentralized_identifier")
    validate(dict(claims), "oid4vp-request-object")
    check_https_url(claims["response_uri"], what="response_uri")


def _check_audience(aud: object, expected: str) -> None:
    # rule 6; RFC 7519 section 4.1.3: a string or an array of strings
    if aud == expected or (isinstance(aud, list) and expected in aud):
        return
    raise BindingError("request object is meant for another audience")


def verify_request_object(
    token: str,
    key: Ed25519PublicKey | JwsVerifier,
    *,
    expected_client_id: str,
    now: int | float,
    wallet_nonce: str | None = None,
    policy: RequestPolicy = DEFAULT_REQUEST_POLICY,
) -> AuthorizationRequest:
    """Wallet side: rules 1-11 on a Request Object fetched from ``request_uri``; return it or raise."""
    if not isinstance(token, str) or len(token) > policy.max_length:  # rule 1
        raise MalformedInput(f"request object must be a string of at most {policy.max_length} characters")
    jws = parse_compact_unverified(token, what="request object")
    verify_parsed(jws, key, typ=REQUEST_OBJECT_TYP, what="request object")  # rule 2
    kid = parse_did_url(jws.header.get("kid"), what="request object kid")  # rule 3
    claims = jws.payload_json(what="request object claims")  # rule 4
    client_id = claims.get("client_id")
    if client_id != expected_client_id:  # rule 5
        raise BindingError("request object client_id differs from the request's client_id")
    if did_from_client_id(client_id) != kid.did:
        raise BindingError("request object is not signed by a key of the client_id's DID")
    _check_audience(claims.get("aud"), policy.audience)  # rule 6
    check_time_claims(  # rule 7
        claims,
        now,
        TimePolicy(skew=policy.skew, max_iat_age=policy.max_age, require=frozenset({"iat", "exp"})),
        what="request object",
    )
    if claims["exp"] - claims["iat"] > policy.max_lifetime:
        raise MalformedInput(f"request object lives longer than {policy.max_lifetime} s")
    if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:  # rule 8
        raise BindingError("request object does not carry the wallet_nonce")
    _check_parameters(claims)  # rules 9-10
    check_vp_formats(claims["client_metadata"], policy.alg_values)  # rule 11
    return AuthorizationRequest(
        client_id=client_id,
        verifier_did=kid.did,
        kid=str(kid),
        response_uri=claims["response_uri"],
        nonce=claims["nonce"],
        state=claims.get("state"),
        dcql_query=claims["dcql_query"],
        client_metadata=claims["client_metadata"],
        iat=int(claims["iat"]),
        exp=int(claims["exp"]),
        wallet_nonce=claims.get("wallet_nonce"),
        raw=claims,
    )
