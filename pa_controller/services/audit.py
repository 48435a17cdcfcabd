"""Record who changed what: one call per change of state, in the same transaction as the change.

The actor is whoever acts in the current context: the web layer names the signed-in user and the address
of each request (`acting_as`), a command names the operating-system user, and anything else is `system`.
An entry is added to the session and committed with the change it describes, so neither lands without the
other; `record_now` commits at once, for what changes nothing else (a failed login).
"""

import contextvars
import getpass
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    name: str
    user_id: int | None = None
    address: str | None = None

    @classmethod
    def of_user(cls, user, address: str | None = None) -> "Actor":
        return cls(user.username, user.id, address)

    @classmethod
    def command_line(cls) -> "Actor":
        return cls(f"cli:{getpass.getuser()}")


SYSTEM = Actor("system")
_actor: contextvars.ContextVar[Actor | Callable[[], Actor]] = contextvars.ContextVar("audit_actor", default=SYSTEM)


def current_actor() -> Actor:
    actor = _actor.get()
    return actor() if callable(actor) else actor


def set_actor(actor: Actor | Callable[[], Actor]) -> contextvars.Token:
    """Name the actor for the rest of this context, or a function that names it when an entry is written
    (a request: who signed in is known only once its token or session has been read). Return the token
    that `reset_actor` takes to name the one before again."""
    return _actor.set(actor)


def reset_actor(token: contextvars.Token) -> None:
    """Name again the actor named before `set_actor` returned `token` (a request has ended)."""
    _actor.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def record(action: str, target: str | None = None, *, ward_id: str | None = None, wards: Iterable[str] | None = None,
           before: dict | None = None, after: dict | None = None, actor: Actor | None = None, **detail) -> AuditEntry:
    """Add one entry to the session; it is committed with the change it describes.

    `action` is a dotted name (`broadcast.cancel`), `target` names what it acted on (`broadcast:12`), `ward_id`
    the ward it is filed under, or `wards` the wards it touched (filed under the one, if only one), `before`/`after`
    hold what an edit changed, and any other keyword lands in the entry's detail.
    """
    actor = actor or current_actor()
    if wards is not None:
        wards = sorted(set(wards))
        ward_id, detail = (wards[0] if len(wards) == 1 else None), {**detail, "wards": wards}
    if before is not None or after is not None:
        detail = {**detail, "before": before, "after": after}
    entry = AuditEntry(at=clock.now(), actor=actor.name, user_id=actor.user_id, address=actor.address,
                       action=action, target=target, ward_id=ward_id, detail=detail or None)
    db.session.add(entry)
    return entry


def record_now(action: str, target: str | None = None, **kwargs) -> AuditEntry:
    """Record and commit at once: for what changes nothing else, such as a refused login."""
    entry = record(action, target, **kwargs)
    db.session.commit()
    return entry


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the fields an edit changed, as (before, after)."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}
