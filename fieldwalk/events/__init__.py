"""Events (händelser): what affected safety at a place, beside the walks' observations.

`model` holds the domain functions (a database and plain values in), `importer` and
`problems` the CSV import and what it says about a bad file, `cli` the `import-events`
command, `views` and `forms` the phone form, the upload and the list, `demo` made-up events.
"""
