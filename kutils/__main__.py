"""`python -m kutils`: the command line (see `kutils.cli`)."""

from kutils.cli import main

raise SystemExit(main())
