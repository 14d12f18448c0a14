"""The holder's wallet engine, CLI and phone-sized web app (to be built)."""
