"""The HTTP side of the C2SP tlog-witness protocol: the server route and the log's client.

Server: :func:`create_witness_app` serves ``POST /add-checkpoint`` (the path
under the witness's *submission prefix*, wherever the app is mounted) with the
answers of :class:`~registry.witness.Witness`. Bodies over the limit get 413
before they are read whole; a failing store gets 503; bad input never gets 500.

Client: :func:`request_cosignature` is how a log asks one witness to cosign.
Per the spec it recovers from a 409 (the witness's size differs from the one
the log assumed) by building a proof from the size the witness reported and
asking once more, and it keeps only cosignatures that verify under the
witness's key ("the client MUST ignore any cosignatures from unknown keys").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from identity.errors import MalformedInput, RemoteError
from identity.ledger.checkpoint import parse_checkpoint_body
from identity.ledger.cosignature import CosignatureVerifier
from identity.ledger.note import NoteSignature, parse_note_unverified, verify_note
from registry.witness import (
    SIZE_CONTENT_TYPE,
    Witness,
    format_add_checkpoint_request,
    parse_size_response,
)
from registry.witness_store import WitnessStoreError

__all__ = ["ProofForSize", "create_witness_app", "request_cosignature"]

#: Builds the consistency proof from a given old size to the checkpoint being submitted.
ProofForSize = Callable[[int], Sequence[bytes]]

_TEXT = "text/plain; charset=utf-8"
_DECIMAL = re.compile(r"[0-9]{1,20}")
_MAX_RESPONSE_BYTES = 64 * 1024


def create_witness_app(witness: Witness, *, max_body_bytes: int = 64 * 1024) -> Starlette:
    """A Starlette app serving ``POST /add-checkpoint`` for ``witness``.

    Mount it under the witness's submission prefix, e.g.
    ``Mount("/witness", app=create_witness_app(w))``, or serve it alone.
    """

    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None:
            if _DECIMAL.fullmatch(declared) is None:
                return _plain(400, "malformed Content-Length")
            if int(declared) > max_body_bytes:
                return _plain(413, "request body too large")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body_bytes:  # a lying or absent Content-Length
                    return _plain(413, "request body too large")
        except ClientDisconnect:
            return _plain(400, "request body incomplete")
        try:
            answer = await run_in_threadpool(witness.add_checkpoint, bytes(body))
        except WitnessStoreError:
            return _plain(503, "witness store unavailable; retry later")
        # The exact Content-Type: Starlette would append a charset to text/x.tlog.size.
        return Response(answer.body, answer.status, headers={"content-type": answer.content_type})

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


def request_cosignature(
    http_client: httpx.Client,
    base_url: str,
    old_size: int,
    proof: Sequence[bytes],
    checkpoint_note: bytes | str,
    *,
    witness: CosignatureVerifier,
    proof_for: ProofForSize | None = None,
    max_response_bytes: int = _MAX_RESPONSE_BYTES,
) -> bytes:
    """Ask the witness at ``base_url`` (its submission prefix) to cosign ``checkpoint_note``.

    ``old_size`` and ``proof`` are the log's guess of the witness's latest
    size and the consistency proof from it. On a 409 carrying the witness's
    size, retries once with ``proof_for(size)`` (if given, and if that size is
    not beyond the checkpoint's; it is called only for ``0 < size <=`` the
    checkpoint's size, and from size 0 the proof is empty). Returns the signature line(s) by
    ``witness``'s key, verified over the checkpoint text, ready to append to
    the note. Raises :class:`~identity.errors.RemoteError` if the witness
    refuses or fails, :class:`~identity.errors.InvalidSignature` or
    :class:`~identity.errors.UnknownKey` if its answer holds no valid
    cosignature by its key.
    """
    text = parse_note_unverified(checkpoint_note).text
    size = parse_checkpoint_body(text).size
    url = base_url.rstrip("/") + "/add-checkpoint"
    status, content_type, body = _post(
        http_client, url, format_add_checkpoint_request(old_size, proof, checkpoint_note), max_response_bytes
    )
    if status == 409 and content_type == SIZE_CONTENT_TYPE and proof_for is not None:
        try:
            witness_size = parse_size_response(body)
        except MalformedInput as exc:
            raise RemoteError(f"witness at {url} sent a malformed size") from exc
        if witness_size > size:
            raise RemoteError(f"witness at {url} has seen a larger tree ({witness_size}) than {size}")
        if witness_size != old_size:
            retry_proof = proof_for(witness_size) if witness_size else []  # from 0: always empty
            retry = format_add_checkpoint_request(witness_size, retry_proof, checkpoint_note)
            status, content_type, body = _post(http_client, url, retry, max_response_bytes)
    if status != 200:
        detail = body[:200].decode("utf-8", "replace").strip()
        raise RemoteError(f"witness at {url} refused the checkpoint ({status}): {detail}")
    return _verified_lines(text, body, witness, url)


def _post(client: httpx.Client, url: str, body: bytes, limit: int) -> tuple[int, str, bytes]:
    try:
        with client.stream("POST", url, content=body) as response:
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > limit:
                    raise RemoteError(f"witness at {url} answered more than {limit} bytes")
            media = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return response.status_code, media, bytes(received)
    except httpx.HTTPError as exc:
        raise RemoteError(f"witness at {url} could not be reached: {type(exc).__name__}") from exc


def _verified_lines(text: str, body: bytes, witness: CosignatureVerifier, url: str) -> bytes:
    # The spec's suggestion: append the answer to the checkpoint text and verify
    # the note with the witness key only; other lines are ignored.
    if not body.startswith("— ".encode()) or not body.endswith(b"\n"):
        raise RemoteError(f"witness at {url} answered something other than signature lines")
    try:
        lines = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteError(f"witness at {url} answered bytes that are not UTF-8") from exc
    try:
        parse_note_unverified(text + "\n" + lines)
    except MalformedInput as exc:
        raise RemoteError(f"witness at {url} answered malformed signature lines") from exc
    verified = verify_note(text + "\n" + lines, [witness])  # InvalidSignature / UnknownKey
    return "".join(
        NoteSignature(v.verifier.name, v.verifier.key_id, v.signature).line() for v in verified.verified
    ).encode("utf-8")


def _plain(status: int, message: str) -> Response:
    return Response(message + "\n", status, headers={"content-type": _TEXT})
