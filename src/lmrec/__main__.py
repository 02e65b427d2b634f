"""``python -m lmrec`` runs the CLI."""

from lmrec.cli import main

main()
