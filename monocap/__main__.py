"""``python -m monocap`` is the ``monocap`` command."""
import sys

from .cli import main

sys.exit(main())
