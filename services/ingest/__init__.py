"""Ingest: raw e-mail (RFC 5322 bytes or JSON events) to normalized, threaded conversations."""
