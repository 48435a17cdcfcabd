"""The controller's settings: one typed, frozen object, read and checked once from the environment at start.

`Settings.from_env()` reads every variable (README, "Configuration") and raises one SettingsError naming each
bad one. The factory keeps the result in `app.extensions["settings"]`; code running in an app context reads it
with `current()`, and what is built with the app (the worker, the launcher) is handed it.
"""

import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pa_controller.broker_usernames import is_own_username
from pa_protocol import DEFAULT_ROOT

EXTENSION = "settings"  # the key in app.extensions
# The controller's broker account. The dot keeps it out of the cluster ids ([a-z0-9-]), so no cluster can be named
# like it and take its client id (messaging/broker/accounts.py).
CONTROLLER_ACCOUNT = "loanet.controller"


MAX_INGEST_WORKERS = 64  # a shared subscription's members; past a few, the database is what saturates


class SettingsError(ValueError):
    """Variables that cannot be used; the message has a line for each, naming it, what it must be and what it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Every value the controller reads from its environment, checked; the README's table describes each."""

    instance_dir: Path
    database_url: str
    media_dir: Path
    key_dir: Path  # the private command keys: read by the worker and `flask pa keys`, never by the web
    http_port: int
    public_url: str
    mqtt_port: int  # the private Mosquitto's, when PA_MQTT_URL names no broker
    mqtt_url: str
    private_broker: bool  # PA_MQTT_URL unset: `make run` starts a broker of its own on mqtt_port
    mqtt_root: str
    mqtt_client_id: str
    mqtt_username: str  # the controller's broker account, when PA_MQTT_URL names none
    mqtt_password_file: Path  # …and where its password is kept (never in the environment: see README)
    mqtt_ca_file: Path | None  # the CA an mqtts:// broker's certificate is checked against; None: the system's
    mqtts_port: int  # the private Mosquitto's TLS listener
    broker_dir: Path  # the broker's config, password and ACL files, pid file, TLS files and the accounts' secrets
    broker_reload: str  # a command that makes the broker reload its files; "": SIGHUP to the private broker
    manage_broker: bool  # the worker keeps the broker's accounts in step with the fleet (private broker or reload)
    # 0: the scheduler takes the clusters' reports itself; N: it leaves them to `flask pa ingest --worker 1..N`,
    # which share them through an MQTT 5 shared subscription, each with an account of its own.
    ingest_workers: int
    dispatch_lead_s: float
    now_lead_s: float
    run_settle_s: float
    heartbeat_s: float
    telemetry_raw_h: float  # raw heartbeat samples kept, hours
    telemetry_keep_d: float  # five-minute telemetry rollups kept, days
    plan_horizon_h: float
    check_horizon_d: int  # days checked for conflicts and guardrails
    fleet_watch_s: float  # how often outages and incidents are judged
    incident_hold_s: float  # an outage waits this long to see if its ward goes down with it (a power cut)
    ward_outage_share: float
    alert_webhook_url: str  # incidents opened and closed are POSTed here; "" for none
    quiet_hours: tuple[time, time] | None  # a ward's default; None for none
    audio_max_bytes: int
    audio_max_seconds: float
    compose_max_seconds: float  # a programme is composed while the officer waits (about 2.4 s per audio minute)
    secret_key: str | None  # None: a random key kept in the instance dir (secret_key_of)
    tts_espeak_voice: str = "vi"  # espeak-ng's voice for "compose by text" (vi-vn-x-south: the Mekong delta's)
    tts_piper_model: Path | None = None  # a Piper voice read instead of espeak-ng's, when set
    tts_piper_command: str = "piper"
    session_idle_min: float = 60.0  # a page session ends after this long without a request
    session_max_h: float = 12.0  # and this long after login, however busy
    secure_cookies: bool = False  # the session cookie is Secure and __Host- (on by default behind https)
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For and -Proto are believed
    late_grace_s: float = 2.0  # PROTOCOL.md rule 3, not a variable
    display_timezone: str = "Asia/Ho_Chi_Minh"
    testing: bool = False
    messaging: str = "mqtt"  # "fake" records publishes in memory instead
    password_hash_method: str = "scrypt"  # werkzeug's method string

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read and check every variable; raise one SettingsError listing each that cannot be used."""
        read = _Reader(environ)
        instance_dir = Path(read.text("PA_INSTANCE_DIR") or "instance").resolve()
        http_port = read.value("PA_HTTP_PORT", 5000, _port, "a port number from 1 to 65535")
        mqtt_port = read.value("PA_MQTT_PORT", 1884, _port, "a port number from 1 to 65535")
        broker = read.text("PA_MQTT_URL")
        broker_dir = Path(read.text("PA_BROKER_DIR") or instance_dir / "broker").resolve()
        broker_reload = read.text("PA_BROKER_RELOAD")
        mqtt_username = read.value("PA_MQTT_USERNAME", CONTROLLER_ACCOUNT, _username,
                                   "a broker username that no cluster id can be (with a dot, such as "
                                   "loanet.controller) and without spaces, ':', '+', '#' or '/'")
        settings = cls(
            instance_dir=instance_dir,
            database_url=read.value("DATABASE_URL", f"sqlite:///{instance_dir / 'loanet.db'}", _database_url,
                                    "an SQLAlchemy URL such as postgresql+psycopg://user@host/loanet"),
            media_dir=Path(read.text("PA_MEDIA_DIR") or instance_dir / "media").resolve(),
            key_dir=Path(read.text("PA_KEY_DIR") or instance_dir / "keys").resolve(),
            http_port=http_port,
            public_url=read.value("PA_PUBLIC_URL", f"http://127.0.0.1:{http_port}", _http_url,
                                  "an http:// or https:// URL").rstrip("/"),
            mqtt_port=mqtt_port,
            mqtt_url=read.value("PA_MQTT_URL", f"mqtt://127.0.0.1:{mqtt_port}", _mqtt_url,
                                "a broker URL such as mqtt://host:port or mqtts://user:pass@host:port"),
            private_broker=not broker,
            mqtt_root=read.value("PA_MQTT_ROOT", DEFAULT_ROOT, _topic_root, "a topic prefix such as pa/v1"),
            mqtt_client_id=read.text("PA_MQTT_CLIENT_ID") or mqtt_username,
            mqtt_username=mqtt_username,
            mqtt_password_file=Path(read.text("PA_MQTT_PASSWORD_FILE") or broker_dir / "controller.password").resolve(),
            mqtt_ca_file=read.value("PA_MQTT_CA_FILE", None, _existing_file, "a readable PEM file of CA certificates"),
            mqtts_port=read.value("PA_MQTTS_PORT", 8884, _port, "a port number from 1 to 65535"),
            broker_dir=broker_dir,
            broker_reload=broker_reload,
            manage_broker=not broker or bool(broker_reload),
            ingest_workers=read.value("PA_INGEST_WORKERS", 0, _ingest_workers,
                                      f"a whole number of ingest processes from 0 to {MAX_INGEST_WORKERS}"),
            dispatch_lead_s=read.value("PA_DISPATCH_LEAD_S", 60.0, _above(0), "a number of seconds above 0"),
            now_lead_s=read.value("PA_NOW_LEAD_S", 3.0, _at_least(0), "a number of seconds, 0 or more"),
            run_settle_s=read.value("PA_RUN_SETTLE_S", 30.0, _at_least(0), "a number of seconds, 0 or more"),
            heartbeat_s=read.value("PA_HEARTBEAT_S", 30.0, _above(0), "a number of seconds above 0"),
            telemetry_raw_h=read.value("PA_TELEMETRY_RAW_H", 6.0, _above(0), "a number of hours above 0"),
            telemetry_keep_d=read.value("PA_TELEMETRY_KEEP_D", 90.0, _above(0), "a number of days above 0"),
            plan_horizon_h=read.value("PA_PLAN_HORIZON_H", 48.0, _above(0), "a number of hours above 0"),
            check_horizon_d=read.value("PA_CHECK_HORIZON_D", 366, _whole(1), "a whole number of days, 1 or more"),
            fleet_watch_s=read.value("PA_FLEET_WATCH_S", 2.0, _above(0), "a number of seconds above 0"),
            incident_hold_s=read.value("PA_INCIDENT_HOLD_S", 60.0, _at_least(0), "a number of seconds, 0 or more"),
            ward_outage_share=read.value("PA_WARD_OUTAGE_SHARE", 0.5, _share, "a share above 0 and at most 1"),
            alert_webhook_url=read.value("PA_ALERT_WEBHOOK_URL", "", _http_url, "an http:// or https:// URL or "
                                         "empty"),
            quiet_hours=read.value("PA_QUIET_HOURS", (time(21, 30), time(5, 0)), _quiet_hours,
                                   "two times such as 21:30-05:00, or empty for none", empty_is_unset=False),
            audio_max_bytes=read.value("PA_AUDIO_MAX_BYTES", 50 * 1024 * 1024, _whole(1),
                                       "a whole number of bytes, 1 or more"),
            audio_max_seconds=read.value("PA_AUDIO_MAX_SECONDS", 1800.0, _above(0), "a number of seconds above 0"),
            compose_max_seconds=read.value("PA_COMPOSE_MAX_SECONDS", 600.0, _above(0),
                                           "a number of seconds above 0"),
            secret_key=read.text("PA_SECRET_KEY") or None,
            tts_espeak_voice=read.value("PA_TTS_ESPEAK_VOICE", "vi", _voice_name,
                                           "an espeak-ng voice name such as vi or vi-vn-x-south"),
            tts_piper_model=read.value("PA_TTS_PIPER_MODEL", None, _existing_file,
                                          "a readable Piper voice model (.onnx) file"),
            tts_piper_command=read.text("PA_TTS_PIPER_COMMAND") or "piper",
            session_idle_min=read.value("PA_SESSION_IDLE_MIN", 60.0, _above(0), "a number of minutes above 0"),
            session_max_h=read.value("PA_SESSION_MAX_H", 12.0, _above(0), "a number of hours above 0"),
            secure_cookies=read.value("PA_SECURE_COOKIES", (read.text("PA_PUBLIC_URL") or "").startswith("https://"),
                                      _switch, "on or off (1/0, true/false, yes/no)"),
            trusted_proxies=read.value("PA_TRUSTED_PROXIES", 0, _whole(0), "a whole number of proxies, 0 or more"),
        )
        if settings.tts_piper_model and shutil.which(settings.tts_piper_command) is None:
            read.problems.append(f"PA_TTS_PIPER_MODEL needs the piper program, but PA_TTS_PIPER_COMMAND "
                                 f"({settings.tts_piper_command!r}) is not installed or not on PATH")
        url_login = unquote(urlsplit(settings.mqtt_url).username or "")
        if settings.manage_broker and url_login and not is_own_username(url_login):
            read.problems.append(f"PA_MQTT_URL must log in with a username no cluster id can be (with a dot, such as "
                                 f"{CONTROLLER_ACCOUNT}), since LoaNet writes the broker's accounts; not {url_login!r}")
        if read.problems:
            raise SettingsError(read.problems)
        return settings

    def for_testing(self) -> "Settings":
        """These settings with every side effect off: fake messaging, a cheap password hash, no quiet hours, no
        broker files rewritten.

        scrypt costs 0.12 s a hash and again a login, in hundreds of tests; tests check logic, not hash strength.
        Tests must not depend on the time of day they run; guardrail tests set rules of their own.
        """
        return replace(self, testing=True, messaging="fake", password_hash_method="pbkdf2:sha256:1000",
                       quiet_hours=None, manage_broker=False)


def current() -> Settings:
    """The Settings of the app of the current app context."""
    return of(current_app)


def of(app) -> Settings:
    """The Settings an app was built with."""
    return app.extensions[EXTENSION]


def secret_key_of(settings: Settings) -> str:
    """Return PA_SECRET_KEY, or a random key kept in the instance dir (never in the repo)."""
    if settings.secret_key:
        return settings.secret_key
    instance_dir = settings.instance_dir
    path = instance_dir / "secret-key"
    if not path.exists():
        # Written aside and linked into place, so workers starting together all read one key.
        instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = instance_dir / f".secret-key.{os.getpid()}"
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


class _Reader:
    """Reads variables, noting each that cannot be used instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str:
        return self.environ.get(name, "").strip()

    def value(self, name: str, default, parse: Callable[[str], object], must_be: str, *, empty_is_unset=True):
        """Return the variable parsed (default if unset); parse raises ValueError on a value it refuses."""
        if name not in self.environ or (empty_is_unset and not self.text(name)):
            return default
        raw = self.environ[name]
        try:
            return parse(raw.strip())
        except ValueError:
            self.problems.append(f"{name} must be {must_be}, not {raw!r}")
            return default


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _above(low: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if (value := _number(text)) <= low:
            raise ValueError(text)
        return value
    return parse


def _at_least(low: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if (value := _number(text)) < low:
            raise ValueError(text)
        return value
    return parse


def _whole(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or int(text) < low:
            raise ValueError(text)
        return int(text)
    return parse


def _switch(text: str) -> bool:
    value = text.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _ingest_workers(text: str) -> int:
    if (count := _whole(0)(text)) > MAX_INGEST_WORKERS:
        raise ValueError(text)
    return count


def _port(text: str) -> int:
    if (port := _whole(1)(text)) > 65535:
        raise ValueError(text)
    return port


def _share(text: str) -> float:
    if not 0 < (value := _number(text)) <= 1:
        raise ValueError(text)
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        scheme, _, rest = text.partition("://")
        if scheme not in schemes or not rest.strip("/"):
            raise ValueError(text)
        return text
    return parse


_http_url = _url(("http", "https"))
_mqtt_url = _url(("mqtt", "mqtts"))


def _database_url(text: str) -> str:
    try:
        make_url(text)
    except ArgumentError:
        raise ValueError(text) from None
    return text


def _topic_root(text: str) -> str:
    # No space either: the broker's ACL file names topics with it, one word each.
    if not text or any(c in text for c in "+#\0") or text.startswith("/") or text.endswith("/") \
            or any(c.isspace() for c in text):
        raise ValueError(text)
    return text


def _username(text: str) -> str:
    if not is_own_username(text):
        raise ValueError(text)
    return text


def _voice_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+-]{1,64}", text):
        raise ValueError(text)
    return text


def _existing_file(text: str) -> Path:
    path = Path(text).resolve()
    if not path.is_file():
        raise ValueError(text)
    return path


def _quiet_hours(text: str) -> tuple[time, time] | None:
    """Read "HH:MM-HH:MM" (quiet hours may cross midnight); an empty value means none."""
    if not text:
        return None
    start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))  # ValueError unless two times
    return start, end
