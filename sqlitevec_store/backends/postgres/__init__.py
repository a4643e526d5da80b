"""The Postgres + pgvector storage backend (``Database("postgresql://...")``)."""
