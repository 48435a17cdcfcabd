"""Groups of clusters (a market, a street): made by a ward's officers or administrators, targeted like a ward.

A group belongs to one ward and holds clusters of that ward only; a member later moved to another ward (a cluster
edited, wards merged) stays listed but no longer counts, so a group never reaches outside its ward.
"""

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import Conflict, NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, Group, User, Ward
from pa_controller.services import access, audit, planning
from pa_controller.services.proposals import MAX_ID

MANAGERS = (Role.ADMIN, Role.OFFICER)


def members(group: Group) -> list[Cluster]:
    """The clusters a group reaches: its members still in its ward (retired ones too; dispatch skips those)."""
    return [c for c in group.clusters if c.ward_id == group.ward_id]


def list_groups(user: User, ward_id: str | None = None) -> list[Group]:
    """Return the groups of the user's wards (of one ward if asked), by ward and name."""
    query = select(Group).order_by(Group.ward_id, Group.name, Group.id)
    if (scope := access.ward_scope(user)) is not None:
        query = query.where(Group.ward_id.in_(scope))
    if ward_id is not None:
        query = query.where(Group.ward_id == ward_id)
    return list(db.session.scalars(query))


def get_group(user: User, group_id: int) -> Group:
    """Return a group of the user's wards; another ward's is refused without saying what it holds."""
    group = db.session.get(Group, group_id) if 1 <= group_id <= MAX_ID else None
    return access.require_seen(user, group, lambda g: {g.ward_id},
                               NotFound(_("Không có nhóm cụm loa số %(id)s.", id=group_id)))


def _managed(user: User, group_id: int) -> Group:
    access.require_role(user, *MANAGERS)
    return get_group(user, group_id)


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not 1 <= len(name) <= 120:
        raise ValidationFailed(_("Tên nhóm phải dài 1–120 ký tự."), fields={"name": "invalid"})
    return name


def _clusters(ward_id: str, ids: list[str]) -> list[Cluster]:
    """The clusters of the ward among ids; any other id is refused, without saying whether it exists elsewhere."""
    found = list(db.session.scalars(select(Cluster).where(Cluster.id.in_(set(ids)), Cluster.ward_id == ward_id)))
    if missing := len(set(ids)) - len(found):
        ward = db.session.get(Ward, ward_id)
        raise ValidationFailed(_("Nhóm chỉ gồm cụm loa của phường %(ward)s; %(n)s mã đã chọn không phải cụm loa của "
                                 "phường này.", ward=ward.name, n=missing), fields={"clusters": "invalid"})
    return sorted(found, key=lambda c: c.id)


def _described(group: Group) -> dict:
    return {"name": group.name, "ward": group.ward_id, "clusters": [c.id for c in group.clusters]}


def _flush(group: Group) -> None:
    """Write the group, or refuse a name its ward already has."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Phường này đã có một nhóm tên “%(name)s”; hãy đặt tên khác.", name=group.name),
                       fields={"name": "taken"}) from None


def create_group(user: User, body: dict) -> Group:
    """Make a group of a ward's clusters; `body` is the API's GroupNew."""
    access.require_role(user, *MANAGERS)
    ward_id = body["ward"]
    if db.session.get(Ward, ward_id) is None:
        raise NotFound(_("Không có phường mang mã %(id)s (xem GET /api/v1/wards).", id=ward_id),
                       fields={"ward": "not_found"})
    access.require_wards(user, {ward_id})
    group = Group(name=_name(body["name"]), ward_id=ward_id, created_at=clock.now(),
                  clusters=_clusters(ward_id, body.get("clusters", [])))
    db.session.add(group)
    _flush(group)
    audit.record("group.create", f"group:{group.id}", ward_id=ward_id, after=_described(group))
    db.session.commit()
    return group


def update_group(user: User, group_id: int, body: dict) -> Group:
    """Rename a group or replace its clusters; `body` is the API's GroupEdit."""
    group = _managed(user, group_id)
    if not body:
        raise ValidationFailed(_("Hãy gửi ít nhất một trong các trường clusters, name."))
    before = _described(group)
    if "name" in body:
        group.name = _name(body["name"])
    if "clusters" in body:
        group.clusters = _clusters(group.ward_id, body["clusters"])
    _flush(group)
    old, new = audit.changed(before, _described(group))
    audit.record("group.edit", f"group:{group.id}", ward_id=group.ward_id, before=old, after=new)
    db.session.commit()
    return group


def delete_group(user: User, group_id: int) -> None:
    """Delete a group no broadcast with runs ahead still targets (409 names those broadcasts)."""
    group = _managed(user, group_id)
    if using := planning.broadcasts_naming("groups", group.id, clock.now()):
        raise Conflict(_("Nhóm “%(name)s” đang là nơi phát của %(n)s bản tin còn lượt phát: %(titles)s. Hãy sửa hoặc "
                         "hủy các bản tin đó trước.", name=group.name, n=len(using),
                         titles="; ".join(f"#{b.id} “{b.title}”" for b in using[:5])),
                       code="in_use", extra={"broadcasts": [b.id for b in using]})
    audit.record("group.delete", f"group:{group.id}", ward_id=group.ward_id, before=_described(group))
    db.session.delete(group)
    db.session.commit()
