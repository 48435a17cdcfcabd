"""What people read for each domain value (Vietnamese source, translated by Flask-Babel)."""

from flask_babel import lazy_gettext as _l

from pa_controller.domain import (
    REJECTION_NOTE,
    ApprovalAction,
    ApprovalState,
    ClusterStatus,
    IncidentKind,
    RefusalKind,
    ReportRefusal,
    Role,
    Scope,
)
from pa_controller.services.speech import Speed
from pa_protocol import CommandType, DeliveryState, Priority, RejectReason, RunState

# Keyed by (type, value): the enums share values ("missed" is both a run's and a delivery's state).
LABELS = {(type(key), key): text for key, text in (
    (Priority.NORMAL, _l("Thông thường")),
    (Priority.PRIORITY, _l("Ưu tiên")),
    (Priority.EMERGENCY, _l("Khẩn cấp")),
    (RunState.SCHEDULED, _l("Đã lên lịch")),
    (RunState.DISPATCHED, _l("Đang phát")),
    (RunState.FINISHED, _l("Đã kết thúc")),
    (RunState.CANCELLED, _l("Đã hủy")),
    (RunState.MISSED, _l("Bị lỡ")),
    (DeliveryState.PENDING, _l("Chưa phản hồi")),
    (DeliveryState.RECEIVED, _l("Đã nhận lệnh")),
    (DeliveryState.READY, _l("Sẵn sàng")),
    (DeliveryState.LATE, _l("Trễ, không phát")),
    (DeliveryState.PLAYING, _l("Đang phát")),
    (DeliveryState.DONE, _l("Đã phát xong")),
    (DeliveryState.FAILED, _l("Lỗi")),
    (DeliveryState.EXPIRED, _l("Lệnh hết hạn")),
    (DeliveryState.PREEMPTED, _l("Bị bản tin ưu tiên hơn chen ngang")),
    (DeliveryState.CANCELLED, _l("Đã hủy")),
    (DeliveryState.REJECTED, _l("Từ chối lệnh")),
    (DeliveryState.MISSED, _l("Không phản hồi")),
    (ClusterStatus.ONLINE, _l("Trực tuyến")),
    (ClusterStatus.STALE, _l("Chậm tín hiệu")),
    (ClusterStatus.OFFLINE, _l("Mất kết nối")),
    (ClusterStatus.UNKNOWN, _l("Chưa rõ")),
    (CommandType.SET_VOLUME, _l("Đặt âm lượng")),
    (CommandType.TEST_TONE, _l("Phát âm thử")),
    (CommandType.REBOOT, _l("Khởi động lại")),
    # guardrails a broadcast may break (services/guardrails.py)
    ("quiet_hours", _l("Trong giờ yên tĩnh")),
    ("sessions_per_day", _l("Vượt số buổi phát trong ngày")),
    ("session_length", _l("Buổi phát quá dài")),
    ("weekday", _l("Ngày trong tuần không được phát")),
    ("blackout_date", _l("Ngày cấm phát")),
    # incidents (services/fleet_watch.py)
    (IncidentKind.CLUSTER_OFFLINE, _l("Cụm loa mất kết nối")),
    (IncidentKind.WARD_OUTAGE, _l("Mất kết nối diện rộng (cả phường)")),
    (IncidentKind.SPEAKER_FAULT, _l("Hỏng loa")),
    (IncidentKind.AMPLIFIER_FAULT, _l("Hỏng bộ khuếch đại")),
    # people and their API tokens (services/people.py, services/tokens.py)
    (Role.ADMIN, _l("Quản trị viên")),
    (Role.APPROVER, _l("Người duyệt")),
    (Role.OFFICER, _l("Cán bộ văn hóa phường")),
    (Role.TECHNICIAN, _l("Kỹ thuật viên")),
    (Role.VIEWER, _l("Người xem")),
    (Scope.READ, _l("Đọc")),
    (Scope.SCHEDULE, _l("Lên lịch")),
    (Scope.FLEET, _l("Mạng loa")),
    (Scope.ADMIN, _l("Quản trị")),
    (Scope.REPORT, _l("Báo cáo lên cấp trên")),
    ("live", _l("Dùng được")),
    ("expired", _l("Hết hạn")),
    ("revoked", _l("Đã thu hồi")),
    # refusals counted per cluster (services/refusals.py): what was refused, and why
    (RefusalKind.FORGED_COMMAND, _l("Lệnh giả mạo bị cụm loa từ chối")),
    (RefusalKind.REPORT, _l("Báo cáo bị bộ điều khiển từ chối")),
    (RejectReason.BAD_SIGNATURE, _l("Chữ ký sai")),
    (RejectReason.UNSIGNED, _l("Không có chữ ký")),
    (RejectReason.REPLAY, _l("Phát lại lệnh cũ")),
    (RejectReason.EXPIRED, _l("Lệnh hết hạn")),
    (RejectReason.WRONG_CLUSTER, _l("Gửi nhầm cụm loa")),
    (RejectReason.MALFORMED, _l("Sai định dạng")),
    (RejectReason.UNSUPPORTED, _l("Không hỗ trợ")),
    (ReportRefusal.UNKNOWN_COMMAND, _l("Về lệnh chưa từng được gửi")),
    (ReportRefusal.OTHER_CLUSTER, _l("Về lệnh gửi cho cụm loa khác")),
    (ReportRefusal.WRONG_RUN, _l("Sai lượt phát")),
    (ReportRefusal.UNKNOWN_CLUSTER, _l("Từ cụm loa không có trong danh sách")),
    (ReportRefusal.NOT_A_CLUSTER_TOPIC, _l("Trên kênh không thuộc cụm loa nào")),
    ("other", _l("Lý do khác")),
    # approval (services/approvals.py): where a broadcast stands, and each step of its history
    (ApprovalState.DRAFT, _l("Bản nháp")),
    (ApprovalState.SUBMITTED, _l("Chờ duyệt")),
    (ApprovalState.RETURNED, _l("Bị trả lại")),
    (ApprovalState.APPROVED, _l("Đã duyệt")),
    (ApprovalAction.DRAFT, _l("Lưu nháp")),
    (ApprovalAction.SUBMIT, _l("Gửi duyệt")),
    (ApprovalAction.APPROVE, _l("Duyệt")),
    (ApprovalAction.NOT_REQUIRED, _l("Phường không yêu cầu duyệt")),
    (ApprovalAction.RETURN, _l("Trả lại")),
    (ApprovalAction.EDIT, _l("Sửa sau khi duyệt, chờ duyệt lại")),
    (ApprovalAction.EMERGENCY, _l("Phát khẩn cấp ngay, chờ xem xét")),
    (ApprovalAction.REVIEW, _l("Đã xem xét")),
    # how fast the voice reads a text (services/speech.py)
    (Speed.SLOW, _l("Chậm")),
    (Speed.NORMAL, _l("Vừa")),
    (Speed.FAST, _l("Nhanh")),
)}


AUDIT_ACTIONS = {  # what services record in the audit log (services/audit.py) → what an administrator reads
    "audio.upload": _l("Tải lên bản ghi âm"),
    "audio.speech": _l("Soạn bản tin bằng văn bản"),
    "broadcast.create": _l("Tạo bản tin"),
    "broadcast.edit": _l("Sửa bản tin"),
    "broadcast.cancel": _l("Hủy bản tin"),
    "broadcast.submit": _l("Gửi duyệt bản tin"),
    "broadcast.approve": _l("Duyệt bản tin"),
    "broadcast.return": _l("Trả lại bản tin"),
    "broadcast.review": _l("Xem xét bản tin khẩn cấp"),
    "user.emergencies": _l("Đổi quyền phát khẩn cấp"),
    "broadcast.duplicate": _l("Nhân bản bản tin"),
    "run.cancel": _l("Hủy một lượt phát"),
    "stop_all": _l("Dừng phát tất cả"),
    "command.set_volume": _l("Lệnh đặt âm lượng"),
    "command.test_tone": _l("Lệnh phát âm thử"),
    "command.reboot": _l("Lệnh khởi động lại"),
    "cluster.add": _l("Thêm cụm loa"),
    "cluster.edit": _l("Sửa cụm loa"),
    "cluster.retire": _l("Ngừng sử dụng cụm loa"),
    "fleet.import": _l("Nhập danh sách cụm loa"),
    "ward.merge": _l("Gộp phường"),
    "group.create": _l("Tạo nhóm cụm loa"),
    "group.edit": _l("Sửa nhóm cụm loa"),
    "group.delete": _l("Xóa nhóm cụm loa"),
    "ward.rules": _l("Đổi quy định phát của phường"),
    "incident.acknowledge": _l("Ghi nhận sự cố"),
    "incident.close": _l("Đóng sự cố"),
    "maintenance.add": _l("Đặt lịch bảo trì"),
    "login": _l("Đăng nhập thành công"),
    "login.failed": _l("Đăng nhập sai"),
    "login.locked": _l("Tạm khóa đăng nhập"),
    "login.unlocked": _l("Mở khóa đăng nhập"),
    "logout": _l("Đã đăng xuất"),
    "password.change": _l("Đổi mật khẩu"),
    "session.end_others": _l("Đăng xuất các phiên khác"),
    "token.create": _l("Đã tạo mã API"),
    "token.revoke": _l("Thu hồi mã API"),
    "calendar.revoke": _l("Thu hồi đường dẫn lịch"),
    "user.create": _l("Thêm người dùng"),
    "user.edit": _l("Sửa người dùng"),
    "user.activate": _l("Mở lại tài khoản"),
    "user.deactivate": _l("Khóa tài khoản"),
    "user.set_password": _l("Đặt mật khẩu mới cho người dùng"),
    "user.end_sessions": _l("Kết thúc các phiên của người dùng"),
    "broker.password_issued": _l("Cấp mật khẩu máy chủ MQTT cho cụm loa"),
    "broker.password_revoked": _l("Thu hồi mật khẩu máy chủ MQTT của cụm loa"),
    "command_key.create": _l("Tạo khóa ký lệnh"),
    "command_key.rotate": _l("Tạo khóa ký lệnh kế tiếp"),
    "command_key.activate": _l("Chuyển sang khóa ký lệnh mới"),
    "command_key.sign_again": _l("Ký lại danh sách khóa sau nâng cấp"),
    "audit.prune": _l("Xóa nhật ký quá thời hạn lưu"),
}


def audit_action(action: str) -> str:
    """Name an audit log action in the reader's language (the action itself if it has no name yet)."""
    return str(AUDIT_ACTIONS.get(action, action))


RUN_REASONS = {  # Run.reason as stored (services/dispatch.py, services/broadcasts.py) → what a person reads
    "broadcast cancelled": _l("bản tin đã bị hủy"),
    "its window closed before the controller could dispatch it": _l("đã hết giờ phát khi bộ điều khiển gửi được lệnh"),
    "the controller could not dispatch it before its start time": _l("bộ điều khiển không gửi kịp trước giờ phát"),
    "no cluster in service to send it to": _l("không còn cụm loa nào đang hoạt động để gửi"),
}


def run_reason(reason: str | None) -> str:
    """Say why a run was missed or cancelled, in the reader's language."""
    if not reason:
        return ""
    if reason.startswith("cancelled by "):
        return str(_l("do %(user)s hủy", user=reason.removeprefix("cancelled by ")))
    return str(RUN_REASONS.get(reason, reason))


def command_label(state: DeliveryState) -> str:
    """A remote command's state: like a delivery's, but a volume set or a tone played is done, not "played"."""
    return str(_l("Đã thực hiện")) if state is DeliveryState.DONE else label(state)


def label(value) -> str:
    """Return the label of an enum value (or of a plain string stored for one), or the value itself."""
    found = LABELS.get((type(value), value)) or next(
        (text for (kind, key), text in LABELS.items() if key == value and kind is not str), None)
    return str(found if found is not None else value)


DELIVERY_REASONS = {  # Delivery.detail["reason"] as clusters report it (docs/protocol.md) → what a person reads
    "fetch": _l("không tải được âm thanh về cụm"),
    "checksum": _l("âm thanh tải về bị hỏng (sai mã kiểm tra)"),
    "decode": _l("cụm không đọc được tệp âm thanh"),
    "amplifier": _l("bộ khuếch đại không hoạt động"),
    "rebooted": _l("cụm khởi động lại giữa chừng"),
    "reboot": _l("cụm được lệnh khởi động lại"),
}
STATE_REASONS = {  # why a delivery ended so when the cluster said nothing more
    DeliveryState.MISSED: _l("cụm không phản hồi trước khi hết giờ phát"),
    DeliveryState.EXPIRED: _l("lệnh đến cụm khi đã hết hạn"),
    DeliveryState.LATE: _l("đến giờ phát mà cụm chưa tải xong âm thanh"),
    DeliveryState.PREEMPTED: _l("một bản tin ưu tiên hơn phát chen vào"),
    DeliveryState.FAILED: _l("cụm báo lỗi khi phát"),
    DeliveryState.REJECTED: _l("cụm từ chối lệnh"),
}


def delivery_reason(state: DeliveryState, detail: dict | None) -> str:
    """Say why a cluster did not play, from what it reported (`detail.reason`, a rejection) or else its state."""
    detail = detail if isinstance(detail, dict) else {}
    rejected = detail.get(REJECTION_NOTE) if isinstance(detail.get(REJECTION_NOTE), dict) else {}
    reason = detail.get("reason") or rejected.get("reason")
    reason = reason[:100] if isinstance(reason, str) else None  # a cluster's words: any text, or none
    if reason in DELIVERY_REASONS:
        return str(DELIVERY_REASONS[reason])
    if reason in set(RejectReason):
        return str(_l("cụm từ chối lệnh: %(why)s", why=label(RejectReason(reason))))
    return str(STATE_REASONS.get(state, "")) or (str(reason) if reason else "")
