"""What people read for each domain value (Vietnamese source, translated by Flask-Babel)."""

from flask_babel import lazy_gettext as _l

from pa_controller.domain import ClusterStatus, DeliveryState, IncidentKind, Priority, RunState

LABELS = {
    Priority.NORMAL: _l("Thông thường"),
    Priority.PRIORITY: _l("Ưu tiên"),
    Priority.EMERGENCY: _l("Khẩn cấp"),
    RunState.SCHEDULED: _l("Đã lên lịch"),
    RunState.DISPATCHED: _l("Đang phát"),
    RunState.FINISHED: _l("Đã kết thúc"),
    RunState.CANCELLED: _l("Đã hủy"),
    RunState.MISSED: _l("Bị lỡ"),
    DeliveryState.PENDING: _l("Chưa phản hồi"),
    DeliveryState.RECEIVED: _l("Đã nhận lệnh"),
    DeliveryState.READY: _l("Sẵn sàng"),
    DeliveryState.LATE: _l("Trễ, không phát"),
    DeliveryState.PLAYING: _l("Đang phát"),
    DeliveryState.DONE: _l("Đã phát xong"),
    DeliveryState.FAILED: _l("Lỗi"),
    DeliveryState.EXPIRED: _l("Lệnh hết hạn"),
    DeliveryState.PREEMPTED: _l("Bị bản tin ưu tiên hơn chen ngang"),
    DeliveryState.CANCELLED: _l("Đã hủy"),
    DeliveryState.REJECTED: _l("Từ chối lệnh"),
    DeliveryState.MISSED: _l("Không phản hồi"),
    ClusterStatus.ONLINE: _l("Trực tuyến"),
    ClusterStatus.STALE: _l("Chậm tín hiệu"),
    ClusterStatus.OFFLINE: _l("Mất kết nối"),
    ClusterStatus.UNKNOWN: _l("Chưa rõ"),
    # guardrails a broadcast may break (services/guardrails.py)
    "quiet_hours": _l("Trong giờ yên tĩnh"),
    "sessions_per_day": _l("Vượt số buổi phát trong ngày"),
    "session_length": _l("Buổi phát quá dài"),
    "weekday": _l("Ngày trong tuần không được phát"),
    "blackout_date": _l("Ngày cấm phát"),
    IncidentKind.CLUSTER_OFFLINE: _l("Cụm loa mất kết nối"),
    IncidentKind.WARD_OUTAGE: _l("Mất kết nối diện rộng (cả phường)"),
    IncidentKind.SPEAKER_FAULT: _l("Hỏng loa"),
    IncidentKind.AMPLIFIER_FAULT: _l("Hỏng bộ khuếch đại"),
}


def label(value) -> str:
    """Return the label of an enum value, or the value itself."""
    return str(LABELS.get(value, value))
