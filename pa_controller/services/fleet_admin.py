"""Managing the fleet (administrators): add, edit, retire clusters; CSV export and import; merge wards."""

import csv
import unicodedata
from dataclasses import dataclass
from io import StringIO

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select, update

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import Conflict, NotFound, ServiceError, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, User, Ward, user_ward
from pa_controller.services import access, audit, fleet, planning
from pa_protocol import CID_PATTERN

EDITABLE = {"name", "ward", "lat", "lon", "speakers"}
MAX_CSV_BYTES = 5 * 1024 * 1024  # ~60,000 clusters; the district has 456
FORMULA_STARTS = ("=", "+", "-", "@")  # a spreadsheet opening the export would run these as formulas


class FleetFileTooLarge(ServiceError):
    status = 413
    code = "too_large"


@dataclass(frozen=True)
class MergeResult:
    from_ward: str
    into_ward: str
    moved: int  # every cluster, retired ones too, so the emptied ward owns none
    in_service: int
    officers: list[str]  # still assigned to the emptied ward: an administrator decides where they go
    broadcasts: list[int]  # still naming the emptied ward, which now reaches no cluster


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: "invalid"})


def _name(value: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= 120 or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _invalid("name", _("Tên phải dài 1–120 ký tự, trên một dòng."))
    if text.startswith(FORMULA_STARTS):
        raise _invalid("name", _("Tên không được bắt đầu bằng %(chars)s (bảng tính sẽ chạy nó như một công thức).",
                                 chars=" ".join(FORMULA_STARTS)))
    return text


def _ward(value: str) -> str:
    if not fleet.WARD_ID.match(value) or db.session.get(Ward, value) is None:
        raise NotFound(_("Không có phường mang mã %(id)s (xem GET /api/v1/wards; nhập tệp CSV có thể thêm "
                         "phường).", id=value), fields={"ward": "not_found"})
    return value


def _fields(body: dict, keys: set[str]) -> dict:
    """Return the checked values of the editable fields present in a request body (the API's schema has typed them)."""
    parsers = {"name": _name, "ward": _ward}
    return {key: parsers.get(key, float if key in ("lat", "lon") else int)(body[key]) for key in sorted(keys)}


def require_admin(user: User) -> None:
    access.require_role(user, Role.ADMIN)


def _get(cid: str) -> Cluster:
    cluster = db.session.get(Cluster, cid) if CID_PATTERN.match(cid) else None
    if cluster is None:
        raise NotFound(_("Không có cụm loa mang mã %(id)s.", id=cid))
    return cluster


def _assign(cluster: Cluster, values: dict) -> None:
    for key, value in values.items():
        setattr(cluster, "ward_id" if key == "ward" else key, value)


def add_cluster(user: User, body: dict) -> Cluster:
    """Add a cluster to a ward, in service and not yet heard from; `body` is the API's ClusterNew."""
    require_admin(user)
    cid = body["id"]
    if not CID_PATTERN.match(cid):
        raise _invalid("id", _("id phải gồm 1–32 ký tự a-z, 0-9 và '-' (đó là mã kết nối MQTT của cụm loa)."))
    values = _fields(body, EDITABLE)
    if (existing := db.session.get(Cluster, cid)) is not None:
        hint = _(" (đã ngừng sử dụng; PATCH với retired: false để dùng lại)") if existing.retired else ""
        raise Conflict(_("Cụm loa %(id)s đã có rồi%(hint)s.", id=cid, hint=hint), fields={"id": "taken"})
    cluster = Cluster(id=cid, retired=False)
    _assign(cluster, values)
    db.session.add_all([cluster, ClusterState(cluster_id=cid)])
    audit.record("cluster.add", f"cluster:{cid}", ward_id=cluster.ward_id, after=_described(cluster))
    db.session.commit()
    return cluster


def update_cluster(user: User, cid: str, body: dict) -> Cluster:
    """Change a cluster's name, place, speakers or ward (a move); `retired: false` brings it back into service.

    `body` is the API's ClusterEdit, already of the right types; this checks what it means.
    """
    require_admin(user)
    cluster = _get(cid)
    if not body:
        raise ValidationFailed(_("Hãy gửi ít nhất một trong các trường %(known)s.", known=", ".join(sorted(EDITABLE))))
    values = _fields(body, set(body) & EDITABLE)
    before = _described(cluster)
    _assign(cluster, values)
    if "retired" in body:
        cluster.retired = False
    old, new = audit.changed(before, _described(cluster))
    audit.record("cluster.edit", f"cluster:{cid}", ward_id=cluster.ward_id, before=old, after=new)
    db.session.commit()
    return cluster


def retire_cluster(user: User, cid: str) -> Cluster:
    """Take a cluster out of service; its deliveries, commands and telemetry stay as history."""
    require_admin(user)
    cluster = _get(cid)
    if cluster.retired:
        raise Conflict(_("Cụm loa %(id)s đã ngừng sử dụng rồi.", id=cid), code="retired")
    cluster.retired = True
    audit.record("cluster.retire", f"cluster:{cid}", ward_id=cluster.ward_id)
    db.session.commit()
    return cluster


def _described(cluster: Cluster) -> dict:
    return {"name": cluster.name, "ward": cluster.ward_id, "lat": cluster.lat, "lon": cluster.lon,
            "speakers": cluster.speakers, "retired": cluster.retired}


def _coordinate(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same float


def export_csv(user: User) -> str:
    """Return the clusters in service as the CSV `flask pa fleet import` reads (retired ones have no column)."""
    require_admin(user)
    out = StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fleet.COLUMNS)
    query = select(Cluster, Ward.name).join(Ward).where(Cluster.retired.is_(False)).order_by(Cluster.id)
    for cluster, ward_name in db.session.execute(query):
        writer.writerow([cluster.id, cluster.name, cluster.ward_id, ward_name, _coordinate(cluster.lat),
                         _coordinate(cluster.lon), cluster.speakers])
    return out.getvalue()


def import_fleet(user: User, raw: bytes) -> fleet.ImportResult:
    """Import a fleet CSV, all or nothing; the error lists every bad row by number."""
    require_admin(user)
    if len(raw) > MAX_CSV_BYTES:
        raise FleetFileTooLarge(_("Tệp lớn hơn %(n)s MB; hãy chia nhỏ.", n=MAX_CSV_BYTES // 1024 // 1024))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("file", _("Tệp không phải văn bản UTF-8; hãy lưu dạng CSV UTF-8.")) from None
    if "\x00" in text:
        raise _invalid("file", _("Tệp có ký tự NUL; đây có thật là tệp CSV không?"))
    try:
        return fleet.import_csv(text)
    except fleet.FleetImportError as exc:
        exc.fields, exc.extra = {"file": "invalid"}, {"errors": exc.errors}
        raise
    except csv.Error as exc:
        raise _invalid("file", _("Không đọc được tệp dạng CSV (%(why)s); chưa nhập gì cả.", why=exc)) from None


def merge_wards(user: User, body: dict) -> MergeResult:
    """Move every cluster of one ward into another; the emptied ward stays, with its history and rules.

    `body` is the API's WardMerge, two strings; this checks what they name.
    """
    require_admin(user)
    source, target = body["from"], body["into"]
    for key, value in (("from", source), ("into", target)):
        if not fleet.WARD_ID.match(value) or db.session.get(Ward, value) is None:
            raise NotFound(_("%(key)s phải là mã một phường có thật, không phải “%(value)s” (GET /api/v1/wards).",
                             key=key, value=value), fields={key: "not_found"})
    if source == target:
        raise _invalid("into", _("Không thể gộp một phường vào chính nó."))
    in_service = db.session.scalar(select(func.count()).where(Cluster.ward_id == source, Cluster.retired.is_(False)))
    moved = db.session.execute(update(Cluster).where(Cluster.ward_id == source).values(ward_id=target)).rowcount
    officers = list(db.session.scalars(
        select(User.username).join(user_ward, user_ward.c.user_id == User.id)
        .where(User.role == Role.OFFICER, user_ward.c.ward_id == source).order_by(User.username)))
    broadcasts = [b.id for b in planning.broadcasts_naming("wards", source, clock.now())]
    audit.record("ward.merge", f"ward:{source}", ward_id=target, into=target, moved=moved)
    db.session.commit()
    return MergeResult(source, target, moved, in_service, officers, broadcasts)
