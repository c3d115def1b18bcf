"""`python -m cmoc_core ...`"""

import sys

from cmoc_core.cli import main

sys.exit(main())
