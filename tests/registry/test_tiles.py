"""C2SP tlog-tiles encoding: paths both ways, which tiles exist, tile bytes, entry bundles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.errors import MalformedInput
from registry.tiles import (
    BundleId,
    TileId,
    decode_bundle,
    encode_bundle,
    format_index,
    parse_index,
    parse_path,
    partial_tiles,
    split_tile,
    tile_width,
    tiles_for_size,
)

MAX_INDEX0 = (2**64 - 1) >> 8  # the last level-0 tile of a 64-bit tree


@pytest.mark.parametrize(
    ("index", "text"),
    [
        (0, "000"),
        (67, "067"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the example of the spec
        (2**64 - 1, "x018/x446/x744/x073/x709/x551/615"),
    ],
)
def test_index_paths(index: int, text: str) -> None:
    assert format_index(index) == text
    assert parse_index(text) == index


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tile/0/x001/x234/067", TileId(0, 1234067)),
        ("tile/1/000.p/17", TileId(1, 0, 17)),
        ("/tile/63/000", TileId(63, 0)),
        ("tile/2/000.p/1", TileId(2, 0, 1)),
        ("tile/entries/x001/000.p/255", BundleId(1000, 255)),
        ("tile/entries/273", BundleId(273)),
    ],
)
def test_parse_path(path: str, expected: TileId | BundleId) -> None:
    parsed = parse_path(path)
    assert parsed == expected
    assert parsed.path() == path.lstrip("/")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile/0",
        "tile/0/",
        "tile/00/000",  # leading zero in the level
        "tile/64/000",  # level above 63
        "tile/-1/000",
        "tile/0/67",  # index element not 3 digits
        "tile/0/0067",
        "tile/0/001/067",  # inner element without its x
        "tile/0/x001",  # last element with an x
        "tile/0/x000/067",  # non-shortest form of 67
        "tile/0/000/",
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # a full tile never names its width
        "tile/0/000.p/012",
        "tile/0/000.p/",
        "tile/0/000.p/1/",
        "tile/0/000.P/1",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "tiles/0/000",
        "//tile/0/000",
        "tile/0/000\n",
        " tile/0/000",
        "tile/0/٠٦٧",  # non-ASCII digits
        "tile/0/x018/x446/x744/x073/x709/x551/615",  # first leaf beyond 2**64
        "tile/1/x281/x474/x976/x710/656",  # level 1: the same, one level up
        "tile/0/" + "x001/" * 30 + "000",
        "tile/entries/" + "9" * 1000,
    ],
)
def test_parse_path_refuses(path: str) -> None:
    with pytest.raises(MalformedInput):
        parse_path(path)


def test_parse_path_refuses_non_text() -> None:
    with pytest.raises(MalformedInput):
        parse_path(b"tile/0/000")  # type: ignore[arg-type]


@settings(max_examples=300, derandomize=True)
@given(
    st.integers(0, 7).flatmap(
        lambda level: st.tuples(
            st.just(level), st.integers(0, (2**64 - 1) >> (8 * (level + 1))), st.integers(1, 256)
        )
    )
)
def test_tile_path_round_trip(args: tuple[int, int, int]) -> None:
    tile = TileId(*args)
    assert parse_path(tile.path()) == tile
    bundle = BundleId(min(args[1], MAX_INDEX0), args[2])
    assert parse_path(bundle.path()) == bundle


@pytest.mark.parametrize(
    "args", [(-1, 0, 256), (64, 0, 1), (0, -1, 256), (0, 0, 0), (0, 0, 257), (0, MAX_INDEX0 + 1, 1)]
)
def test_tile_id_refuses_impossible_tiles(args: tuple[int, int, int]) -> None:
    with pytest.raises(MalformedInput):
        TileId(*args)


def test_tiles_of_the_spec_examples() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1."
    tiles = list(tiles_for_size(70_000))
    assert tiles == [
        *(TileId(0, i) for i in range(273)),
        TileId(0, 273, 112),
        TileId(1, 0),
        TileId(1, 1, 17),
        TileId(2, 0, 1),
    ]
    assert partial_tiles(70_000) == [TileId(0, 273, 112), TileId(1, 1, 17), TileId(2, 0, 1)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert list(tiles_for_size(256)) == [TileId(0, 0), TileId(1, 0, 1)]
    assert list(tiles_for_size(0)) == [] == partial_tiles(0)


@settings(max_examples=200, derandomize=True)
@given(st.integers(0, 300_000))
def test_tile_width_agrees_with_the_tile_list(size: int) -> None:
    for tile in tiles_for_size(size):
        assert tile_width(tile.level, tile.index, size) == tile.width
    top = max((t.level for t in tiles_for_size(size)), default=-1)
    for level in range(top + 2):
        count = sum(1 for t in tiles_for_size(size) if t.level == level)
        assert tile_width(level, count, size) == 0  # the first tile that does not exist


def test_tile_width_refuses_bad_arguments() -> None:
    for args in [(-1, 0, 10), (0, -1, 10), (0, 0, -1), (0, 0, 2**64)]:
        with pytest.raises(MalformedInput):
            tile_width(*args)


def test_split_tile() -> None:
    data = bytes(range(64))
    assert split_tile(data) == [data[:32], data[32:]]
    assert split_tile(data, 2) == [data[:32], data[32:]]
    assert len(split_tile(bytes(8192))) == 256
    for bad in [b"", bytes(31), bytes(33), bytes(8192 + 32)]:
        with pytest.raises(MalformedInput):
            split_tile(bad)
    with pytest.raises(MalformedInput):
        split_tile(data, 3)


def test_bundle_encoding_is_uint16_length_prefixed() -> None:
    assert encode_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"
    assert decode_bundle(b"\x00\x02ab\x00\x00\x00\x01c") == [b"ab", b"", b"c"]
    big = bytes(65535)
    assert decode_bundle(encode_bundle([big])) == [big]


entries_strategy = st.lists(st.binary(max_size=300), min_size=1, max_size=256)


@settings(max_examples=100, derandomize=True)
@given(entries_strategy)
def test_bundle_round_trip(entries: list[bytes]) -> None:
    data = encode_bundle(entries)
    assert decode_bundle(data) == entries
    assert decode_bundle(data, len(entries)) == entries
    with pytest.raises(MalformedInput):
        decode_bundle(data, len(entries) + 1)
    with pytest.raises(MalformedInput):  # every byte counts: the truncated bundle is refused
        decode_bundle(data[:-1])


@settings(max_examples=200, derandomize=True)
@given(entries_strategy, st.data())
def test_bundle_byte_flip_is_refused_or_differs(entries: list[bytes], data: st.DataObject) -> None:
    encoded = bytearray(encode_bundle(entries))
    pos = data.draw(st.integers(0, len(encoded) - 1))
    encoded[pos] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_bundle(bytes(encoded), len(entries))
    except MalformedInput:
        return
    assert decoded != entries


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x00\x02a", b"\x00\x01ab", b"\x00\x00" * 257, "text"],
)
def test_decode_bundle_refuses(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        decode_bundle(data)


def test_encode_bundle_refuses_what_cannot_be_encoded() -> None:
    for entries in [[], [b""] * 257, [bytes(65536)]]:
        with pytest.raises(MalformedInput):
            encode_bundle(entries)
