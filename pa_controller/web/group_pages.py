"""The groups of clusters pages: list, make, change the members of, and delete a ward's groups."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pa_controller.errors import ServiceError
from pa_controller.services import access, fleet, groups
from pa_controller.web.apidoc import load
from pa_controller.web.schemas.requests import GroupEdit, GroupNew

bp = Blueprint("groups", __name__, url_prefix="/groups")


def _may_manage() -> bool:
    return current_user.role in groups.MANAGERS


@bp.get("")
@login_required
def group_list():
    return render_template("groups.html", groups=groups.list_groups(current_user), members=groups.members,
                           wards=fleet.wards_for(access.ward_scope(current_user)), may_manage=_may_manage(),
                           form=request.args)


@bp.post("")
@login_required
def new_group():
    access.require_role(current_user, *groups.MANAGERS)
    ward = request.form.get("ward", "")
    access.require_wards(current_user, {ward})  # another ward is refused outright, not with a flash
    try:
        body = load(GroupNew(), {"name": request.form.get("name", ""), "ward": ward})
        group = groups.create_group(current_user, body)
    except ServiceError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("groups.group_list"))
    flash(_("Đã tạo nhóm “%(name)s”; hãy chọn các cụm loa của nhóm.", name=group.name), "ok")
    return redirect(url_for("groups.group_page", group_id=group.id))


@bp.get("/<int:group_id>")
@login_required
def group_page(group_id: int):
    group = groups.get_group(current_user, group_id)
    chosen = {c.id for c in groups.members(group)}
    return render_template("group.html", group=group, chosen=chosen, may_manage=_may_manage(),
                           clusters=fleet.active_clusters([group.ward_id]))


@bp.post("/<int:group_id>")
@login_required
def edit_group(group_id: int):
    access.require_role(current_user, *groups.MANAGERS)
    groups.get_group(current_user, group_id)  # another ward's group is refused outright, not with a flash
    try:
        body = load(GroupEdit(), {"name": request.form.get("name", ""), "clusters": request.form.getlist("clusters")})
        group = groups.update_group(current_user, group_id, body)
    except ServiceError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Đã lưu nhóm “%(name)s”: %(n)s cụm loa.", name=group.name, n=len(groups.members(group))), "ok")
    return redirect(url_for("groups.group_page", group_id=group_id))


@bp.post("/<int:group_id>/delete")
@login_required
def delete_group(group_id: int):
    access.require_role(current_user, *groups.MANAGERS)
    group = groups.get_group(current_user, group_id)
    name = group.name
    try:
        groups.delete_group(current_user, group_id)
    except ServiceError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("groups.group_page", group_id=group_id))
    flash(_("Đã xóa nhóm “%(name)s”.", name=name), "ok")
    return redirect(url_for("groups.group_list"))
