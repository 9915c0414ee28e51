"""Walks: planning, joining by link or QR code, the walk page and the walk's protocol."""
