"""The web view: a static page at /ui over a live simulation or a finished run's tables.

`static/` holds the page (plain ES modules and CSS, no build step). `web` serves it and the
`/ui/api/*` read endpoints; `live` answers them from a running World (blocking queries, as
Nomad's), `recorded` from a results folder (read-only, at any instant of the recorded span).
`rows` holds what both share: the table columns, filters and pages.
"""
