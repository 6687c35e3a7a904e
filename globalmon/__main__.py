"""`python -m globalmon` runs the `globalmon` command."""

import sys

from globalmon.cli import main

sys.exit(main())
