"""Residents' personal data: how long it is kept, and what a person may have of it."""
