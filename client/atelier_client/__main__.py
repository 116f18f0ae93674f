"""``python -m atelier_client ...`` runs the ``atelier`` command."""

import sys

from atelier_client.cli import main

sys.exit(main())
