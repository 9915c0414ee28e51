"""Placeholder replaced below."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the demo commands."""
