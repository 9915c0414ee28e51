"""Text bound for spreadsheets: cells that Excel would run as formulas are neutralised."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text a spreadsheet would take for a formula, made plain text with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
