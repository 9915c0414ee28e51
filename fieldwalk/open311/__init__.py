"""Open311 GeoReport v2: the server other systems report to and read from, and parties reached through it."""
