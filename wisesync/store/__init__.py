"""Durable state in Postgres: connection pool, migrations, tokens, plugin state."""
