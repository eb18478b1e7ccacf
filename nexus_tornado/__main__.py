"""``python -m nexus_tornado``: the same as the ``nexus-tornado`` command."""

import sys

from .cli import main

sys.exit(main())
