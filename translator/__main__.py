"""``python -m translator`` runs the ``x2sve`` command line."""
import sys

from .cli import main

sys.exit(main())
