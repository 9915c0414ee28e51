"""Photos: the pure pipeline (sniff, EXIF, upright, resize, strip), files on disk, rows, serving."""
