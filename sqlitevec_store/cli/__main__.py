"""``python -m sqlitevec_store.cli``: the ``sqlitevec-store`` command."""

from . import main

main()
