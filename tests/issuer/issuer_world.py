"""A test issuer: local test CAs, a card and a licence for 山田 花子, an issuer data folder."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from identity.crypto.keys import Ed25519PrivateKey
from identity.protocols.oid4vci.proof import build_proof_jwt
from identity.protocols.oid4vci.token import build_token_request
from issuer.config import IssuerConfig
from issuer.evidence import LicenceTrust
from issuer.evidence.testca import (
    HANAKO_CARD,
    HANAKO_LICENCE,
    create_jpki_ca,
    create_licence_authority,
    sign_challenge,
    sign_licence,
)
from issuer.identity import create_identity
from issuer.service import Issuer, OfferOut
from registry.client import RegistryClient

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
HANAKO, LICENCE = HANAKO_CARD, HANAKO_LICENCE
PERSONAL = ["山田", "花子", "1998-07-15", "19980715", "霞が関", "千代田区", "301234567890"]


@dataclass
class World:
    """CAs, the person's card and licence, and an issuer over ``folder``."""

    folder: Path
    issuer: Issuer
    admin_token: str
    ca: Any
    card: Any
    licence: tuple[bytes, bytes]
    clock: list[float]


def make_world(folder: Path, *, ledger: RegistryClient | None = None, **config: Any) -> World:
    ca = create_jpki_ca(NOW)
    card = ca.issue_card(HANAKO, NOW)
    authority = create_licence_authority(NOW)
    licence = sign_licence(authority, LICENCE)
    settings = replace(IssuerConfig(data_dir=folder / "issuer", port=8471), status_list_size=1024, **config)
    identity, token = create_identity(settings.data_dir)
    clock = [NOW.timestamp()]
    issuer = Issuer(
        settings,
        identity,
        jpki_trust=ca.trust(NOW),
        licence_trust=LicenceTrust((authority.certificate,)),
        ledger=ledger,
        clock=lambda: clock[0],
    )
    return World(folder, issuer, token, ca, card, licence, clock)


def der(certificate: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return bytes(certificate.public_bytes(Encoding.DER))


def jpki_offer(world: World, *, tx_code: bool = False) -> OfferOut:
    """The card reader signs the issuer's challenge; the issuer checks it and makes an offer."""
    challenge = world.issuer.challenge()
    signature = sign_challenge(world.card.key, challenge.value)
    return world.issuer.check_jpki(
        challenge.id, der(world.card.certificate), [], signature, operator="counter-1", tx_code=tx_code
    )


def redeem(
    world: World, offer: OfferOut, configuration: str, holders: list[Ed25519PrivateKey]
) -> dict[str, Any]:
    """A wallet's OpenID4VCI flow, in process: token, nonce, credential request with proofs."""
    code = offer.offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
        "pre-authorized_code"
    ]
    token = world.issuer.token(build_token_request(code, tx_code=offer.tx_code).encode())
    nonce = world.issuer.nonce()["c_nonce"]
    proofs = [
        build_proof_jwt(key, audience=world.issuer.url, iat=int(world.clock[0]), nonce=nonce)
        for key in holders
    ]
    body = {"credential_configuration_id": configuration, "proofs": {"jwt": proofs}}
    import json

    return world.issuer.credential("Bearer " + token["access_token"], json.dumps(body).encode())
