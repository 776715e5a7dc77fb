"""``python -m preflight``: see preflight/cli.py; ``contract``, ``emulator``, ``route``: preflight/services.py."""

import sys

from preflight.services import COMMANDS

if sys.argv[1:2] and sys.argv[1] in COMMANDS:
    from preflight.services import main as services_main

    raise SystemExit(services_main(sys.argv[1:]))

from preflight.cli import main

raise SystemExit(main())
