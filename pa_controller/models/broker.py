"""What the broker checks a cluster's login against: the hash of its password, never the password."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class BrokerCredential(db.Model):
    """A cluster's broker password, hashed as Mosquitto's password file holds it ($7$ PBKDF2-SHA512).

    The password itself is handed once to whoever provisions the device and kept nowhere; reissuing makes a
    new one. A retired cluster keeps its row but gets no account, so bringing it back restores its login.
    """

    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(160))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
