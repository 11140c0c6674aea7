"""``python -m reliability.faults``: see :mod:`reliability.faults.command`."""

import sys

from reliability.faults.command import main

sys.exit(main())
