"""Reading keys out of DID documents (W3C DID Core 1.0, sections 5.2 and 5.3).

The rules a key lookup follows:

1. The document is an object whose ``id`` is a DID; verification method ids are
   absolute DID URLs or ``#fragment`` relative to that DID (section 5.2).
2. A key named ``<did>#<fragment>`` belongs to the document only if ``<did>`` is
   the document's ``id``; otherwise, and when no method has that id,
   :class:`UnknownKey`. Two methods with the same id make the document
   ambiguous: :class:`MalformedInput`.
3. A verification relationship lists methods by reference (a DID URL string) or
   embeds them (an object) (section 5.3); a key is usable for a purpose only if
   that relationship lists it, else :class:`UnknownKey`.
4. Key material is ``publicKeyMultibase`` (types ``Multikey``,
   ``Ed25519VerificationKey2020``, ``X25519KeyAgreementKey2020``) or
   ``publicKeyJwk`` (types ``JsonWebKey2020``, ``JsonWebKey``), never both;
   other types are :class:`UnsupportedAlgorithm`.
5. Signing needs an Ed25519 key, key agreement an X25519 key; the wrong curve is
   :class:`UnsupportedAlgorithm`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from identity.crypto.keys import Ed25519PublicKey, X25519PublicKey
from identity.did.multikey import decode_multikey
from identity.did.url import parse_did, parse_did_url
from identity.errors import MalformedInput, UnknownKey, UnsupportedAlgorithm
from identity.jose.jwk import public_key_from_jwk

__all__ = [
    "RELATIONSHIPS",
    "find_verification_method",
    "key_agreement_key",
    "key_agreement_keys",
    "public_key_of",
    "signing_key",
    "signing_keys",
]

RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
)

_MULTIBASE_TYPES: dict[str, type[Ed25519PublicKey] | type[X25519PublicKey] | None] = {
    "Multikey": None,  # either curve
    "Ed25519VerificationKey2020": Ed25519PublicKey,
    "X25519KeyAgreementKey2020": X25519PublicKey,
}
_JWK_TYPES = ("JsonWebKey2020", "JsonWebKey")


def _document(document: object) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        raise MalformedInput("a DID document must be a JSON object")
    return parse_did(document.get("id"), what="DID document id"), document  # rule 1


def _absolute(document_id: str, ref: object) -> str:
    if isinstance(ref, str) and ref.startswith("#"):
        ref = document_id + ref
    return str(parse_did_url(ref, what="verification method id"))


def _methods(document: Mapping[str, Any], entries: object) -> Iterator[tuple[str, Any]]:
    """(absolute id, method or reference) for each entry of a list in the document."""
    if entries is None:
        return
    if not isinstance(entries, list):
        raise MalformedInput("verification methods and relationships must be arrays")
    for entry in entries:
        if isinstance(entry, Mapping):
            yield _absolute(document["id"], entry.get("id")), entry
        else:
            yield _absolute(document["id"], entry), None


def _all_methods(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    lists = [document.get("verificationMethod")] + [document.get(r) for r in RELATIONSHIPS]
    for entries in lists:
        for method_id, method in _methods(document, entries):
            if method is None:
                continue
            if method_id in found and found[method_id] != method:
                raise MalformedInput(f"DID document has two methods with id {method_id!r}")
            found[method_id] = method
    return found


def find_verification_method(document: object, key_id: str) -> Mapping[str, Any]:
    """The verification method ``key_id`` (``<did>#frag`` or ``#frag``) of ``document``."""
    document_id, doc = _document(document)
    wanted = _absolute(document_id, key_id)
    if parse_did_url(wanted).did != document_id:  # rule 2
        raise UnknownKey(f"key {wanted!r} does not belong to {document_id!r}")
    method = _all_methods(doc).get(wanted)
    if method is None:
        raise UnknownKey(f"{document_id!r} has no verification method {wanted!r}")
    return method


def public_key_of(method: Mapping[str, Any]) -> Ed25519PublicKey | X25519PublicKey:
    """The public key a verification method carries (rule 4)."""
    if not isinstance(method, Mapping):
        raise MalformedInput("a verification method must be a JSON object")
    kind = method.get("type")
    if "publicKeyMultibase" in method and "publicKeyJwk" in method:
        raise MalformedInput("a verification method must not carry two public keys")
    if kind in _MULTIBASE_TYPES:
        key = decode_multikey(method.get("publicKeyMultibase"), what="publicKeyMultibase")
        expected = _MULTIBASE_TYPES[kind]
        if expected is not None and not isinstance(key, expected):
            raise UnsupportedAlgorithm(f"a {kind} method must not carry this key type")
        return key
    if kind in _JWK_TYPES:
        jwk = method.get("publicKeyJwk")
        if not isinstance(jwk, Mapping):
            raise MalformedInput("publicKeyJwk is missing or not an object")
        return public_key_from_jwk(jwk)
    raise UnsupportedAlgorithm(f"verification method type {kind!r} is not supported")


def _related(document: object, relationship: str) -> dict[str, Mapping[str, Any]]:
    if relationship not in RELATIONSHIPS:
        raise ValueError(f"unknown verification relationship {relationship!r}")
    _, doc = _document(document)
    methods = _all_methods(doc)
    related: dict[str, Mapping[str, Any]] = {}
    for method_id, embedded in _methods(doc, doc.get(relationship)):  # rule 3
        method = embedded if embedded is not None else methods.get(method_id)
        if method is None:
            raise UnknownKey(f"{relationship} refers to a missing method {method_id!r}")
        related[method_id] = method
    return related


def signing_keys(document: object, *, relationship: str = "assertionMethod") -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 key listed under ``relationship``, by absolute method id."""
    keys: dict[str, Ed25519PublicKey] = {}
    for method_id, method in _related(document, relationship).items():
        key = public_key_of(method)
        if isinstance(key, Ed25519PublicKey):
            keys[method_id] = key
    return keys


def signing_key(document: object, key_id: str, *, relationship: str = "assertionMethod") -> Ed25519PublicKey:
    """The Ed25519 key ``key_id``, which ``relationship`` must list (rules 2, 3, 5)."""
    method = find_verification_method(document, key_id)
    method_id = _absolute(_document(document)[0], key_id)
    if method_id not in _related(document, relationship):
        raise UnknownKey(f"{method_id!r} is not listed under {relationship}")
    key = public_key_of(method)
    if not isinstance(key, Ed25519PublicKey):
        raise UnsupportedAlgorithm(f"{method_id!r} is not an Ed25519 signing key")
    return key


def key_agreement_keys(document: object) -> dict[str, X25519PublicKey]:
    """Every X25519 key listed under ``keyAgreement``, by absolute method id."""
    keys: dict[str, X25519PublicKey] = {}
    for method_id, method in _related(document, "keyAgreement").items():
        key = public_key_of(method)
        if isinstance(key, X25519PublicKey):
            keys[method_id] = key
    return keys


def key_agreement_key(document: object, key_id: str | None = None) -> X25519PublicKey:
    """The X25519 key ``key_id`` (or the first one listed) under ``keyAgreement``."""
    if key_id is None:
        keys = key_agreement_keys(document)
        if not keys:
            raise UnknownKey(f"{_document(document)[0]!r} has no X25519 keyAgreement key")
        return next(iter(keys.values()))
    method = find_verification_method(document, key_id)
    method_id = _absolute(_document(document)[0], key_id)
    if method_id not in _related(document, "keyAgreement"):
        raise UnknownKey(f"{method_id!r} is not listed under keyAgreement")
    key = public_key_of(method)
    if not isinstance(key, X25519PublicKey):
        raise UnsupportedAlgorithm(f"{method_id!r} is not an X25519 key-agreement key")
    return key
