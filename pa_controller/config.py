"""Configuration classes read from the environment."""

import os
import secrets
from datetime import time
from pathlib import Path

from pa_protocol import DEFAULT_ROOT


def _instance_dir() -> Path:
    return Path(os.environ.get("PA_INSTANCE_DIR", "instance")).resolve()


def _secret_key(instance_dir: Path) -> str:
    """Return PA_SECRET_KEY, or a random key kept in the instance dir (never in the repo)."""
    if key := os.environ.get("PA_SECRET_KEY"):
        return key
    path = instance_dir / "secret-key"
    if not path.exists():
        # Written aside and linked into place, so workers starting together all read one key.
        instance_dir.mkdir(parents=True, exist_ok=True)
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


def _quiet_hours(text: str) -> tuple[time, time] | None:
    """Read "HH:MM-HH:MM" (quiet hours may cross midnight); an empty value means none."""
    if not text.strip():
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise SystemExit(f"PA_QUIET_HOURS must look like 21:30-05:00 or be empty, not {text!r}") from None
    return start, end


class Config:
    """Production-like defaults; every value can be set from the environment."""

    TESTING = False
    MESSAGING = "mqtt"  # "fake" records publishes in memory instead
    PASSWORD_HASH_METHOD = "scrypt"  # werkzeug's method string

    def __init__(self):
        env = os.environ.get
        self.INSTANCE_DIR = _instance_dir()
        self.SECRET_KEY = _secret_key(self.INSTANCE_DIR)
        self.SQLALCHEMY_DATABASE_URI = env("DATABASE_URL") or f"sqlite:///{self.INSTANCE_DIR / 'loanet.db'}"
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.MEDIA_DIR = Path(env("PA_MEDIA_DIR", str(self.INSTANCE_DIR / "media"))).resolve()
        http_port = int(env("PA_HTTP_PORT", "5000"))
        self.PUBLIC_URL = env("PA_PUBLIC_URL", f"http://127.0.0.1:{http_port}").rstrip("/")
        self.MQTT_URL = env("PA_MQTT_URL") or f"mqtt://127.0.0.1:{env('PA_MQTT_PORT', '1884')}"
        self.MQTT_ROOT = env("PA_MQTT_ROOT", DEFAULT_ROOT)
        self.MQTT_CLIENT_ID = env("PA_MQTT_CLIENT_ID", "loanet-controller")
        self.DISPATCH_LEAD_S = float(env("PA_DISPATCH_LEAD_S", "60"))
        self.NOW_LEAD_S = float(env("PA_NOW_LEAD_S", "3"))
        self.LATE_GRACE_S = 2.0  # PROTOCOL.md rule 3
        self.RUN_SETTLE_S = float(env("PA_RUN_SETTLE_S", "30"))
        self.HEARTBEAT_S = float(env("PA_HEARTBEAT_S", "30"))
        self.TELEMETRY_RAW_H = float(env("PA_TELEMETRY_RAW_H", "6"))  # raw heartbeat samples kept, hours
        self.TELEMETRY_KEEP_D = float(env("PA_TELEMETRY_KEEP_D", "90"))  # five-minute telemetry rollups kept, days
        self.PLAN_HORIZON_H = float(env("PA_PLAN_HORIZON_H", "48"))
        self.CHECK_HORIZON_D = int(env("PA_CHECK_HORIZON_D", "62"))  # days checked for conflicts and guardrails
        self.FLEET_WATCH_S = float(env("PA_FLEET_WATCH_S", "2"))  # how often outages and incidents are judged
        self.INCIDENT_HOLD_S = float(env("PA_INCIDENT_HOLD_S", "60"))  # an outage waits this long to see if its ward
        self.WARD_OUTAGE_SHARE = float(env("PA_WARD_OUTAGE_SHARE", "0.5"))  # ...goes down with it (a power cut)
        self.ALERT_WEBHOOK_URL = env("PA_ALERT_WEBHOOK_URL", "")  # incidents opened and closed are POSTed here
        self.QUIET_HOURS = _quiet_hours(env("PA_QUIET_HOURS", "21:30-05:00"))  # a ward's default; "" for none
        self.AUDIO_MAX_BYTES = int(env("PA_AUDIO_MAX_BYTES", str(50 * 1024 * 1024)))
        self.AUDIO_MAX_SECONDS = float(env("PA_AUDIO_MAX_SECONDS", "1800"))
        # A programme is composed while the officer waits (about 2.4 s per minute of audio on 2 cores).
        self.COMPOSE_MAX_SECONDS = float(env("PA_COMPOSE_MAX_SECONDS", "600"))
        self.MAX_CONTENT_LENGTH = self.AUDIO_MAX_BYTES + 1024 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.BABEL_DEFAULT_LOCALE = "vi"
        self.BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
        self.LANGUAGES = ("vi", "en")
        self.DISPLAY_TIMEZONE = "Asia/Ho_Chi_Minh"


class TestingConfig(Config):
    """Every side effect off: fake messaging, CSRF off, a throwaway instance dir set by the tests."""

    TESTING = True
    MESSAGING = "fake"
    WTF_CSRF_ENABLED = False
    # scrypt costs 0.12 s a hash and again a login, in hundreds of tests; tests check logic, not hash strength.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"

    def __init__(self):
        super().__init__()
        self.QUIET_HOURS = None  # tests must not depend on the time of day they run; guardrail tests set rules
