"""``python -m songsdb`` is the ``songsdb`` command."""

import sys

from songsdb.cli import main

sys.exit(main())
