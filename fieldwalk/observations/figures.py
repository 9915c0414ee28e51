"""Observation figures for the safety index: how safe places felt, per place and period."""

from collections.abc import Sequence

from sqlite_utils import Database


def feeling_by_period(
    db: Database, place_ids: Sequence[int], spans: Sequence[tuple[str, str]]
) -> dict[int, list[tuple[int, float | None]]]:
    """Per place, for each span (UTC text, end excluded, by when observed): how many
    observations gave a feeling score (1 very unsafe to 5 very safe) and their mean (None
    when none did)."""
    if not place_ids or not spans:
        return {}
    values = ",".join("(?, ?, ?)" for _s in spans)
    params: list = [v for i, (s, e) in enumerate(spans) for v in (i, s, e)]
    rows = db.execute(
        f"""WITH spans(i, s, e) AS (VALUES {values})
            SELECT o.place_id, spans.i, count(*) AS n, avg(o.feeling) AS mean
            FROM observations o JOIN spans ON o.observed_at >= spans.s AND o.observed_at < spans.e
            WHERE o.feeling IS NOT NULL AND o.place_id IN ({",".join("?" * len(place_ids))})
            GROUP BY o.place_id, spans.i""",  # noqa: S608 - placeholders only
        [*params, *place_ids],
    )
    found: dict[int, list[tuple[int, float | None]]] = {
        p: [(0, None)] * len(spans) for p in place_ids
    }
    for row in rows:
        found[row["place_id"]][row["i"]] = (row["n"], row["mean"])
    return found
