"""Tools for people running fieldwalk, not for its users: the demo district and load data."""
