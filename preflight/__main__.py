"""``python -m preflight``: see preflight/cli.py."""

from preflight.cli import main

raise SystemExit(main())
