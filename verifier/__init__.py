"""The verifier service for sharing-economy operators (to be built)."""
