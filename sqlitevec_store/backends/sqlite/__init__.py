"""The SQLite backend: SQL text, the connection, vec0, FTS5 and the change log."""
