"""Who may do what, and for which wards."""

from collections.abc import Callable
from typing import TypeVar

from flask_babel import lazy_gettext as _

from pa_controller.domain import Role
from pa_controller.errors import Forbidden, ServiceError
from pa_controller.models import User, Ward

ROLE_NAMES = {Role.ADMIN: _("quản trị viên"), Role.APPROVER: _("người duyệt"),
              Role.OFFICER: _("cán bộ văn hóa phường"), Role.TECHNICIAN: _("kỹ thuật viên"),
              Role.VIEWER: _("người xem")}
Thing = TypeVar("Thing")


def require_role(user: User, *roles: Role) -> None:
    """Refuse unless the user has one of the roles."""
    if user.role not in roles:
        allowed = str(_(" hoặc ")).join(str(ROLE_NAMES[r]) for r in roles)
        raise Forbidden(_("Việc này dành cho %(allowed)s; bạn đăng nhập với vai trò %(role)s.", allowed=allowed,
                          role=ROLE_NAMES[user.role]))


def ward_scope(user: User) -> set[str] | None:
    """Return the wards a user may act on, or None for the whole district.

    An officer has their wards (none: nothing); an approver or a viewer their wards, or with none the district;
    administrators and technicians the district."""
    if user.role.district_wide:
        return None
    wards = user.ward_ids
    if user.role.needs_wards or wards:
        return wards
    return None


def touches(user: User, ward_ids: set[str]) -> bool:
    """Tell whether any of the wards is within the user's scope."""
    scope = ward_scope(user)
    return scope is None or bool(ward_ids & scope)


def require_some_ward(user: User, ward_ids: set[str]) -> None:
    """Refuse to show something unless it touches the user's wards (an officer sees their part of a district run)."""
    if not touches(user, ward_ids):
        raise Forbidden(_("Việc này chỉ liên quan đến các phường khác, không phải phường của bạn."))


def covers(user: User, ward_ids: set[str]) -> bool:
    """Tell whether every one of the wards is within the user's scope."""
    scope = ward_scope(user)
    return scope is None or ward_ids <= scope


def require_wards(user: User, ward_ids: set[str]) -> None:
    """Refuse if any of the wards is outside the user's scope; name those only if the user shares the others."""
    if covers(user, ward_ids):
        return
    require_some_ward(user, ward_ids)  # nothing of theirs: say so without telling where it is
    outside = sorted(ward_ids - ward_scope(user))
    names = Ward.names(outside)
    raise Forbidden(_("Bạn chỉ làm việc được với phường của mình, không với %(wards)s.",
                      wards=", ".join(names.get(w, w) for w in outside)))


def require_seen(user: User, thing: Thing | None, ward_ids: Callable[[Thing], set[str]], missing: ServiceError, *,
                 every_ward: bool = True) -> Thing:
    """Return a thing found by its id if it touches the user's wards (all of them, with `every_ward`). One that
    does not exist and one of other wards only both raise `missing`: the same answer, so ids tell nothing."""
    if thing is None:
        raise missing
    wards = ward_ids(thing)
    if every_ward and covers(user, wards):  # also a thing of no ward (a district incident)
        return thing
    if not touches(user, wards):
        raise missing
    if every_ward:
        require_wards(user, wards)  # theirs in part: refused, naming the wards that are not
    return thing


SCHEDULERS = tuple(r for r in Role if r.schedules)
APPROVERS = tuple(r for r in Role if r.approves)
