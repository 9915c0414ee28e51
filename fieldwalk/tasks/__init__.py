"""Tasks: the fixes proposed on walks, their state machine, and every way people act on them
(task pages, the engineer's My tasks, triage, parties' signed links, emails)."""
