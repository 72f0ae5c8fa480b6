"""``python -m patcher`` is the ``patcher`` command."""

import sys

from patcher.cli import main

sys.exit(main())
