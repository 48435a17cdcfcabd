"""Run the fleet simulator: `python -m firmware_sim --help`."""

from firmware_sim.cli import main

raise SystemExit(main())
