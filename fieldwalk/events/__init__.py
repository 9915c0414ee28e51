"""Events (händelser): what affected safety at a place, beside the walks' observations.

`model` holds the domain functions (a database and plain values in), `importer` and
`problems` the CSV import and what it says about a bad file, `cli` the `import-events`
command, `views` and `forms` the phone form, the upload and the list, `demo` made-up events.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the event pages, the import command and the label helpers."""
    from fieldwalk.events import cli, model, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.import_events_command)
    app.jinja_env.globals["event_type_label"] = model.type_label
    app.jinja_env.globals["event_source_label"] = model.source_label
