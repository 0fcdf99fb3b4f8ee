"""`python -m outfall ...`: the same as the `outfall` console script."""

import sys

from outfall.cli import main

sys.exit(main())
