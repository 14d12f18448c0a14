"""The identity provider's counter, as the demo and ``make up`` play it: the person's test My
Number card signs the issuer's challenge, or her test licence's IC data is read (face
compared), and the issuer's admin API checks it and answers with a credential offer. The card
reader and the chip reader are the only simulated parts; the checks are the issuer's own."""

from __future__ import annotations

import base64
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from issuer.evidence.licence import LicenceData
from issuer.evidence.testca import HANAKO_LICENCE, IssuedKey, sign_challenge, sign_licence

__all__ = ["check_card", "check_licence"]


def check_card(counter: httpx.Client, card: Any, *, operator: str = "counter-1") -> httpx.Response:
    """The JPKI check of ``card`` (an issued test card: certificate and key) through
    ``counter``, a client of the issuer with its admin token: the issuer's answer."""
    challenge = counter.post("/admin/challenges").json()
    signature = sign_challenge(
        cast(rsa.RSAPrivateKey, card.key), base64.urlsafe_b64decode(challenge["challenge"])
    )
    return counter.post(
        "/admin/checks/jpki",
        json={
            "challenge_id": challenge["id"],
            "certificate": base64.b64encode(card.certificate.public_bytes(Encoding.DER)).decode(),
            "signature": base64.b64encode(signature).decode(),
            "operator": operator,
        },
    )


def check_licence(
    counter: httpx.Client,
    authority: IssuedKey,
    licence: LicenceData = HANAKO_LICENCE,
    *,
    operator: str = "counter-1",
) -> httpx.Response:
    """The licence check: ``licence``'s IC data signed by the test ``authority``, read at the
    counter with the face compared: the issuer's answer."""
    data, signature = sign_licence(authority, licence)
    return counter.post(
        "/admin/checks/licence",
        json={
            "data": base64.b64encode(data).decode(),
            "signature": base64.b64encode(signature).decode(),
            "face_compared": True,
            "operator": operator,
        },
    )
