"""Issuing an SD-JWT (RFC 9901 section 4): concealing the claims marked :class:`SD`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from identity.credentials.sdjwt.common import (
    NEVER_DISCLOSABLE_IN_VC,
    SD,
    SD_ALG,
    SD_JWT_VC_TYP,
    compact_json,
    disclosure_digest,
    encode_disclosure,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.errors import MalformedInput
from identity.jose.jwk import public_key_to_jwk
from identity.jose.jws import sign_compact

__all__ = ["issue"]


class _Concealer:
    def __init__(self, decoys: int, random: RandomSource) -> None:
        self.decoys = decoys
        self.random = random
        self.disclosures: list[str] = []

    def salt(self) -> str:
        return b64url_encode(self.random(16))

    def disclose(self, items: list[Any]) -> str:
        encoded = encode_disclosure(items)
        self.disclosures.append(encoded)
        return disclosure_digest(encoded)

    def decoy(self) -> str:
        return b64url_encode(sha256(self.random(32)))

    def conceal(self, value: Any) -> Any:
        if isinstance(value, SD):
            raise MalformedInput("SD() marks an object member or array element, not a whole value")
        if isinstance(value, Mapping):
            return self._conceal_object(value)
        if isinstance(value, (list, tuple)):
            return self._conceal_array(value)
        return value

    def _conceal_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            if name in ("_sd", "...", "_sd_alg"):
                raise MalformedInput(f"claim name {name!r} is reserved by SD-JWT")
            if isinstance(value, SD):
                digests.append(self.disclose([self.salt(), name, self.conceal(value.value)]))
            else:
                out[name] = self.conceal(value)
        if digests:
            digests.extend(self.decoy() for _ in range(self.decoys))
            # Sorting hides the original order of the claims (RFC 9901 section 4.2.4.1).
            out["_sd"] = sorted(digests)
        return out

    def _conceal_array(self, array: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for element in array:
            if isinstance(element, SD):
                digest = self.disclose([self.salt(), self.conceal(element.value)])
                out.append({"...": digest})
            else:
                out.append(self.conceal(element))
        if len(out) != len(array) or any(isinstance(e, SD) for e in array):
            for _ in range(self.decoys):
                position = int.from_bytes(self.random(2), "big") % (len(out) + 1)
                out.insert(position, {"...": self.decoy()})
        return out


def issue(
    claims: Mapping[str, Any],
    issuer_key: Ed25519PrivateKey,
    *,
    header: Mapping[str, Any] | None = None,
    holder_key: Ed25519PublicKey | None = None,
    decoys: int = 0,
    random: RandomSource = os.urandom,
) -> str:
    """Issue an SD-JWT (``<jwt>~<disclosure>~…~``) over ``claims``.

    Values wrapped in :class:`SD` become selectively disclosable, at any depth.
    ``holder_key`` is bound through ``cnf.jwk``; ``decoys`` adds that many
    decoy digests to every object and array holding disclosable items.
    """
    for name in NEVER_DISCLOSABLE_IN_VC:
        if isinstance(claims.get(name), SD):
            raise MalformedInput(f"claim {name!r} must not be selectively disclosable")
    concealer = _Concealer(decoys, random)
    payload = concealer.conceal(dict(claims))
    payload["_sd_alg"] = SD_ALG
    if holder_key is not None:
        payload["cnf"] = {"jwk": public_key_to_jwk(holder_key)}
    jwt_header = dict(header) if header is not None else {"typ": SD_JWT_VC_TYP}
    jwt = sign_compact(jwt_header, compact_json(payload).encode("utf-8"), issuer_key)
    return jwt + "~" + "".join(d + "~" for d in concealer.disclosures)
