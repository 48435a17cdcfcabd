"""Where the simulator and its tools look when not told: the broker, controller and instance dir of `make run`.

Each default follows the variable `make run` itself reads (README, "Configuration"): a tester who started the
stack with other ports or another instance dir runs `python -m firmware_sim`, `listen` and `report` in the same
shell and they find it. The values are read when a command line is built, not at import, so they follow the
environment of the moment. The numbers are make run's (pa_controller/settings.py); this package imports nothing
of the controller to learn them, and a test keeps the two in step.
"""

import os
from collections.abc import Mapping
from pathlib import Path

MQTT_PORT = 1884  # PA_MQTT_PORT: the private Mosquitto of `make run`
HTTP_PORT = 5000  # PA_HTTP_PORT: the controller's web UI and API
INSTANCE_DIR = Path("instance")  # PA_INSTANCE_DIR, relative to where make run runs (the repository)
TRUTH_NAME = "sim-truth.jsonl"
STATE_NAME = "sim-state"
TOKEN_NAME = "bootstrap-token"
CREDENTIALS_NAME = "sim-credentials.csv"  # the simulated clusters' broker passwords, issued by make run
BROKER_DIR_NAME = "broker"  # PA_BROKER_DIR's default, in the instance dir
MONITOR_USERNAME = "loanet.monitor"  # make run's read-only broker account for tools such as `listen`
MONITOR_SECRET_NAME = "monitor.password"

# How --help says where a default comes from, after the value itself.
BROKER_SOURCE = "make run's: $PA_MQTT_URL, else mqtt://127.0.0.1:$PA_MQTT_PORT"
API_SOURCE = "make run's: http://127.0.0.1:$PA_HTTP_PORT"
KEYS_SOURCE = "make run's controller: http://127.0.0.1:$PA_HTTP_PORT" + "/api/v1/keys/commands"
INSTANCE_SOURCE = "make run's, in $PA_INSTANCE_DIR"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def broker_url(env: Mapping[str, str] | None = None) -> str:
    """Return the broker `make run` uses: $PA_MQTT_URL, else its private one on $PA_MQTT_PORT."""
    env = _env(env)
    return env.get("PA_MQTT_URL") or f"mqtt://127.0.0.1:{env.get('PA_MQTT_PORT') or MQTT_PORT}"


def api_url(env: Mapping[str, str] | None = None) -> str:
    """Return the controller's base URL under `make run`: http://127.0.0.1:$PA_HTTP_PORT."""
    return f"http://127.0.0.1:{_env(env).get('PA_HTTP_PORT') or HTTP_PORT}"


def keys_url(env: Mapping[str, str] | None = None) -> str:
    """Return where `make run`'s controller publishes its command keys."""
    return api_url(env) + "/api/v1/keys/commands"


def instance_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return `make run`'s instance dir: $PA_INSTANCE_DIR, else instance/."""
    return Path(_env(env).get("PA_INSTANCE_DIR") or INSTANCE_DIR)


def truth_path(env: Mapping[str, str] | None = None) -> Path:
    """Return where the simulator writes its ground truth under `make run`."""
    return instance_dir(env) / TRUTH_NAME


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return where simulated clusters keep the command ids they accepted under `make run`."""
    return instance_dir(env) / STATE_NAME


def token_file(env: Mapping[str, str] | None = None) -> Path:
    """Return where `make run` writes the first administrator's API token."""
    return instance_dir(env) / TOKEN_NAME


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    """Return where `make run` writes the simulated clusters' broker passwords (rows of `cid,password`)."""
    return instance_dir(env) / CREDENTIALS_NAME


def credentials_file(env: Mapping[str, str] | None = None) -> str | None:
    """Return make run's credentials file if there is one: the default of --credentials."""
    path = credentials_path(env)
    return str(path) if path.is_file() else None


def monitor_secret_path(env: Mapping[str, str] | None = None) -> Path:
    """Return where `make run` keeps the password of its read-only monitor account: $PA_BROKER_DIR/monitor.password."""
    env = _env(env)
    return Path(env.get("PA_BROKER_DIR") or instance_dir(env) / BROKER_DIR_NAME) / MONITOR_SECRET_NAME


def monitor_login(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Return make run's monitor account (username, password) if its password is there, else None."""
    try:
        password = monitor_secret_path(env).read_text().strip()
    except OSError:
        return None
    return (MONITOR_USERNAME, password) if password else None


def shown(url: str) -> str:
    """Return a broker URL fit for --help and logs: a password in it becomes ***."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{separator}{userinfo.split(':', 1)[0]}:***@{host}"
