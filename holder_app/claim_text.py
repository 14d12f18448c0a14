"""Requested claims in plain words, for the consent screen (Japanese and English).

A person approves what they understand: "20歳以上かどうか (はい/いいえ)" rather than
``age_over_20``. Unknown paths fall back to the dotted path, so nothing requested is
ever hidden from the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["KNOWN_CLAIMS", "claim_label", "dotted", "has_claim"]

_LABELS: dict[tuple[str | int | None, ...], tuple[str, str]] = {
    ("age_over_18",): ("18歳以上かどうか (はい/いいえのみ)", "whether you are over 18 (yes/no only)"),
    ("age_over_20",): ("20歳以上かどうか (はい/いいえのみ)", "whether you are over 20 (yes/no only)"),
    ("verified_claims", "verification", "trust_framework"): (
        "本人確認の根拠となる法令 (犯罪収益移転防止法)",
        "the law your identity was verified under (Japan AML act)",
    ),
    ("verified_claims", "verification", "evidence"): (
        "本人確認の方法 (マイナンバーカード等)",
        "how your identity was verified (e.g. My Number card)",
    ),
    ("verified_claims", "verification", "time"): ("本人確認の日時", "when your identity was verified"),
    ("verified_claims", "claims", "family_name"): ("姓", "family name"),
    ("verified_claims", "claims", "given_name"): ("名", "given name"),
    ("verified_claims", "claims", "birthdate"): ("生年月日", "date of birth"),
    ("verified_claims", "claims", "address"): ("住所", "address"),
    ("categories",): ("運転できる免許の種類 (普通など)", "licence categories you may drive (e.g. ordinary)"),
    ("date_of_expiry",): ("免許証の有効期限", "licence expiry date"),
    ("date_of_issuance",): ("免許証の交付日", "licence issue date"),
    ("document_number",): ("免許証の番号", "licence number"),
    ("issuing_authority",): ("免許証の交付者 (公安委員会)", "authority that issued the licence"),
}


#: Every claim the wallet can name in plain words (what a consent screen lists as not shared).
KNOWN_CLAIMS: tuple[tuple[str | int | None, ...], ...] = tuple(_LABELS)


def dotted(path: Sequence[str | int | None]) -> str:
    """``a.b.0`` for a claim path (``*`` for "every element")."""
    return ".".join("*" if step is None else str(step) for step in path)


def claim_label(path: Sequence[str | int | None], lang: str = "ja") -> str:
    """The plain-words name of a claim path in ``lang`` (``ja`` or ``en``)."""
    key = tuple(path)
    for length in range(len(key), 0, -1):  # a path inside a known claim reads as that claim
        found = _LABELS.get(key[:length])
        if found is not None:
            return found[0] if lang == "ja" else found[1]
    return dotted(path)


def has_claim(claims: Any, path: Sequence[str | int | None]) -> bool:
    """Whether ``claims`` (a credential's claims, disclosures embedded) has a value at
    ``path`` — names only: the known claims sit under objects, not arrays."""
    node = claims
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return True
