"""Remote commands to clusters (set volume, test tone, reboot), each tracked like a delivery."""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import REJECTION_NOTE, Role
from pa_controller.errors import Conflict, NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, FleetCommand, User, Ward
from pa_controller.services import access, audit, commands, fleet
from pa_controller.services.proposals import MAX_ID
from pa_protocol import CID_PATTERN, CommandType, DeliveryState

OPERATORS = tuple(r for r in Role if r.tends_fleet)
MAX_CLUSTERS = 2000
MAX_LIST = 1000
# Long enough for a cluster on a slow 3G link; short enough that a tone or reboot does not surprise
# a technician who has left the pole. The broker drops the command after this.
COMMAND_TTL = timedelta(minutes=5)
# What each type takes: field -> (lowest, highest, default or None when required).
PARAMS = {
    CommandType.SET_VOLUME: {"volume": (0, 100, None)},
    CommandType.TEST_TONE: {"duration_ms": (500, 30_000, 3000)},
    CommandType.REBOOT: {},
}
REQUEST_KEYS = {"type", "clusters", "ward"}


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: "invalid"})


def parse_params(ctype: CommandType, body: dict) -> dict:
    """Return the type's own fields from a request; a field another type takes is refused."""
    spec = PARAMS[ctype]
    if stray := sorted(set(body) - REQUEST_KEYS - set(spec)):
        raise _invalid(stray[0], _("Lệnh %(type)s không nhận %(stray)s; nó nhận %(takes)s.", type=ctype.value,
                                   stray=", ".join(stray), takes=", ".join(spec) or _("không tham số nào")))
    params = {}
    for name, (low, high, default) in spec.items():
        value = body.get(name, default)
        if value is None:
            raise _invalid(name, _("Lệnh %(type)s cần %(name)s, một số nguyên từ %(low)s đến %(high)s.",
                                   type=ctype.value, name=name, low=low, high=high))
        params[name] = value
    return params


def _named_clusters(ids: list[str]) -> list[Cluster]:
    if not ids:
        raise _invalid("clusters", _("clusters phải là một danh sách mã cụm loa, không rỗng."))
    wanted = list(dict.fromkeys(ids))
    plausible = [i for i in wanted if CID_PATTERN.match(i)]  # and free of NUL, which PostgreSQL cannot compare
    found = {c.id: c for c in db.session.scalars(select(Cluster).where(Cluster.id.in_(plausible)))}
    if unknown := [i for i in wanted if i not in found]:
        raise NotFound(_("Không có cụm loa mang mã: %(ids)s.", ids=", ".join(unknown[:10])),
                       fields={"clusters": "not_found"})
    if retired := [i for i in wanted if found[i].retired]:
        raise Conflict(_("Cụm loa đã ngừng sử dụng, không nhận lệnh: %(ids)s.", ids=", ".join(retired[:10])),
                       fields={"clusters": "retired"}, code="retired")
    return [found[i] for i in wanted]


def _ward_clusters(ward_id) -> list[Cluster]:
    if not fleet.WARD_ID.match(ward_id) or db.session.get(Ward, ward_id) is None:
        raise NotFound(_("Không có phường mang mã %(id)s (GET /api/v1/wards).", id=ward_id),
                       fields={"ward": "not_found"})
    clusters = fleet.active_clusters([ward_id])
    if not clusters:
        raise _invalid("ward", _("Phường này không còn cụm loa nào đang hoạt động."))
    if len(clusters) > MAX_CLUSTERS:
        raise _invalid("ward", _("Phường có hơn %(n)s cụm loa; hãy chọn từng cụm.", n=MAX_CLUSTERS))
    return clusters


def select_clusters(clusters=None, ward=None) -> list[Cluster]:
    """Return the clusters in service a request names: a list of ids, or a whole ward."""
    if (clusters is None) == (ward is None):
        raise _invalid("clusters", _('Hãy chọn hoặc "clusters": [mã], hoặc "ward": mã phường; một trong hai.'))
    return _named_clusters(clusters) if clusters is not None else _ward_clusters(ward)


def send(user: User, clusters: list[Cluster], ctype: CommandType, params: dict) -> list[FleetCommand]:
    """Queue one command per cluster and its tracking row, in one transaction; return the rows."""
    access.require_role(user, *OPERATORS)
    access.require_wards(user, {c.ward_id for c in clusters})
    now = clock.now()
    expires_at = now + COMMAND_TTL
    rows, tracked = [], []
    for cluster in clusters:
        command = commands.new_command(cluster.id, ctype, now, expires_at, **params)
        rows.append(commands.outbox_row(command, now, expires_at))
        tracked.append(FleetCommand(cmd_id=command["id"], cluster_id=cluster.id, type=ctype, params=params or None,
                                    issued_by=user.id, issued_at=now, state=DeliveryState.PENDING))
    db.session.add_all(tracked)
    commands.queue(rows)
    target = f"cluster:{clusters[0].id}" if len(clusters) == 1 else None  # several: listed in the detail
    audit.record(f"command.{ctype.value}", target, wards=[c.ward_id for c in clusters],
                 clusters=[c.id for c in clusters], params=params or None)
    db.session.flush()
    ids = [t.id for t in tracked]
    db.session.commit()
    # One query reloads what the commit expired, instead of one per row.
    return list(db.session.scalars(select(FleetCommand).where(FleetCommand.id.in_(ids)).order_by(FleetCommand.id)))


def send_request(user: User, body: dict) -> list[FleetCommand]:
    """Check and send `{type, clusters | ward, volume | duration_ms}`; if any of it is bad, nothing is queued.

    `body` is the API's CommandRequest, already of the right types; this checks what it means.
    """
    access.require_role(user, *OPERATORS)
    ctype = body["type"]
    params = parse_params(ctype, body)
    return send(user, select_clusters(body.get("clusters"), body.get("ward")), ctype, params)


def confirm_volumes(now: datetime) -> int:
    """Mark done each set_volume a cluster acknowledged whose heartbeat now shows the volume asked for.

    The protocol asks nothing after `received` for a volume change; a heartbeat proves it took effect.
    """
    query = (select(FleetCommand, ClusterState.volume)
             .join(ClusterState, ClusterState.cluster_id == FleetCommand.cluster_id)
             .where(FleetCommand.type == CommandType.SET_VOLUME, FleetCommand.state == DeliveryState.RECEIVED,
                    FleetCommand.issued_at > now - COMMAND_TTL, ClusterState.heartbeat_at > FleetCommand.issued_at))
    waiting = list(db.session.execute(query).tuples())
    confirmed = 0
    for command, volume in waiting:
        if volume == (command.params or {}).get("volume"):
            command.state, command.at = DeliveryState.DONE, now
            command.detail = {**(command.detail or {}), "confirmed_by": "heartbeat"}
            confirmed += 1
    db.session.commit()
    return confirmed


def effective_state(command: FleetCommand, now: datetime) -> DeliveryState:
    """Judge a command the cluster never answered as missed once it has expired, like a run's silent clusters, or as
    rejected if a rejection was all it sent (ingest._note_rejection)."""
    if command.state is DeliveryState.PENDING and now > command.issued_at + COMMAND_TTL:
        rejected = REJECTION_NOTE in (command.detail or {})
        return DeliveryState.REJECTED if rejected else DeliveryState.MISSED
    return command.state


def amp_ok(command: FleetCommand) -> bool | None:
    """The test tone's result: whether the amplifier drew current, if the cluster has said."""
    detail = command.detail or {}
    if isinstance(detail.get("amp_ok"), bool):
        return detail["amp_ok"]
    if command.state is DeliveryState.FAILED and detail.get("reason") == "amplifier":
        return False
    return None


def list_commands(user: User, cluster_id: str | None = None, limit: int = 100) -> list[FleetCommand]:
    """Return the commands of the clusters a user may see, newest first."""
    query = select(FleetCommand).order_by(FleetCommand.issued_at.desc(), FleetCommand.id.desc()).limit(limit)
    if cluster_id is not None:
        query = query.where(FleetCommand.cluster_id == fleet.get_cluster(user, cluster_id).id)
    elif (scope := access.ward_scope(user)) is not None:
        query = query.join(Cluster, FleetCommand.cluster_id == Cluster.id).where(Cluster.ward_id.in_(scope))
    return list(db.session.scalars(query))


def get_command(user: User, command_id: int) -> FleetCommand:
    """Return one command of a cluster the user may see."""
    command = db.session.get(FleetCommand, command_id) if 1 <= command_id <= MAX_ID else None
    return access.require_seen(user, command, lambda c: {db.session.get(Cluster, c.cluster_id).ward_id},
                               NotFound(_("Không có lệnh số %(id)s.", id=command_id)))
