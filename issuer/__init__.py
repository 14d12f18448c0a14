"""The issuer service for identity providers (to be built)."""
