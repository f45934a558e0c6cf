"""The web console: sign-in with roles, Sync All, the results review, replay, options, audit.

Server-rendered (Starlette + Jinja2, served by uvicorn) on the same store and pipeline the
CLI uses. Modules: :mod:`.users` (people, argon2 hashes, sign-in throttling), :mod:`.people`
(audited user changes, for the Users page and ``wisesync users``), :mod:`.audit` (security
events), :mod:`.security` (sessions, CSRF, headers, Secure cookies over TLS),
:mod:`.settings` (the options' fields, core and plugin-declared, for the Options page and
``wisesync options``), :mod:`.jobs` (Sync All and replay in the background, their state in
Postgres), :mod:`.reviewpage` (the review's filters and paging), :mod:`.status` (the Runs
page's history, health and connections), :mod:`.app` and :mod:`.userpages` (the routes),
:mod:`.server` (uvicorn).
"""
