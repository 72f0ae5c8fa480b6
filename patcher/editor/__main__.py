"""``python -m patcher.editor [PATCH] [--screenshot OUT.png]``."""

import sys

from patcher.editor import main

sys.exit(main())
