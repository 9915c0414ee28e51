"""Running fieldwalk: health checks, the request log, backup and restore."""
