"""Zones: the polygons that pick which party a fix goes to."""
