"""Parties: whoever controls the ground a fix lies on, and how to reach them."""
