"""HTTP Message Signatures (RFC 9421) on requests, with Ed25519 only.

RFC 9421 section 1.4 asks every application to fix a profile. akashi's:

- Algorithm ``ed25519`` (section 3.3.6) and nothing else; ``alg``, when present,
  must say so. :func:`sign_request` leaves it out, as Appendix B.2.6 does.
- Components: the derived ``@method``, ``@target-uri``, ``@authority``, ``@scheme``,
  ``@path``, ``@query`` (section 2.2) and header fields by lower-case name (section
  2.1), without component parameters (``sf``, ``key``, ``bs``, ``req``, ``tr``, ``name``).
- Signature parameters (section 2.3): ``created`` (required), ``expires``, ``nonce``,
  ``alg``, ``keyid`` (required), ``tag``; any other is refused.
- The key is the caller's: ``keyid`` goes to its ``resolve_key`` function.
- Freshness: ``created`` within ``[now - max_age - skew, now + skew]``, ``expires`` not
  passed, and a covered ``Date`` header (an RFC 9110 IMF-fixdate) within the same window.

:func:`verify_request` follows section 3.2 with these rules, in order:

1. ``Signature-Input`` and ``Signature`` are present (else :class:`Unauthorized`), each
   at most 8192 characters, and parse as RFC 8941 Dictionaries (section 4.2.2), strictly:
   a label given twice, a decimal, a stray character or a trailing comma is refused.
2. The signature is chosen (step 1): the one under ``label``, else the only one; it has
   an entry in both fields.
3. Its ``Signature-Input`` entry is an Inner List of Strings without parameters, each
   a supported component named once, at most 32 of them (step 2); its parameters
   are known ones of the right type.
4. Its ``Signature`` entry is a Byte Sequence without parameters (step 3).
5. Every ``required`` component is covered, and ``tag`` is the caller's when it names
   one (step 4, section 3.2.1); else :class:`BindingError`.
6. ``alg``, when present, is ``ed25519`` (step 6).
7. ``created`` is present and in the window; ``expires``, when present, has not passed.
8. A covered ``date`` is an IMF-fixdate in the same window as ``created``.
9. ``keyid`` is present and ``resolve_key`` turns it into an Ed25519 public key; the
   resolver raises :class:`UnknownKey` (or another error) for a key it will not use (step 5).
10. The signature base is rebuilt from the request and the parsed parameters (step 7,
    section 2.5). Section 3.2 prescribes re-serialising the parameters for the
    ``@signature-params`` line; the parser accepts one value per spelling and the
    serialiser is injective, so no other parameters can produce the signed bytes.
11. The Ed25519 signature verifies over the base (steps 8-9); else :class:`InvalidSignature`.

Not done here, and the caller's:

- **The body.** A covered ``content-digest`` binds the field, not the body: check the
  body with :func:`identity.http.content_digest.check_content_digest` too.
- **Replay.** This module keeps no state. :class:`VerifiedRequestSignature` carries
  ``keyid``, ``nonce``, ``created`` and the ``signature`` bytes: remember
  ``(keyid, nonce)`` — or the signature when there is no nonce — until
  ``created + max_age + skew`` has passed, and refuse a second use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from identity.crypto.encoding import b64encode_std
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import (
    BindingError,
    Expired,
    InvalidSignature,
    MalformedInput,
    TimeError,
    Unauthorized,
    UnsupportedAlgorithm,
)
from identity.http.structured_fields import InnerList, Item, parse_dictionary

__all__ = [
    "ALG",
    "DEFAULT_COMPONENTS",
    "DERIVED_COMPONENTS",
    "MAX_COMPONENTS",
    "MAX_FIELD_LENGTH",
    "HeaderFields",
    "SignatureParams",
    "VerifiedRequestSignature",
    "format_http_date",
    "parse_http_date",
    "sign_request",
    "signature_base",
    "verify_request",
]

ALG = "ed25519"
DEFAULT_COMPONENTS = ("@method", "@path", "@authority", "date", "content-digest")
DERIVED_COMPONENTS = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@path", "@query"})
#: Longest ``Signature-Input`` or ``Signature`` value read at all (rule 1).
MAX_FIELD_LENGTH = 8192
#: Most components one signature may cover (rule 3).
MAX_COMPONENTS = 32

#: Header fields: a mapping (whose ``items()`` may repeat a name, as Starlette's do) or
#: ``(name, value)`` pairs in message order. Names are case-insensitive.
HeaderFields: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
#: Signature parameters in their order: ``created``/``expires`` integers, others strings.
SignatureParams: TypeAlias = Sequence[tuple[str, int | str]]

_INT_PARAMS = frozenset({"created", "expires"})
_STR_PARAMS = frozenset({"nonce", "alg", "keyid", "tag"})
_FIELD_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 token, lower case
_METHOD = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")  # RFC 8941 key
_SF_STRING_CHARS = re.compile(r"[\x20-\x7e]*")
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")
_TARGET_URI = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?"
)
_AUTHORITY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::(?P<port>[0-9]*))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_IMF_FIXDATE = re.compile(
    r"(?P<wd>[A-Z][a-z]{2}), (?P<d>[0-9]{2}) (?P<mon>[A-Z][a-z]{2}) (?P<y>[0-9]{4}) "
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2}) GMT"
)


@dataclass(frozen=True, slots=True)
class VerifiedRequestSignature:
    """What :func:`verify_request` checked: who signed which components, and when.

    ``nonce``, ``created`` and ``signature`` are for the caller's replay check.
    """

    label: str
    keyid: str
    created: int
    expires: int | None
    nonce: str | None
    components: tuple[str, ...]
    tag: str | None
    signature: bytes


# --- HTTP dates (RFC 9110 section 5.6.7) ---------------------------------------------


def format_http_date(timestamp: int) -> str:
    """``timestamp`` (seconds since 1970) as an IMF-fixdate, the form a ``Date`` header takes."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return (
        f"{_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def parse_http_date(text: str) -> int:
    """An IMF-fixdate as seconds since 1970. The obsolete RFC 850 and asctime forms,
    a day name that does not fit the date, and impossible dates are refused."""
    match = _IMF_FIXDATE.fullmatch(text)
    if match is None or match["mon"] not in _MONTHS:
        raise MalformedInput("Date is not an HTTP date (IMF-fixdate, e.g. 'Sun, 06 Nov 1994 08:49:37 GMT')")
    try:
        moment = datetime(
            int(match["y"]),
            _MONTHS.index(match["mon"]) + 1,
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise MalformedInput("Date names a day or time that does not exist") from exc
    if _WEEKDAYS[moment.weekday()] != match["wd"]:
        raise MalformedInput("Date has a day name that does not fit its date")
    return int(moment.timestamp())


# --- the signature base (RFC 9421 sections 2.1, 2.2, 2.3, 2.5) --------------------


def _pairs(headers: HeaderFields) -> list[tuple[str, str]]:
    """The header fields as ``(name, value)`` pairs, read once (``headers`` may be an iterator)."""
    return list(headers.items() if isinstance(headers, Mapping) else headers)


def _field_lines(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be str")
        lines.setdefault(name.lower(), []).append(value)
    return lines


def _field_value(lines: Mapping[str, list[str]], name: str) -> str | None:
    """Section 2.1: each line trimmed, lines joined with ", "; None when absent."""
    if name not in lines:
        return None
    values = [value.strip(" \t") for value in lines[name]]
    for value in values:
        if _FIELD_VALUE.fullmatch(value) is None:
            raise MalformedInput(f"header {name!r} has characters outside visible ASCII")
    return ", ".join(values)


def _target_parts(target_uri: str) -> dict[str, str]:
    """Section 2.2.2-2.2.7: the derived components of an absolute http(s) target URI."""
    match = _TARGET_URI.fullmatch(target_uri) if _SF_STRING_CHARS.fullmatch(target_uri) else None
    if match is None or " " in target_uri:
        raise MalformedInput("target URI must be an absolute http(s) URI without a fragment")
    scheme = match["scheme"].lower()
    authority = _AUTHORITY.fullmatch(match["authority"])
    path = match["path"]
    if scheme not in _DEFAULT_PORTS or authority is None or (path and not path.startswith("/")):
        raise MalformedInput("target URI must be http(s) with a host, and no user information")
    host, port = authority["host"].lower(), authority["port"]
    if port and int(port) > 65535:
        raise MalformedInput("target URI has a port number out of range")
    if port and int(port) != _DEFAULT_PORTS[scheme]:  # section 2.2.3: default port omitted
        host = f"{host}:{port}"
    query = match["query"]
    return {
        "@target-uri": target_uri,
        "@scheme": scheme,
        "@authority": host,
        "@path": path or "/",  # section 2.2.6: an empty path is "/"
        "@query": "?" + (query or ""),  # section 2.2.7: no query is "?"
    }


def _check_components(components: Sequence[str]) -> tuple[str, ...]:
    names = tuple(components)
    if len(names) > MAX_COMPONENTS:
        raise MalformedInput(f"a signature covers at most {MAX_COMPONENTS} components")
    for name in names:
        if not isinstance(name, str):
            raise TypeError("component names must be str")
        if name.startswith("@"):
            if name not in DERIVED_COMPONENTS:
                raise MalformedInput(f"derived component {name!r} is not supported")
        elif _FIELD_NAME.fullmatch(name) is None:
            raise MalformedInput(f"component {name!r} is not a lower-case header field name")
    if len(set(names)) != len(names):
        raise MalformedInput("a component is covered twice")
    return names


def _check_params(params: SignatureParams) -> None:
    seen: set[str] = set()
    for name, value in params:
        if name in seen:
            raise MalformedInput(f"signature parameter {name!r} is given twice")
        seen.add(name)
        if name in _INT_PARAMS:
            if type(value) is not int or value < 0:
                raise MalformedInput(f"signature parameter {name!r} must be a non-negative integer")
        elif name in _STR_PARAMS:
            if not isinstance(value, str) or _SF_STRING_CHARS.fullmatch(value) is None:
                raise MalformedInput(f"signature parameter {name!r} must be a printable ASCII string")
        else:
            raise MalformedInput(f"signature parameter {name!r} is not supported")


def _sf_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params_value(components: Sequence[str], params: SignatureParams) -> str:
    """Section 2.3: the covered components as an Inner List of Strings, then the parameters."""
    inner = "(" + " ".join(_sf_string(name) for name in components) + ")"
    return inner + "".join(
        f";{name}={value}" if isinstance(value, int) else f";{name}={_sf_string(value)}"
        for name, value in params
    )


def signature_base(
    components: Sequence[str],
    params: SignatureParams,
    *,
    method: str,
    target_uri: str,
    headers: HeaderFields,
) -> bytes:
    """The signature base of RFC 9421 section 2.5 for a request.

    One line ``"<component>": <value>`` per covered component, in order, then the
    ``"@signature-params"`` line, joined by LF without a final one. Raises
    :class:`MalformedInput` for an unsupported or repeated component, a parameter
    akashi does not use, a covered header the request lacks, or a malformed request.
    """
    names = _check_components(components)
    _check_params(params)
    if not isinstance(method, str) or _METHOD.fullmatch(method) is None:
        raise MalformedInput("method must be an HTTP token")
    derived = _target_parts(target_uri)
    derived["@method"] = method  # section 2.2.1: as sent, case-sensitive
    lines = _field_lines(_pairs(headers))
    out: list[str] = []
    for name in names:
        value = derived[name] if name.startswith("@") else _field_value(lines, name)
        if value is None:
            raise MalformedInput(f"the request has no {name!r} header, which the signature covers")
        out.append(f"{_sf_string(name)}: {value}")
    out.append('"@signature-params": ' + _serialize_params_value(names, params))
    return "\n".join(out).encode("ascii")


# --- signing and verifying --------------------------------------------------------


def sign_request(
    *,
    method: str,
    target_uri: str,
    headers: HeaderFields,
    key: Ed25519PrivateKey,
    keyid: str,
    created: int,
    components: Sequence[str] = DEFAULT_COMPONENTS,
    nonce: str | None = None,
    expires: int | None = None,
    tag: str | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """The ``Signature-Input`` and ``Signature`` header values that sign this request.

    Add ``Date`` and ``Content-Digest`` to ``headers`` first: the covered components
    must be in the request. Parameters go out in the order ``created``, ``expires``,
    ``nonce``, ``keyid``, ``tag``. Ed25519 is deterministic, so equal inputs give
    equal signatures: use a ``nonce`` when two identical requests within a second
    must be told apart.
    """
    if _KEY.fullmatch(label) is None:
        raise ValueError("label must be an RFC 8941 key (lower case, e.g. 'sig1')")
    params: list[tuple[str, int | str]] = [("created", created)]
    if expires is not None:
        params.append(("expires", expires))
    if nonce is not None:
        params.append(("nonce", nonce))
    params.append(("keyid", keyid))
    if tag is not None:
        params.append(("tag", tag))
    try:
        _check_params(params)
    except MalformedInput as exc:
        raise ValueError(exc.message) from None
    base = signature_base(components, params, method=method, target_uri=target_uri, headers=headers)
    return {
        "Signature-Input": f"{label}={_serialize_params_value(tuple(components), params)}",
        "Signature": f"{label}=:{b64encode_std(key.sign(base))}:",
    }


def _choose(
    inputs: Mapping[str, Item | InnerList], signatures: Mapping[str, Item | InnerList], label: str | None
) -> tuple[str, InnerList, bytes]:
    """Rules 2-4: the chosen signature's label, Signature-Input entry and signature bytes."""
    if label is None:
        if not inputs:
            raise Unauthorized("the request carries no signature")
        if len(inputs) > 1:
            raise MalformedInput("the request carries several signatures; name the label to verify")
        label = next(iter(inputs))
    if label not in inputs:
        raise Unauthorized(f"the request carries no signature labelled {label!r}")
    entry, signature = inputs[label], signatures.get(label)
    if signature is None:
        raise MalformedInput(f"Signature has no entry for the label {label!r}")
    if not isinstance(entry, InnerList) or any(
        not isinstance(item.value, str) or item.params for item in entry.items
    ):
        raise MalformedInput("Signature-Input entry must be an inner list of component names")
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes) or signature.params:
        raise MalformedInput("Signature entry must be a byte sequence")
    return label, entry, signature.value


def _check_time(what: str, moment: int, now: int, max_age: int, skew: int) -> None:
    if moment > now + skew:
        raise TimeError(f"{what} is in the future ({moment}, now {now})")
    if moment < now - max_age - skew:
        raise TimeError(f"{what} is too old ({now - moment} s; at most {max_age} s accepted)")


def verify_request(
    *,
    method: str,
    target_uri: str,
    headers: HeaderFields,
    resolve_key: Callable[[str], Ed25519PublicKey],
    now: int,
    max_age: int = 300,
    skew: int = 60,
    required: Sequence[str] = DEFAULT_COMPONENTS,
    label: str | None = None,
    tag: str | None = None,
) -> VerifiedRequestSignature:
    """Verify the request's RFC 9421 signature (rules 1-11 of the module docstring).

    Returns what was verified; raises an :class:`~identity.errors.AkashiError` on any
    failure. The body and replays are the caller's to check (see the module docstring).
    """
    if max_age < 0 or skew < 0:
        raise ValueError("max_age and skew must not be negative")
    pairs = _pairs(headers)
    lines = _field_lines(pairs)
    input_value = _field_value(lines, "signature-input")
    signature_value = _field_value(lines, "signature")
    if input_value is None or signature_value is None:  # 1
        raise Unauthorized("the request is not signed (no Signature-Input and Signature headers)")
    inputs = parse_dictionary(input_value, "Signature-Input")
    signatures = parse_dictionary(signature_value, "Signature")
    label, entry, signature = _choose(inputs, signatures, label)  # 2, 4
    components = _check_components([str(item.value) for item in entry.items])  # 3
    params: list[tuple[str, int | str]] = []
    for name, value in entry.params:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise MalformedInput(f"signature parameter {name!r} has the wrong type")
        params.append((name, value))
    _check_params(params)
    found = dict(params)
    missing = [name for name in required if name not in components]  # 5
    if missing:
        raise BindingError(f"the signature does not cover {', '.join(missing)}")
    if tag is not None and found.get("tag") != tag:
        raise BindingError("the signature is not tagged for this application")
    if found.get("alg", ALG) != ALG:  # 6
        raise UnsupportedAlgorithm(f"signature algorithm {found['alg']!r} is not accepted (only {ALG})")
    created, expires = found.get("created"), found.get("expires")  # 7
    if not isinstance(created, int):
        raise MalformedInput("the signature has no 'created' time")
    _check_time("signature creation time", created, now, max_age, skew)
    if isinstance(expires, int) and now - skew >= expires:
        raise Expired(f"the signature expired at {expires} (now {now})")
    if "date" in components:  # 8
        date = _field_value(lines, "date")
        if date is None:
            raise MalformedInput("the request has no 'date' header, which the signature covers")
        _check_time("Date header", parse_http_date(date), now, max_age, skew)
    keyid = found.get("keyid")  # 9
    if not isinstance(keyid, str):
        raise MalformedInput("the signature has no 'keyid'")
    public_key = resolve_key(keyid)
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("resolve_key must return an Ed25519PublicKey")
    base = signature_base(components, params, method=method, target_uri=target_uri, headers=pairs)  # 10
    try:
        public_key.verify(signature, base)  # 11
    except InvalidSignature:
        raise InvalidSignature("request signature is invalid") from None
    nonce, sig_tag = found.get("nonce"), found.get("tag")
    return VerifiedRequestSignature(
        label=label,
        keyid=keyid,
        created=created,
        expires=expires if isinstance(expires, int) else None,
        nonce=nonce if isinstance(nonce, str) else None,
        components=components,
        tag=sig_tag if isinstance(sig_tag, str) else None,
        signature=signature,
    )
