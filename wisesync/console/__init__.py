"""The web console: sign-in with roles, Sync All, the results review, replay, options, audit.

Server-rendered (Starlette + Jinja2, served by uvicorn) on the same store and pipeline the
CLI uses. Modules: :mod:`.users` (people, argon2 hashes, sign-in throttling), :mod:`.audit`
(security events), :mod:`.security` (sessions, CSRF, headers), :mod:`.settings` (the options
page's fields, core and plugin-declared), :mod:`.jobs` (Sync All and replay in the
background, with progress), :mod:`.app` (the routes), :mod:`.server` (uvicorn).
"""
