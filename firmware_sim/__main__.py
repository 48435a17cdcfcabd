"""`python -m firmware_sim`: run the fleet simulator, split it over processes, or run one of its tools.

The first word picks a tool (`report`, `listen`); `--processes N` splits the fleet over N child
processes (processes.py); anything else is the simulator itself (cli.py).
"""

import argparse
import importlib
import sys

# Imported by name, so a tool loads only what it needs (`report` no MQTT client, no fleet).
TOOLS = {
    "report": "firmware_sim.report",
    "listen": "firmware_sim.listen",
}
PROCESSES_OPTION = "--processes"
EPILOG = """\
tools:
  python -m firmware_sim report --run ID     compare the controller's report of a run with what really sounded
  python -m firmware_sim listen --cid CID    run one cluster and show every command and message it exchanges
  (each has its own --help)

more than one core:
  --processes N      split the fleet over N child processes (each runs --shard K/N); pass every other
                     option as usual, e.g. python -m firmware_sim --processes 2 --clusters 10000 --synthetic
"""


def main(argv: list[str]) -> int:
    """Hand the command line to the tool, the process splitter or the simulator it is for."""
    if argv and argv[0] in TOOLS:
        return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
    if any(arg == PROCESSES_OPTION or arg.startswith(PROCESSES_OPTION + "=") for arg in argv):
        return importlib.import_module("firmware_sim.processes").main(argv)
    cli = importlib.import_module("firmware_sim.cli")
    if "-h" in argv or "--help" in argv:
        show_help(cli.build_parser())
        return 0
    return cli.main(argv)


def show_help(parser: argparse.ArgumentParser) -> None:
    """Print the simulator's help with the tools and --processes added at the end."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.print_help()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
