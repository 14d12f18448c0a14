"""Credential Offers (OpenID4VCI 1.0 section 4.1), built by the issuer, read by the wallet.

An offer travels as a URL a QR code or a link carries:
``openid-credential-offer://?credential_offer=<JSON, percent-encoded>`` (by value)
or ``openid-credential-offer://?credential_offer_uri=<https URL>`` (by
reference; the wallet then GETs the JSON object from that URL).

:func:`parse_offer_url` checks, in order (the offer's origin is not
authenticated, section 13.5, so nothing in it is trusted beyond its shape):

1. The URL is at most ``max_length`` characters and starts with one of the
   accepted Credential Offer Endpoints; it has no fragment.
2. Its query parses strictly (:mod:`.urls`) and holds exactly one parameter,
   ``credential_offer`` or ``credential_offer_uri`` ("a single URI query
   parameter", section 4.1).
3. ``credential_offer_uri`` is an ``https`` URL.
4. ``credential_offer`` is a JSON object without repeated names that
   satisfies ``specs/oid4vci-credential-offer.schema.json``: ``credential_issuer``
   an HTTPS identifier, ``credential_configuration_ids`` a non-empty array of
   unique strings, a ``pre-authorized_code`` string for that grant, a
   ``tx_code`` whose ``input_mode`` is ``numeric`` or ``text``, ``length`` a
   positive integer, ``description`` at most 300 characters. Unknown
   parameters are ignored (section 4.1.1).

:func:`parse_offer` applies rule 4 to an offer fetched by reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput
from identity.protocols.oid4vci.metadata import PRE_AUTHORIZED_CODE_GRANT
from identity.protocols.oid4vci.urls import check_https_identifier, check_https_url, parse_query
from identity.protocols.oid4vci.urls import percent_encode as _pct
from identity.schemas import validate

__all__ = [
    "OFFER_SCHEME",
    "CredentialOffer",
    "OfferReference",
    "TxCode",
    "build_offer",
    "offer_url_by_reference",
    "offer_url_by_value",
    "parse_offer",
    "parse_offer_url",
]

#: The custom scheme of a Wallet whose Credential Offer Endpoint is not known
#: (OpenID4VCI 1.0 section 12.1.1).
OFFER_SCHEME = "openid-credential-offer://"

_MAX_URL = 8 * 1024
_MAX_OFFER = 16 * 1024


@dataclass(frozen=True)
class TxCode:
    """A Transaction Code the wallet must ask the End-User for (section 4.1.1).

    All fields are optional; an empty ``TxCode()`` still means one is required.
    """

    input_mode: Literal["numeric", "text"] | None = None
    length: int | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.input_mode is not None:
            out["input_mode"] = self.input_mode
        if self.length is not None:
            out["length"] = self.length
        if self.description is not None:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class CredentialOffer:
    """A parsed Credential Offer. ``raw`` is the whole object, unknown parameters included.

    ``pre_authorized_code`` is ``None`` when the offer has no Pre-Authorized Code
    grant; ``tx_code`` is ``None`` when no Transaction Code is required.
    """

    credential_issuer: str
    credential_configuration_ids: tuple[str, ...]
    pre_authorized_code: str | None
    tx_code: TxCode | None
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class OfferReference:
    """What an offer URL carries: the offer itself, or the https URL to fetch it from."""

    offer: CredentialOffer | None
    offer_uri: str | None


def build_offer(
    credential_issuer: str,
    credential_configuration_ids: Sequence[str],
    pre_authorized_code: str,
    *,
    tx_code: TxCode | None = None,
) -> dict[str, Any]:
    """A Credential Offer object for the Pre-Authorized Code Flow (section 4.1.1)."""
    check_https_identifier(credential_issuer, what="credential_issuer")
    grant: dict[str, Any] = {"pre-authorized_code": pre_authorized_code}
    if tx_code is not None:
        grant["tx_code"] = tx_code.to_json()
    offer = {
        "credential_issuer": credential_issuer,
        "credential_configuration_ids": list(credential_configuration_ids),
        "grants": {PRE_AUTHORIZED_CODE_GRANT: grant},
    }
    validate(offer, "oid4vci-credential-offer")
    return offer


def _compact(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def offer_url_by_value(offer: Mapping[str, Any], *, endpoint: str = OFFER_SCHEME) -> str:
    """``<endpoint>?credential_offer=<percent-encoded JSON>`` (section 4.1.2)."""
    validate(dict(offer), "oid4vci-credential-offer")
    return f"{endpoint}?credential_offer={_pct(_compact(offer))}"


def offer_url_by_reference(offer_uri: str, *, endpoint: str = OFFER_SCHEME) -> str:
    """``<endpoint>?credential_offer_uri=<percent-encoded https URL>`` (section 4.1.3)."""
    check_https_url(offer_uri, what="credential_offer_uri")
    return f"{endpoint}?credential_offer_uri={_pct(offer_uri)}"


def _offer_from_object(obj: dict[str, Any]) -> CredentialOffer:
    validate(obj, "oid4vci-credential-offer")  # rule 4
    grant = obj.get("grants", {}).get(PRE_AUTHORIZED_CODE_GRANT)
    tx_code = None
    if grant is not None and "tx_code" in grant:
        tx = grant["tx_code"]
        tx_code = TxCode(tx.get("input_mode"), tx.get("length"), tx.get("description"))
    return CredentialOffer(
        credential_issuer=obj["credential_issuer"],
        credential_configuration_ids=tuple(obj["credential_configuration_ids"]),
        pre_authorized_code=None if grant is None else grant["pre-authorized_code"],
        tx_code=tx_code,
        raw=obj,
    )


def parse_offer(body: bytes | str, *, max_length: int = _MAX_OFFER) -> CredentialOffer:
    """Wallet side: rule 4 on a Credential Offer object (fetched from ``credential_offer_uri``)."""
    if len(body) > max_length:
        raise MalformedInput(f"credential offer is longer than {max_length} bytes")
    return _offer_from_object(loads_object(body, what="credential offer"))


def parse_offer_url(
    url: str,
    *,
    endpoints: Sequence[str] = (OFFER_SCHEME,),
    max_length: int = _MAX_URL,
) -> OfferReference:
    """Wallet side: rules 1-4 on a Credential Offer URL (from a QR code or link)."""
    if not isinstance(url, str):
        raise MalformedInput("a credential offer URL must be a string")
    if len(url) > max_length:  # rule 1
        raise MalformedInput(f"credential offer URL is longer than {max_length} characters")
    base, question, query = url.partition("?")
    if not question or base + "?" not in {e.rstrip("?") + "?" for e in endpoints}:
        raise MalformedInput("not a credential offer URL for this wallet")
    if "#" in query:
        raise MalformedInput("credential offer URL must not have a fragment")
    params = parse_query(query, what="credential offer URL")  # rule 2
    if len(params) != 1 or not params.keys() <= {"credential_offer", "credential_offer_uri"}:
        raise MalformedInput(
            "a credential offer URL carries exactly one of credential_offer or credential_offer_uri"
        )
    if "credential_offer_uri" in params:  # rule 3
        return OfferReference(None, check_https_url(params["credential_offer_uri"], what="offer URI"))
    obj = loads_object(params["credential_offer"], what="credential offer")
    return OfferReference(_offer_from_object(obj), None)
