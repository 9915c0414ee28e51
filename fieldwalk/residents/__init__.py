"""Residents who asked to hear back: their follows, their emails, their answers."""
