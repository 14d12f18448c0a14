"""JOSE for akashi: OKP JWKs (RFC 8037), compact JWS with EdDSA, JWT time checks."""
