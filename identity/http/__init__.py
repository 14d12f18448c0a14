"""HTTP message authentication for akashi's services, pure like the rest of ``identity``.

- :mod:`.content_digest` — RFC 9530 ``Content-Digest`` (``sha-256``; ``sha-512``
  accepted on receipt): the digest of the body a signature can cover.
- :mod:`.message_signatures` — RFC 9421 HTTP Message Signatures on requests with
  Ed25519: the signature base, signing, and verification against a key resolver,
  an injected ``now`` and a freshness window.

A request comes in as its method, target URI, header fields and body; nothing here
reads a socket, a clock or the environment. Replay protection needs memory, so it is
the caller's: :func:`.message_signatures.verify_request` returns what to remember.
"""
