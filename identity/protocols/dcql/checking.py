"""The verifier's side of DCQL: does a VP Token answer the query it sent, and which
disclosures went beyond it (OpenID4VP 1.0 sections 6.4 and 8.1 ``vp_token``).

Input: per Credential Query id, the presentations already verified by
:func:`identity.credentials.sdjwt.verify`. Rules, numbered for the code comments:

1. Every id in the VP Token names a Credential Query of the query.
2. Each entry holds one presentation, or several when ``multiple`` is true (8.1).
3. The query is of format ``dc+sd-jwt`` and the presentation's ``vct`` is one of
   ``vct_values``.
4. With ``require_cryptographic_holder_binding`` (the default), the presentation carried a
   verified key-binding JWT (:class:`BindingError` otherwise).
5. Claims (6.4.1): every claim of ``claims`` is present, or those of one of the
   ``claim_sets`` (the first met is reported); present means the path pointer selects
   something in the verified claims and, with ``values``, one selected element matches.
   ``values`` are checked because akashi asks for them as policy, but they are never the
   only security check (section 6.4.1 says so).
6. Credentials (6.4.2): without ``credential_sets`` every Credential Query is answered;
   with them every required set is met by one option, and no id is answered that no set
   names.
7. Every disclosed path is reported as requested (on the way to or inside a claim of the
   option met) or not requested: wallets "MUST NOT send selectively disclosable claims
   that have not been selected", so the caller refuses or drops the extra ones.

Failures raise :class:`PolicyError` (or :class:`BindingError`) naming the query and claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from identity.credentials.sdjwt import VerifiedSdJwt
from identity.credentials.sdjwt.common import ClaimPath
from identity.errors import BindingError, PolicyError
from identity.protocols.dcql.pointer import PointerError, matches_values, path_covers, select
from identity.protocols.dcql.query import SD_JWT_VC_FORMAT, ClaimsQuery, CredentialQuery, DcqlQuery

__all__ = ["CheckedPresentation", "DcqlCheck", "check_presentation"]


@dataclass(frozen=True, slots=True)
class CheckedPresentation:
    """One presentation held to its Credential Query.

    ``claim_set`` is the ids of the claim set met (``None`` without ``claim_sets``);
    ``requested`` / ``not_requested`` split the presentation's disclosed paths.
    """

    query_id: str
    index: int
    claim_set: tuple[str, ...] | None
    requested: tuple[ClaimPath, ...]
    not_requested: tuple[ClaimPath, ...]


@dataclass(frozen=True, slots=True)
class DcqlCheck:
    """A VP Token that answers its query, with every presentation's report."""

    presentations: tuple[CheckedPresentation, ...]

    @property
    def not_requested(self) -> dict[str, list[tuple[int, ClaimPath]]]:
        """Per query id, ``(presentation index, path)`` of every disclosure not asked for."""
        out: dict[str, list[tuple[int, ClaimPath]]] = {}
        for item in self.presentations:
            for path in item.not_requested:
                out.setdefault(item.query_id, []).append((item.index, path))
        return out


def _claim_problem(item: ClaimsQuery, verified: VerifiedSdJwt) -> str | None:
    try:
        selected = select(verified.claims, item.path)
    except PointerError:
        return f"claim {list(item.path)!r} is missing"
    if not matches_values(selected, item.values):
        return f"claim {list(item.path)!r} does not have an accepted value"
    return None


def _check_one(query: CredentialQuery, verified: VerifiedSdJwt, index: int) -> CheckedPresentation:
    where = f"credential {query.id!r}"
    if query.format != SD_JWT_VC_FORMAT or query.vct_values is None:  # rule 3
        raise PolicyError(f"{where}: format {query.format!r} cannot be answered by an SD-JWT VC")
    vct = verified.claims.get("vct")
    if vct not in query.vct_values:
        raise PolicyError(f"{where}: vct {vct!r} is not one of the accepted types")
    if query.require_cryptographic_holder_binding and verified.key_binding is None:  # rule 4
        raise BindingError(f"{where}: the presentation has no key binding")
    options = query.claim_options()  # rule 5
    problem = ""
    for n, option in enumerate(options):
        problems = [p for p in (_claim_problem(c, verified) for c in option) if p is not None]
        if problems:
            problem = problem or problems[0]
            continue
        wanted = [c.path for c in option]  # rule 7
        requested = tuple(p for p in verified.paths if path_covers(p, wanted))
        return CheckedPresentation(
            query_id=query.id,
            index=index,
            claim_set=None if query.claim_sets is None else query.claim_sets[n],
            requested=requested,
            not_requested=tuple(p for p in verified.paths if p not in requested),
        )
    if len(options) > 1:
        raise PolicyError(f"{where}: none of the claim_sets is met ({problem} in the first)")
    raise PolicyError(f"{where}: {problem}")


def _check_sets(query: DcqlQuery, answered: set[str]) -> None:
    """Rule 6."""
    if query.credential_sets is None:
        missing = [q.id for q in query.credentials if q.id not in answered]
        if missing:
            raise PolicyError("no presentation for credential " + ", ".join(repr(m) for m in missing))
        return
    named: set[str] = set()
    for n, item in enumerate(query.credential_sets):
        named.update(qid for option in item.options for qid in option)
        met = any(all(qid in answered for qid in option) for option in item.options)
        if item.required and not met:
            wanted = " or ".join("+".join(o) for o in item.options)
            raise PolicyError(f"credential_sets[{n}] is not met: it needs {wanted}")
    stray = sorted(answered - named)
    if stray:
        raise PolicyError("presentations for credentials no credential set asks for: " + ", ".join(stray))


def check_presentation(
    query: DcqlQuery, presented: Mapping[str, Sequence[VerifiedSdJwt]]
) -> DcqlCheck:
    """Hold verified presentations, keyed by Credential Query id, to ``query`` (rules 1-7).

    Returns the per-presentation report; raises :class:`PolicyError` or
    :class:`BindingError` when the VP Token does not answer the query.
    """
    known = {q.id: q for q in query.credentials}
    checked: list[CheckedPresentation] = []
    for query_id, items in presented.items():
        credential = known.get(query_id)
        if credential is None:  # rule 1
            raise PolicyError(f"the VP Token answers unknown credential query {query_id!r}")
        if not items:  # rule 2
            raise PolicyError(f"credential {query_id!r}: the VP Token entry is empty")
        if len(items) > 1 and not credential.multiple:
            raise PolicyError(f"credential {query_id!r}: several presentations where one was asked for")
        checked.extend(_check_one(credential, verified, n) for n, verified in enumerate(items))
    _check_sets(query, set(presented))  # rule 6
    return DcqlCheck(tuple(checked))

