"""``python -m porelib``: see :mod:`porelib.cli`."""

from porelib.cli import main

raise SystemExit(main())
