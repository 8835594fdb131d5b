"""``python -m wfconsole.cli`` runs the command line."""

import sys

from wfconsole.cli import main

sys.exit(main())
