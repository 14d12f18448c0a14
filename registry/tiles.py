"""C2SP tlog-tiles: tile ids, tile paths, tile contents and entry bundles.

The log serves its Merkle tree as tiles of height 8 (c2sp.org/tlog-tiles,
"Merkle Tree") and its entries as entry bundles ("Log entries"). This module
is the pure encoding of both; it does no I/O.

Rules, numbered as the comments use them:

1. A tile path is ``tile/<L>/<N>[.p/<W>]``; an entry bundle path is
   ``tile/entries/<N>[.p/<W>]``.
2. ``<L>`` is a decimal integer from 0 to 63 with no leading zeroes.
3. ``<N>`` is the index in zero-padded 3-digit path elements, all but the
   last prefixed with ``x`` (1234067 is ``x001/x234/067``). Only the shortest
   form is accepted, so every index has exactly one path.
4. ``.p/<W>`` marks a partial tile of width ``W``, a decimal integer from 1 to
   255 with no leading zeroes; a full tile has no suffix.
5. A full tile holds 256 hashes (8,192 bytes). The tile at level ``l``, index
   ``n`` holds the hashes of tree level ``8·l``, nodes ``n·256 …``; the
   partial tile of level ``l`` in a tree of size ``s`` has
   ``floor(s / 256**l) mod 256`` hashes, and empty tiles do not exist.
6. An entry bundle is a sequence of entries, each a big-endian uint16 length
   followed by that many bytes; entry ``i`` of bundle ``n`` is leaf
   ``n·256 + i``.

Bad paths and bad bytes raise :class:`MalformedInput`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from identity.errors import MalformedInput
from identity.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "BundleId",
    "TileId",
    "decode_bundle",
    "encode_bundle",
    "format_index",
    "parse_index",
    "parse_path",
    "partial_tiles",
    "split_tile",
    "tile_width",
    "tiles_for_size",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
#: The largest entry a bundle can carry (its length is a uint16).
MAX_ENTRY_SIZE = 0xFFFF

# Longest well-formed path: "tile/entries/" + 7 index groups + ".p/255".
_MAX_PATH = 64
_LEVEL = r"0|[1-9][0-9]?"
_INDEX = r"(?:x[0-9]{3}/)*[0-9]{3}"
_WIDTH = r"[1-9][0-9]{0,2}"
_PATH = re.compile(rf"tile/(?P<level>{_LEVEL}|entries)/(?P<index>{_INDEX})(?:\.p/(?P<width>{_WIDTH}))?")


@dataclass(frozen=True, slots=True)
class TileId:
    """A hash tile: ``width`` hashes of tree level ``8·level`` from node ``index·256``."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_level(self.level)
        _check_index(self.index, self.level)
        _check_width(self.width)

    @property
    def is_partial(self) -> bool:
        """Whether the tile holds fewer than 256 hashes."""
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """The path of the tile below the log prefix (rule 1)."""
        return f"tile/{self.level}/{format_index(self.index)}{_suffix(self.width)}"


@dataclass(frozen=True, slots=True)
class BundleId:
    """An entry bundle: ``width`` entries from leaf ``index·256``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_index(self.index, 0)
        _check_width(self.width)

    @property
    def is_partial(self) -> bool:
        """Whether the bundle holds fewer than 256 entries."""
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """The path of the bundle below the log prefix (rule 1)."""
        return f"tile/entries/{format_index(self.index)}{_suffix(self.width)}"


def format_index(index: int) -> str:
    """The path form of a tile index (rule 3): 1234067 → ``x001/x234/067``."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise MalformedInput("a tile index is a non-negative integer")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_index(text: str) -> int:
    """The tile index written as ``text`` in its only accepted form (rule 3)."""
    if len(text) > _MAX_PATH or not re.fullmatch(_INDEX, text):
        raise MalformedInput("a tile index is 3-digit path elements, all but the last after an 'x'")
    index = int(text.replace("x", "").replace("/", ""))
    if format_index(index) != text:  # "x000/067" would be a second path for 67
        raise MalformedInput("a tile index must not start with an all-zero element")
    return index


def parse_path(path: str) -> TileId | BundleId:
    """The tile or entry bundle named by ``path`` (``tile/…``, one leading ``/`` allowed).

    Accepts exactly the paths :meth:`TileId.path` and :meth:`BundleId.path`
    produce (rules 1-4), so a cache keyed by path never holds one resource twice.
    """
    if not isinstance(path, str):
        raise MalformedInput("a tile path is text")
    if path.startswith("/"):
        path = path[1:]
    match = _PATH.fullmatch(path) if len(path) <= _MAX_PATH else None
    if match is None:
        raise MalformedInput("not a tile path: expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
    index = parse_index(match["index"])
    width = TILE_WIDTH
    if match["width"] is not None:
        width = int(match["width"])
        if width >= TILE_WIDTH:  # rule 4: only a partial tile names its width
            raise MalformedInput("a partial tile has from 1 to 255 hashes")
    if match["level"] == "entries":
        return BundleId(index, width)
    return TileId(int(match["level"]), index, width)


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes tile ``(level, index)`` holds in a tree of ``size`` leaves; 0 if none (rule 5).

    Entry bundle ``index`` holds ``tile_width(0, index, size)`` entries.
    """
    _check_level(level)
    _check_size(size)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise MalformedInput("a tile index is a non-negative integer")
    nodes = size >> (TILE_HEIGHT * level)  # hashes at tree level 8·level
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def partial_tiles(size: int) -> list[TileId]:
    """The partial tiles of a tree of ``size`` leaves, lowest level first (rule 5)."""
    _check_size(size)
    found = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        if nodes % TILE_WIDTH:
            found.append(TileId(level, nodes // TILE_WIDTH, nodes % TILE_WIDTH))
        level += 1
    return found


def tiles_for_size(size: int) -> Iterator[TileId]:
    """Every tile of a tree of ``size`` leaves, full and partial, level by level (rule 5)."""
    _check_size(size)
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        for index in range(nodes // TILE_WIDTH):
            yield TileId(level, index)
        if nodes % TILE_WIDTH:
            yield TileId(level, nodes // TILE_WIDTH, nodes % TILE_WIDTH)
        level += 1


def split_tile(data: bytes, width: int | None = None) -> list[bytes]:
    """The hashes of a tile's bytes (rule 5); ``width``, if given, must match."""
    if not isinstance(data, bytes) or not data or len(data) % HASH_SIZE or len(data) > HASH_SIZE * TILE_WIDTH:
        raise MalformedInput(f"a tile is 1 to 256 hashes of {HASH_SIZE} bytes")
    if width is not None and len(data) != width * HASH_SIZE:
        raise MalformedInput(f"tile has {len(data) // HASH_SIZE} hashes, expected {width}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """The entry bundle holding ``entries`` (1 to 256 of them, each at most 65,535 bytes; rule 6)."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedInput("an entry bundle holds 1 to 256 entries")
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise MalformedInput(f"an entry of {len(entry)} bytes does not fit a bundle (max 65535)")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of an entry bundle (rule 6); ``width``, if given, is the expected count.

    Every byte must belong to an entry: a truncated entry, trailing bytes, an
    empty bundle or more than 256 entries are refused.
    """
    if not isinstance(data, bytes):
        raise MalformedInput("an entry bundle is bytes")
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if len(entries) == TILE_WIDTH:
            raise MalformedInput("an entry bundle holds at most 256 entries")
        if end - pos < 2:
            raise MalformedInput("entry bundle ends inside a length prefix")
        length = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if end - pos < length:
            raise MalformedInput("entry bundle ends inside an entry")
        entries.append(data[pos : pos + length])
        pos += length
    if not entries:
        raise MalformedInput("an entry bundle holds at least one entry")
    if width is not None and len(entries) != width:
        raise MalformedInput(f"entry bundle has {len(entries)} entries, expected {width}")
    return entries


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def _check_level(level: object) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_TILE_LEVEL:
        raise MalformedInput("a tile level is an integer from 0 to 63")


def _check_index(index: object, level: int) -> None:
    # The tile's first leaf, index·256**(level+1), must be a valid leaf index.
    limit = MAX_TREE_SIZE >> (TILE_HEIGHT * (level + 1))
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= limit:
        raise MalformedInput("tile index is outside a 64-bit tree")


def _check_width(width: object) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise MalformedInput("a tile has from 1 to 256 hashes")


def _check_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedInput("a tree size is an integer from 0 to 2**64-1")
