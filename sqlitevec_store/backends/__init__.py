"""Storage backends: the only code that knows a database engine (see base.py)."""
