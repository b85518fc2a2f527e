"""``python -m audit`` runs the CLI (the same as the ``tokaudit`` command)."""

from audit.cli import main

main()
