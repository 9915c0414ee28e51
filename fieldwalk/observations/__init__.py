"""Observations: what participants saw, where, and how safe it felt; recorded once by UUID."""
