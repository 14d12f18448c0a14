"""The wallet's side of DCQL: which held credentials answer a query, disclosing what
(OpenID4VP 1.0 section 6.4, "Selecting Claims and Credentials").

Rules, numbered for the code comments:

1. A Credential Query of a format other than ``dc+sd-jwt`` matches no candidate (akashi
   holds only SD-JWT VCs); a candidate matches only if its ``vct`` is one of ``vct_values``
   (exact string: type inheritance is not followed).
2. With ``require_cryptographic_holder_binding`` (the default), a candidate without ``cnf``
   cannot be returned (appendix B.3).
3. Claims (6.4.1): none asked → nothing selectively disclosable is disclosed; ``claims``
   alone → every claim must be present; with ``claim_sets`` → the first set whose claims
   are all present. A claim is present when its path pointer selects something (section
   7.1.1) and, with ``values``, a selected element matches one exactly; a claim whose
   value does not match is treated as absent.
4. Credentials (6.4.2): without ``credential_sets`` every Credential Query must be
   answered; otherwise every required set must be met by one of its options (the first
   that can be met) and optional sets are answered when they can be.
5. If a required Credential Query or set cannot be answered, nothing is returned:
   :class:`PolicyError`.
6. ``multiple``: every matching candidate is returned; otherwise the first one.

``trusted_authorities`` is not evaluated (the candidates carry no issuer chain); the
verifier checks its issuers itself, as the specification requires anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.credentials.sdjwt.common import ClaimPath
from identity.errors import PolicyError
from identity.protocols.dcql.pointer import PointerError, matches_values, select
from identity.protocols.dcql.query import SD_JWT_VC_FORMAT, ClaimsQuery, CredentialQuery, DcqlQuery

__all__ = ["Candidate", "Selection", "match_credential", "select_credentials"]

#: query id -> [(candidate index, claim paths to disclose)]
Selection = dict[str, list[tuple[int, list[ClaimPath]]]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A credential the wallet holds: its ``vct`` and all its claims, disclosures embedded
    (what :func:`identity.credentials.sdjwt.parse_claims_unverified` returns)."""

    vct: str
    claims: Mapping[str, Any]

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Candidate:
        """A candidate whose ``vct`` is read from its claims (``""`` when missing: never matches)."""
        vct = claims.get("vct")
        return cls(vct if isinstance(vct, str) else "", claims)


def _present(item: ClaimsQuery, claims: Mapping[str, Any]) -> bool:
    """Rule 3: the claim exists and, if ``values`` are given, has an accepted value."""
    try:
        selected = select(claims, item.path)
    except PointerError:
        return False
    return matches_values(selected, item.values)


def match_credential(query: CredentialQuery, candidate: Candidate) -> list[ClaimPath] | None:
    """The claim paths ``candidate`` would disclose to answer ``query``, or ``None``."""
    if query.format != SD_JWT_VC_FORMAT or query.vct_values is None:  # rule 1
        return None
    if candidate.vct not in query.vct_values:
        return None
    if query.require_cryptographic_holder_binding and "cnf" not in candidate.claims:  # rule 2
        return None
    for option in query.claim_options():  # rule 3: most preferred first
        if all(_present(item, candidate.claims) for item in option):
            return [item.path for item in option]
    return None


def _answers(query: CredentialQuery, candidates: Sequence[Candidate]) -> list[tuple[int, list[ClaimPath]]]:
    found: list[tuple[int, list[ClaimPath]]] = []
    for index, candidate in enumerate(candidates):
        paths = match_credential(query, candidate)
        if paths is not None:
            found.append((index, paths))
            if not query.multiple:  # rule 6
                break
    return found


def select_credentials(query: DcqlQuery, candidates: Sequence[Candidate]) -> Selection:
    """Answer ``query`` from ``candidates`` (rules 1-6 above).

    Returns ``{credential query id: [(candidate index, [claim paths to disclose])]}``, the
    paths in the form :func:`identity.credentials.sdjwt.present` takes. Raises
    :class:`PolicyError` when the query cannot be satisfied.
    """
    answers = {q.id: _answers(q, candidates) for q in query.credentials}
    if query.credential_sets is None:  # rule 4
        missing = [qid for qid, found in answers.items() if not found]
        if missing:  # rule 5
            raise PolicyError(
                "the query cannot be satisfied: no credential matches " + ", ".join(missing)
            )
        return answers
    chosen: Selection = {}
    for n, item in enumerate(query.credential_sets):
        option = next((o for o in item.options if all(answers[qid] for qid in o)), None)
        if option is None:
            if item.required:  # rule 5
                wanted = " or ".join("+".join(o) for o in item.options)
                raise PolicyError(
                    f"the query cannot be satisfied: credential_sets[{n}] needs {wanted}"
                )
            continue
        for qid in option:
            chosen[qid] = answers[qid]
    return chosen
