"""Presenting an SD-JWT (RFC 9901 sections 4.3 and 7.2): choosing disclosures by claim
path and binding the presentation to a verifier's nonce with a key-binding JWT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from identity.credentials.sdjwt.common import (
    KB_JWT_TYP,
    ClaimPath,
    SdJwtLimits,
    compact_json,
    decode_disclosure,
    disclosure_digest,
    split_sd_jwt,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import MalformedInput
from identity.jose.jws import parse_compact_unverified

__all__ = ["present", "sd_hash"]

# The KB-JWT header never varies: encode it once.
_KB_HEADER_B64 = b64url_encode(canonicalize({"alg": "EdDSA", "typ": KB_JWT_TYP}))


def _matches(path: ClaimPath, request: ClaimPath) -> bool:
    """Whether ``path`` and ``request`` agree on their common length (``None`` matches any index)."""
    for got, want in zip(path, request, strict=False):
        if want != got and not (want is None and type(got) is int):
            return False
    return True


def _on_the_way(path: ClaimPath, wanted: Sequence[ClaimPath]) -> tuple[bool, bool]:
    """``(needed, covered)``: whether ``path`` lies on the way to a wanted path or
    inside one, and whether it lies inside one (so everything below is wanted)."""
    needed = False
    for request in wanted:
        if _matches(path, request):
            if len(request) <= len(path):
                return True, True
            needed = True
    return needed, False


class _Selector:
    """Walks a holder's own SD-JWT and picks the disclosures a set of paths needs.

    It decodes only the disclosures it meets on the way, so an unrequested
    branch of the credential costs nothing. The credential was verified when
    the wallet received it; this walk trusts its structure but still raises
    :class:`MalformedInput` on anything it cannot follow.
    """

    def __init__(self, by_digest: dict[str, str], wanted: Sequence[ClaimPath], max_depth: int) -> None:
        self.by_digest = by_digest
        self.wanted = wanted
        self.max_depth = max_depth
        self.chosen: set[str] = set()

    def walk(self, value: Any, path: ClaimPath, covered: bool) -> None:
        if len(path) > self.max_depth:
            raise MalformedInput(f"SD-JWT claims nest deeper than {self.max_depth} levels")
        if isinstance(value, dict):
            self._walk_object(value, path, covered)
        elif isinstance(value, list):
            self._walk_array(value, path, covered)

    def _visit(self, value: Any, path: ClaimPath, covered: bool, encoded: str | None) -> None:
        if not covered:
            needed, covered = _on_the_way(path, self.wanted)
            if not needed:
                return
        if encoded is not None:
            self.chosen.add(encoded)
        self.walk(value, path, covered)

    def _names_wanted_below(self, path: ClaimPath) -> set[str]:
        """The member names that wanted paths continue with right below ``path``."""
        depth = len(path)
        names: set[str] = set()
        for request in self.wanted:
            if len(request) > depth and isinstance(request[depth], str) and _matches(path, request):
                names.add(request[depth])  # type: ignore[arg-type]
        return names

    def _walk_object(self, obj: dict[str, Any], path: ClaimPath, covered: bool) -> None:
        for name, value in obj.items():
            if name != "_sd" and isinstance(value, (dict, list)):
                self._visit(value, (*path, name), covered, None)
        digests = obj.get("_sd", [])
        if not isinstance(digests, list):
            raise MalformedInput("'_sd' must be an array of digests")
        # Outside a wanted subtree, stop decoding once every wanted name is found:
        # a name occurs once per object, so the remaining digests are not needed.
        remaining = None if covered else self._names_wanted_below(path) - obj.keys()
        for digest in digests:
            if remaining is not None and not remaining:
                return
            encoded = self.by_digest.get(digest) if isinstance(digest, str) else None
            if encoded is not None:
                disclosure = decode_disclosure(encoded, digest)
                if disclosure.name is None:
                    raise MalformedInput("an array-element disclosure is referenced from '_sd'")
                if remaining is not None:
                    if disclosure.name not in remaining:
                        continue
                    remaining.discard(disclosure.name)
                self._visit(disclosure.value, (*path, disclosure.name), covered, encoded)

    def _walk_array(self, array: list[Any], path: ClaimPath, covered: bool) -> None:
        position = 0  # among the real elements: decoys do not count
        for element in array:
            if isinstance(element, dict) and "..." in element:
                digest = element["..."]
                encoded = self.by_digest.get(digest) if isinstance(digest, str) else None
                if encoded is None:
                    continue
                disclosure = decode_disclosure(encoded, digest)
                self._visit(disclosure.value, (*path, position), covered, encoded)
            else:
                self._visit(element, (*path, position), covered, None)
            position += 1


def present(
    sd_jwt: str,
    disclose: Iterable[ClaimPath],
    *,
    holder_key: Ed25519PrivateKey | None = None,
    nonce: str | None = None,
    aud: str | None = None,
    iat: int | None = None,
    limits: SdJwtLimits = SdJwtLimits(),
) -> str:
    """The presentation of ``sd_jwt`` that discloses exactly the claims at ``disclose``.

    Disclosures needed to reach a wanted path, and those nested inside it, are
    included; nothing else is. Array positions count the credential's real
    elements (decoys excluded). With ``holder_key``, a KB-JWT binds the
    presentation to ``nonce`` and ``aud`` at time ``iat``.
    """
    jwt, encoded, kb = split_sd_jwt(sd_jwt, limits)
    if kb:
        raise MalformedInput("present() takes an SD-JWT without a key-binding JWT")
    payload = parse_compact_unverified(jwt, what="issuer-signed JWT").payload_json()
    by_digest = {disclosure_digest(text): text for text in encoded}
    selector = _Selector(by_digest, [tuple(p) for p in disclose], limits.max_depth)
    selector.walk(payload, (), False)
    kept = [text for text in encoded if text in selector.chosen]
    presentation = jwt + "~" + "".join(text + "~" for text in kept)
    if holder_key is None:
        return presentation
    if nonce is None or aud is None or iat is None:
        raise TypeError("key binding needs nonce, aud and iat")
    kb_claims = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presentation)}
    signing_input = _KB_HEADER_B64 + "." + b64url_encode(compact_json(kb_claims).encode("utf-8"))
    signature = holder_key.sign(signing_input.encode("ascii"))
    return presentation + signing_input + "." + b64url_encode(signature)


def sd_hash(presentation_without_kb: str) -> str:
    """The ``sd_hash`` of a presentation: SHA-256 over its ASCII up to the last ``~``."""
    return b64url_encode(sha256(presentation_without_kb.encode("ascii")))
