"""``python -m wfconsole`` runs the command line."""

import sys

from wfconsole.cli import main

sys.exit(main())
