"""Files as older sqlitevec-store versions wrote them: a current collection turned back into an older layout."""

from __future__ import annotations

from typing import Any

from sqlitevec_store.backends.sqlite import ddl


def downgrade(conn: Any, name: str, version: int) -> None:
    """Give collection ``name`` the layout of schema ``version`` (1-3) and record that version.

    3: the per-row keyword-index insert trigger (``..._fts_ai``) is back. 2:
    also no change log. 1: also no keyword index.
    """
    tables = ddl.CollectionTables(name)
    if version <= 3:
        conn.execute(ddl.create_fts_sql(tables, insert_trigger=True)[1])
    if version <= 2:
        for trigger in tables.change_triggers:
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(f"DROP TABLE {tables.changes}")
    if version <= 1:
        for trigger in tables.fts_triggers:
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(f"DROP TABLE {tables.fts}")
    conn.execute("UPDATE sqlitevec_store_collections SET schema_version = ? WHERE name = ?", (version, name))
