"""did:key for Ed25519 (W3C CCG "The did:key Method v0.7", "Operations" › "Create").

akashi uses did:key for people's pairwise identifiers and holder-binding keys.
The DID is ``did:key:`` + the Ed25519 Multikey (``z6Mk…``, see
:mod:`identity.did.multikey`). Reading it ("Document Creation Algorithm" and the
algorithms it calls) follows these rules:

1. Exactly three colon-separated parts ``did``, ``key`` and a ``z`` multibase
   value. The optional version part (``did:key:1:z…``) is refused: it would give
   the same key a second spelling, and a pairwise identifier must have one.
2. The multicodec is ``ed25519-pub``; any other key type is
   :class:`UnsupportedAlgorithm` (akashi signs with Ed25519 only).
3. The key is 32 bytes (``invalidPublicKeyLength``) and a valid point
   (``invalidPublicKey``) — both :class:`MalformedInput`.
4. The verification method id is ``<did>#<multibase value>``; it is referenced
   from ``authentication``, ``assertionMethod``, ``capabilityInvocation`` and
   ``capabilityDelegation``.
5. With encryption key derivation (on by default here, an option in the spec),
   the X25519 key is derived from the Ed25519 key ("Derive Encryption Key
   Algorithm": Edwards point → Montgomery u), added to ``verificationMethod`` as
   ``<did>#z6LS…`` and referenced from ``keyAgreement``.
6. ``publicKeyFormat`` is ``Multikey`` (default; ``publicKeyMultibase``) or
   ``JsonWebKey2020`` (``publicKeyJwk``, RFC 8037); ``@context`` gets the
   matching context URL ("Context Creation Algorithm"; Multikey's context is
   the one W3C Controlled Identifiers 1.0 later defined).
"""

from __future__ import annotations

from typing import Any, Literal

from identity.crypto.keys import Ed25519PublicKey, X25519PublicKey
from identity.did.multikey import ed25519_from_multikey, encode_multikey
from identity.did.url import parse_did
from identity.errors import MalformedInput
from identity.jose.jwk import public_key_to_jwk

__all__ = [
    "DID_CONTEXT",
    "KEY_FORMAT_CONTEXTS",
    "SIGNING_RELATIONSHIPS",
    "PublicKeyFormat",
    "did_key_from_public_key",
    "public_key_from_did_key",
    "resolve_did_key",
    "verification_method",
]

PublicKeyFormat = Literal["Multikey", "JsonWebKey2020"]

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
KEY_FORMAT_CONTEXTS: dict[str, str] = {
    "Multikey": "https://w3id.org/security/multikey/v1",
    "JsonWebKey2020": "https://w3id.org/security/suites/jws-2020/v1",
}
#: The relationships a signing key is listed under (rule 4).
SIGNING_RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)

_PREFIX = "did:key:"


def did_key_from_public_key(key: Ed25519PublicKey) -> str:
    """The did:key DID of an Ed25519 public key."""
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("did:key in akashi is for Ed25519 public keys")
    return _PREFIX + encode_multikey(key)


def public_key_from_did_key(did: object) -> Ed25519PublicKey:
    """The Ed25519 public key a did:key DID names (rules 1-3); raise if it names none."""
    text = parse_did(did, what="did:key DID")
    parts = text.split(":")
    if len(parts) != 3 or parts[1] != "key":  # rule 1
        raise MalformedInput(f"{text!r} is not a did:key DID of the form did:key:z…")
    return ed25519_from_multikey(parts[2], what="did:key value")  # rules 2-3


def verification_method(
    controller: str,
    key: Ed25519PublicKey | X25519PublicKey,
    public_key_format: PublicKeyFormat = "Multikey",
) -> dict[str, Any]:
    """A verification method ``<controller>#<multikey>`` for ``key`` (rules 4 and 6)."""
    multikey = encode_multikey(key)
    method: dict[str, Any] = {
        "id": f"{controller}#{multikey}",
        "type": public_key_format,
        "controller": controller,
    }
    if public_key_format == "Multikey":
        method["publicKeyMultibase"] = multikey
    elif public_key_format == "JsonWebKey2020":
        method["publicKeyJwk"] = public_key_to_jwk(key)
    else:
        raise ValueError(f"unknown public key format {public_key_format!r}")
    return method


def resolve_did_key(
    did: object,
    *,
    public_key_format: PublicKeyFormat = "Multikey",
    derive_key_agreement: bool = True,
) -> dict[str, Any]:
    """Expand a did:key DID into its DID document (rules 1-6)."""
    if public_key_format not in KEY_FORMAT_CONTEXTS:
        raise ValueError(f"unknown public key format {public_key_format!r}")
    key = public_key_from_did_key(did)
    identifier = did_key_from_public_key(key)
    signing = verification_method(identifier, key, public_key_format)
    document: dict[str, Any] = {
        "@context": [DID_CONTEXT, KEY_FORMAT_CONTEXTS[public_key_format]],
        "id": identifier,
        "verificationMethod": [signing],
    }
    for relationship in SIGNING_RELATIONSHIPS:  # rule 4
        document[relationship] = [signing["id"]]
    if derive_key_agreement:  # rule 5
        encryption = verification_method(identifier, key.to_x25519(), public_key_format)
        document["verificationMethod"].append(encryption)
        document["keyAgreement"] = [encryption["id"]]
    return document
