"""The coordinators' dashboard: every observation and task on a map and in a list, filtered, and exported."""
