"""Who may do what, and for which wards."""

from pa_controller.domain import Role
from pa_controller.errors import Forbidden
from pa_controller.models import User


def require_role(user: User, *roles: Role) -> None:
    """Refuse unless the user has one of the roles."""
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs the role {allowed}; you are {user.role.value}")


def ward_scope(user: User) -> set[str] | None:
    """Return the wards a user may act on, or None for the whole district."""
    if user.role is Role.OFFICER:
        return {user.ward_id} if user.ward_id else set()
    return None


def require_some_ward(user: User, ward_ids: set[str]) -> None:
    """Refuse to show something unless it touches the user's wards (an officer sees their part of a district run)."""
    scope = ward_scope(user)
    if scope is not None and not ward_ids & scope:
        raise Forbidden("this concerns other wards only")


def covers(user: User, ward_ids: set[str]) -> bool:
    """Tell whether every one of the wards is within the user's scope."""
    scope = ward_scope(user)
    return scope is None or ward_ids <= scope


def require_wards(user: User, ward_ids: set[str]) -> None:
    """Refuse if any of the wards is outside the user's scope."""
    if not covers(user, ward_ids):
        outside = ", ".join(sorted(ward_ids - ward_scope(user)))
        raise Forbidden(f"you may only act on your own ward; not on {outside}")


SCHEDULERS = tuple(r for r in Role if r.schedules)
