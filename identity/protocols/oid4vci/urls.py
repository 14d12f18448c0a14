"""URLs and form bodies, strictly: percent-encoding, query/form parsing, HTTPS identifiers.

``identity`` stays free of ``urllib`` (the architecture test treats it as an
I/O package), and the standard parser is too lenient for received data
anyway: it keeps the last of repeated parameters and decodes invalid escapes
as text. Here:

1. A query or form body is ASCII, made only of the characters RFC 3986
   allows in a query (``pchar / "/" / "?"``); anything else is refused.
2. ``+`` stands for a space (``application/x-www-form-urlencoded``, which is
   also how wallets read a Credential Offer URI's query).
3. Every ``%`` is followed by two hex digits, and the decoded bytes are UTF-8.
4. A parameter name given twice is refused: RFC 6749 section 3.2 says request
   parameters MUST NOT be included more than once, and a repeated name is the
   classic way to make two parsers disagree.
5. A parameter without a value counts as omitted (RFC 6749 section 3.2).

HTTPS identifiers (the Credential Issuer Identifier of OpenID4VCI 1.0 section
12.2.1, an RFC 8414 issuer, an SD-JWT VC ``iss``) are ``https://`` with a host,
optionally a port and path, and no user information, query or fragment.
"""

from __future__ import annotations

import re

from identity.errors import MalformedInput

__all__ = [
    "check_https_identifier",
    "check_https_url",
    "form_encode",
    "parse_query",
    "percent_decode",
    "percent_encode",
    "well_known_url",
]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 section 3.4: query = *( pchar / "/" / "?" ), pchar = unreserved /
# pct-encoded / sub-delims / ":" / "@".
_QUERY_CHARS = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*")
_HEX = frozenset("0123456789abcdefABCDEF")
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~%!$&'()*+,;=:@]*)*")
_QUERY_PART = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*")


def percent_encode(text: str) -> str:
    """Percent-encode every byte of the UTF-8 text except RFC 3986 unreserved characters.

    The result is safe as a query value and as a form value.
    """
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def form_encode(params: list[tuple[str, str]]) -> str:
    """An ``application/x-www-form-urlencoded`` body (or query) for ``params``, in order."""
    return "&".join(percent_encode(name) + "=" + percent_encode(value) for name, value in params)


def percent_decode(text: str, *, plus_is_space: bool = True, what: str = "parameter") -> str:
    """Rules 2 and 3: decode ``%XX`` escapes (and ``+``) and the UTF-8 they spell."""
    if not text.isascii():
        raise MalformedInput(f"{what} must be ASCII before percent-decoding")
    if plus_is_space:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    # Split on "%": every piece after the first starts with the two hex digits of its escape.
    pieces = text.split("%")
    out = bytearray(pieces[0].encode("ascii"))
    for piece in pieces[1:]:
        pair = piece[:2]
        if len(pair) != 2 or not set(pair) <= _HEX:
            raise MalformedInput(f"{what} has an invalid percent escape")
        out.append(int(pair, 16))
        out.extend(piece[2:].encode("ascii"))
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"{what} is not UTF-8 once percent-decoded") from exc


def parse_query(text: str, *, what: str = "query") -> dict[str, str]:
    """Rules 1-5: the parameters of a query string or form body, each given at most once."""
    if not text.isascii() or _QUERY_CHARS.fullmatch(text) is None:
        raise MalformedInput(f"{what} contains characters a URI query may not carry")
    params: dict[str, str] = {}
    seen: set[str] = set()
    for part in text.split("&"):
        if not part:
            continue  # "a=1&&b=2": an empty pair carries nothing
        raw_name, _, raw_value = part.partition("=")
        name = percent_decode(raw_name, what=f"{what} parameter name")
        if name in seen:  # rule 4
            raise MalformedInput(f"{what} gives the parameter {name!r} more than once")
        seen.add(name)
        value = percent_decode(raw_value, what=f"{what} parameter {name!r}")
        if value:  # rule 5
            params[name] = value
    return params


#: Hosts allowed over plain http: the loopback interface only, as OAuth allows for
#: native apps (RFC 8252 section 8.3). The tests and the demo run every service on
#: loopback without TLS; anything reachable over a network must use https.
_LOOPBACK_PREFIXES = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/",
                      "http://[::1]:", "http://[::1]/")


def _split_https(url: str, what: str) -> tuple[str, str, str | None]:
    if not isinstance(url, str):
        raise MalformedInput(f"{what} must be a string")
    if url.startswith("https://"):
        rest = url[len("https://") :]
    elif url.startswith(_LOOPBACK_PREFIXES) or url in ("http://127.0.0.1", "http://localhost", "http://[::1]"):
        rest = url[len("http://") :]
    else:
        raise MalformedInput(f"{what} must be an https URL (plain http only on loopback)")
    if "#" in rest:
        raise MalformedInput(f"{what} must not have a fragment")
    rest, question, query = rest.partition("?")
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if _AUTHORITY.fullmatch(authority) is None:
        raise MalformedInput(f"{what} must name a host (and no user information)")
    if _PATH.fullmatch(path) is None:
        raise MalformedInput(f"{what} has characters a URL path may not carry")
    if question and _QUERY_PART.fullmatch(query) is None:
        raise MalformedInput(f"{what} has characters a URL query may not carry")
    return authority, path, query if question else None


def check_https_url(url: str, *, what: str = "URL") -> str:
    """An ``https`` URL with a host, optional port, path and query, and no fragment."""
    _split_https(url, what)
    return url


def check_https_identifier(url: str, *, what: str = "identifier") -> str:
    """An ``https`` URL with a host, optional port and path, and no query or fragment."""
    _, _, query = _split_https(url, what)
    if query is not None:
        raise MalformedInput(f"{what} must not have a query")
    return url


def well_known_url(identifier: str, suffix: str) -> str:
    """The URL of ``/.well-known/<suffix>`` for an HTTPS identifier.

    The well-known segment goes between the host and the path, and a terminating
    ``/`` of the path is dropped first (RFC 8414 section 3.1; OpenID4VCI 1.0
    section 12.2.2; SD-JWT VC section 5): ``https://ex.com/tenant`` gives
    ``https://ex.com/.well-known/<suffix>/tenant``.
    """
    authority, path, _ = _split_https(check_https_identifier(identifier), "identifier")
    return f"https://{authority}/.well-known/{suffix}{path.rstrip('/')}"
