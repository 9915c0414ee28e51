"""Places: the squares, stations and parks that walks go around, and their pages."""
