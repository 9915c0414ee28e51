"""Text bound for spreadsheets: cells that Excel would run as formulas are neutralised."""

# With their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), which spreadsheets take for
# the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_SQL_FORMULA_STARTS = ", ".join(
    f"char({ord(c)})" if not c.isprintable() or ord(c) > 127 else f"'{c}'" for c in FORMULA_STARTS
)


def neutralise(value):
    """A text a spreadsheet would take for a formula, made plain text with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def plain(expression: str) -> str:
    """SQL for `neutralise` on a text column (fixed column names only)."""
    return (
        f"CASE WHEN substr({expression}, 1, 1) IN ({_SQL_FORMULA_STARTS})"
        f" THEN '''' || {expression} ELSE {expression} END"
    )
