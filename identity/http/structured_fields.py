"""RFC 8941 Structured Field Values: the Dictionary parser the HTTP signature fields need.

``Signature-Input`` and ``Signature`` (RFC 9421) and ``Content-Digest`` (RFC 9530) are
Dictionaries. This parser follows RFC 8941 section 4.2 and refuses on any doubt (duplicate
keys, trailing garbage, out-of-range integers, non-ASCII) rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from identity.crypto.encoding import b64decode_std
from identity.errors import MalformedInput

__all__ = ["MAX_FIELD_LENGTH", "InnerList", "Item", "Token", "parse_dictionary"]

MAX_FIELD_LENGTH = 8192
_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")  # RFC 8941 key
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*")  # RFC 8941 token
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_DIGITS = "0123456789"
_SF_STRING_CHARS = re.compile(r"[\x20-\x7e]*")
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")


@dataclass(frozen=True, slots=True)
class Token:
    value: str


_BareItem = int | str | bytes | bool | Token
_Params = tuple[tuple[str, _BareItem], ...]


@dataclass(frozen=True, slots=True)
class Item:
    value: _BareItem
    params: _Params


@dataclass(frozen=True, slots=True)
class InnerList:
    items: tuple[Item, ...]
    params: _Params


class _Parser:
    """RFC 8941 section 4.2 parsing of one Dictionary field value, refusing on any doubt."""

    def __init__(self, text: str, what: str) -> None:
        self.text, self.pos, self.what = text, 0, what

    def fail(self, why: str) -> MalformedInput:
        return MalformedInput(f"{self.what} is not a valid structured field: {why}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, Item | InnerList]:  # section 4.2.2
        members: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while self.peek():
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                member: Item | InnerList = self.inner_list() if self.peek() == "(" else self.item()
            else:
                member = Item(True, self.parameters())
            if key in members:
                raise self.fail(f"{key!r} appears twice")
            members[key] = member
            self.skip(" \t")
            if not self.peek():
                break
            if self.peek() != ",":
                raise self.fail(f"unexpected {self.peek()!r} after member {key!r}")
            self.pos += 1
            self.skip(" \t")
            if not self.peek():
                raise self.fail("trailing comma")
        return members

    def key(self) -> str:  # section 4.2.3.3
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    def parameters(self) -> _Params:  # section 4.2.3.2
        params: dict[str, _BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: _BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            if key in params:
                raise self.fail(f"parameter {key!r} appears twice")
            params[key] = value
        return tuple(params.items())

    def inner_list(self) -> InnerList:  # section 4.2.1.2
        self.pos += 1  # "("
        items: list[Item] = []
        while self.peek():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("inner list items must be separated by spaces")
        raise self.fail("unterminated inner list")

    def item(self) -> Item:  # section 4.2.3
        return Item(self.bare_item(), self.parameters())

    def bare_item(self) -> _BareItem:  # section 4.2.3.1
        char = self.peek()
        if char and char in "-" + _DIGITS:
            return self.integer()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected an item")
        self.pos = match.end()
        return Token(match.group())

    def integer(self) -> int:  # section 4.2.4, without decimals
        match = _INTEGER.match(self.text, self.pos)
        if match is None:
            raise self.fail("bad integer")
        self.pos = match.end()
        if self.peek() and self.peek() in "." + _DIGITS:
            raise self.fail("decimals and integers over 15 digits are not accepted")
        return int(match.group())

    def string(self) -> str:  # section 4.2.5
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise self.fail("bad escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise self.fail("string has a character outside printable ASCII")
            else:
                out.append(char)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:  # section 4.2.7, canonical padded base64 only
        end = self.text.find(":", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        body = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return b64decode_std(body, what=f"{self.what} byte sequence")

    def boolean(self) -> bool:  # section 4.2.8
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("bad boolean")
        self.pos += 2
        return value == "1"


def parse_dictionary(value: str, what: str) -> dict[str, Item | InnerList]:
    """An RFC 8941 Dictionary field value (section 4.2), refusing anything doubtful with
    :class:`~identity.errors.MalformedInput` naming ``what``."""
    if len(value) > MAX_FIELD_LENGTH or _FIELD_VALUE.fullmatch(value) is None:
        raise MalformedInput(f"{what} is too long or has characters outside visible ASCII")
    return _Parser(value.strip(" \t"), what).dictionary()


