"""``python -m wirecap`` runs the CLI."""

from .cli import main

main()
