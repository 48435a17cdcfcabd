"""Make a running Mosquitto read its password and ACL files again, without a restart.

On SIGHUP Mosquitto 2.0 reloads both files and checks every connected client against them: a client whose
account is gone (a retired cluster) is disconnected at once. The private broker is signalled through its
pid file; a broker elsewhere (production) by a command the operator chooses, run without a shell.
"""

import os
import shlex
import signal
import subprocess
from pathlib import Path

COMMAND_TIMEOUT_S = 30


class BrokerReloadError(RuntimeError):
    """The broker could not be told to reload; the message says why and what to check."""


def reload(pid_file: Path, command: str = "") -> None:
    """Run `command` if there is one, else send SIGHUP to the Mosquitto whose pid is in `pid_file`."""
    if command:
        _run(command)
    else:
        _signal(pid_file)


def _run(command: str) -> None:
    try:
        # Without a shell: PA_BROKER_RELOAD is the operator's, split as a shell would, never interpreted.
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise BrokerReloadError(f"PA_BROKER_RELOAD ({command}) could not run: {exc}") from exc
    if done.returncode != 0:
        raise BrokerReloadError(f"PA_BROKER_RELOAD ({command}) exited with code {done.returncode}: "
                                f"{(done.stderr or done.stdout).strip()[:300]}")


def _signal(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise BrokerReloadError(f"no broker pid in {pid_file} ({exc}): is the private broker running?") from exc
    # A pid file outlives a broker that crashed, and its number may now be another process's, to which
    # SIGHUP would be fatal: signal it only if it is a Mosquitto.
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        command_line = None  # no /proc (not Linux), or no such process: kill() below says which
    if command_line is not None and b"mosquitto" not in command_line.split(b"\0", 1)[0]:
        raise BrokerReloadError(f"process {pid} of {pid_file} is not Mosquitto: the broker has stopped")
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise BrokerReloadError(f"cannot signal the broker (pid {pid} of {pid_file}): {exc}") from exc
