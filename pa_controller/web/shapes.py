"""The JSON shapes of the API: one function per resource."""

from pa_controller.services import approvals, groups
from pa_controller.web.formatting import jsonable, utc


def ward(w) -> dict:
    active = [c for c in w.clusters if not c.retired]
    return {"id": w.id, "name": w.name, "clusters": len(active), "speakers": sum(c.speakers for c in active)}


def group(g) -> dict:
    return {"id": g.id, "name": g.name, "ward": g.ward_id, "clusters": [c.id for c in groups.members(g)],
            "created_at": utc(g.created_at)}


def cluster(c, status) -> dict:
    return {
        "id": c.id, "name": c.name, "ward": c.ward_id, "lat": c.lat, "lon": c.lon, "speakers": c.speakers,
        "status": status.value, "last_seen": utc(c.state.last_seen if c.state else None),
    }


def cluster_detail(c, status) -> dict:
    s = c.state
    heartbeat = {} if s is None else {
        "boot_id": s.boot_id, "heartbeat_at": utc(s.heartbeat_at), "seq": s.seq, "uptime_s": s.uptime_s,
        "state": s.activity, "playing": s.playing, "volume": s.volume, "rssi_dbm": s.rssi_dbm, "temp_c": s.temp_c,
        "speakers_ok": s.speakers_ok, "speakers_total": s.speakers_total, "amp_ok": s.amp_ok, "fw": s.fw,
    }
    return {**cluster(c, status), **heartbeat}


def audio(a) -> dict:
    return {
        "id": a.id, "title": a.title, "sha256": a.sha256, "bytes": a.bytes, "duration_ms": a.duration_ms,
        "loudness_lufs": a.loudness_lufs, "url": f"/media/{a.sha256}.mp3", "created_at": utc(a.created_at),
        "composed": a.composed, "ward": a.ward_id, "text": a.speech_text,
    }


def broadcast(b) -> dict:
    return {
        "id": b.id, "title": b.title, "kind": b.kind.value, "audio_id": b.audio_id, "programme": b.programme,
        "stream_url": b.stream_url, "duration_ms": b.duration_ms, "priority": b.priority.value, "targets": b.targets,
        "start_at": utc(b.start_at), "rrule": b.rrule, "until": utc(b.until), "exdates": b.exdates or [],
        "times": b.times or [], "override_reason": b.override_reason, "created_at": utc(b.created_at),
        "updated_at": utc(b.updated_at), "cancelled_at": utc(b.cancelled_at), "approval": approval(b),
        "history": [approval_step(s) for s in b.steps],
    }


def approval_step(s) -> dict:
    return {"action": s.action.value, "state": s.state.value, "by": s.user.username if s.user else None,
            "at": utc(s.at), "comment": s.comment}


def approval(b) -> dict:
    step = approvals.latest(b)
    return {"state": b.approval.value, "by": step.user.username if step and step.user else None,
            "at": utc(step.at) if step else None, "comment": step.comment if step else None,
            "awaiting_review": b.awaiting_review}


def waiting(b) -> dict:
    return {"id": b.id, "title": b.title, "priority": b.priority.value, "start_at": utc(b.start_at),
            "wards": [w.ward_id for w in b.wards], "approval": approval(b)}


def review(r) -> dict:
    return {"next_runs": [utc(t) for t in r.next_runs], "conflicts": jsonable(r.conflicts),
            "violations": jsonable(r.violations), "reach": r.reach.describe(),
            "checked_until": utc(r.checked_until) if r.checked_until else None}


def run(r) -> dict:
    return {"id": r.id, "broadcast_id": r.broadcast_id, "start_at": utc(r.start_at), "state": r.state.value,
            "reason": r.reason}


def run_report(report) -> dict:
    return {
        **run(report.run),
        "counts": {state.value: n for state, n in report.counts.items()},
        "by_ward": {w: {s.value: n for s, n in c.items()} for w, c in report.by_ward.items()},
        "clusters": [{"id": d.cluster_id, "state": d.state.value, "at": utc(d.at)} for d, _ in report.deliveries],
    }


def airtime_line(line) -> dict:
    return {"ward": line.ward_id, "name": line.name, "sessions": line.sessions, "minutes": round(line.minutes, 2),
            "cluster_minutes": round(line.cluster_minutes, 2), "items": line.items, "done": line.done,
            "sent": line.sent, "rate": None if line.rate is None else round(line.rate, 4)}


def airtime(report) -> dict:
    return {"month": str(report.month), "wards": [airtime_line(line) for line in report.wards],
            "total": None if report.total is None else airtime_line(report.total),
            "generated_at": utc(report.generated_at)}
