"""Text bound for spreadsheets: cells that Excel would run as formulas are neutralised, and CSV
is written in the reader's dialect (one writer for every CSV download).

Excel in a Swedish locale splits a double-clicked CSV on ';' and reads '59,35' as a number,
so Swedish readers get semicolons and decimal commas; English readers get commas and points.
Either way the file is UTF-8 with a byte order mark (Excel then reads å, ä, ö) and CRLF lines.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Full-width forms too: Excel reads "＝1+1" typed on a Japanese or Chinese keyboard as "=1+1".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def neutralise(value):
    """A text a spreadsheet would take for a formula, made plain text with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_sql(expression: str) -> str:
    """SQL doing `neutralise` on a text expression (fixed column names only)."""
    starts = ", ".join(f"char({ord(c)})" for c in FORMULA_STARTS)
    return (
        f"CASE WHEN substr({expression}, 1, 1) IN ({starts})"
        f" THEN '''' || {expression} ELSE {expression} END"
    )


@dataclass(frozen=True)
class CsvDialect:
    """How a reader's spreadsheet splits cells and writes decimals."""

    delimiter: str
    decimal: str


COMMA = CsvDialect(",", ".")
SWEDISH = CsvDialect(";", ",")


def dialect_for(language: str | None) -> CsvDialect:
    """The dialect of a reader of this language: Swedish, else the comma one."""
    return SWEDISH if language == "sv" else COMMA


def csv_chunks(
    header: Iterable[str], batches: Iterable[list[tuple]], dialect: CsvDialect = COMMA
) -> Iterator[str]:
    """CSV text: byte order mark and header first, then one chunk per batch of rows. Floats
    get the dialect's decimal sign; everything else is written as it is (neutralise text
    first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n")
    writer.writerow(header)
    yield "\ufeff" + buffer.getvalue()
    comma = dialect.decimal != "."
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        if comma:
            batch = [
                [repr(v).replace(".", dialect.decimal) if type(v) is float else v for v in row]
                for row in batch
            ]
        writer.writerows(batch)
        yield buffer.getvalue()
