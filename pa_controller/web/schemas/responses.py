"""What API v1 answers, one schema per resource (web/shapes.py builds them); for the document."""

import marshmallow as ma
from marshmallow.fields import Boolean, Dict, Float, Integer, List, Nested, Raw, String

from pa_controller.domain import (
    ApprovalAction,
    ApprovalState,
    ClusterStatus,
    IncidentKind,
    KeyState,
    ProgrammeKind,
    RefusalKind,
)
from pa_protocol import DeliveryState, Priority, RunState

Time = String(allow_none=True, metadata={"format": "date-time", "description": "RFC 3339 UTC"})
Counts = Dict(keys=String(), values=Integer())


def words(enum, **kwargs) -> ma.fields.Enum:
    return ma.fields.Enum(enum, by_value=True, **kwargs)


class Health(ma.Schema):
    status, db, mqtt, scheduler = String(), String(), String(), String()
    signing = String(metadata={"description": "`ok`, or why commands wait unsigned: `no key`, `key file missing`, "
                               "`key file unreadable`; the worker's log says which file and what to do"})
    ingest = String(metadata={"description": "only with ingest processes (PA_INGEST_WORKERS): `ok`, or each that "
                              "never started, stopped beating or lost the broker"})


class Refusals(ma.Schema):
    refused_reports = Integer(metadata={"description": "reports refused so far, on any topic: forged commands "
                                        "clusters rejected and reports the controller did not apply"})
    refused = Dict(metadata={"description": "the same by kind (`forged_command`, `report`) and reason, e.g. "
                             "`{\"report\": {\"malformed\": 3, \"unknown_cluster\": 1, \"bad_topic\": 2}}`"})


class CommandKeyEntry(ma.Schema):
    """One key of the chain (docs/protocol.md, "The key list"): its endorsement, the statement `{"type":
    "command_key", seq, id, public_key}` signed by `signed_by`, and once retired its retirement, the statement
    `{"type": "command_key_retirement", id, not_after}` signed by `retired_by`; each is signed once and never
    changes. `state` is the controller's, outside the statements."""

    seq = Integer(metadata={"description": "the key's place in the chain: 1 for the anchor, then 2, 3…; a cluster "
                            "holds one key a seq"})
    id = String(metadata={"description": "first 16 hex digits of the SHA-256 of the raw public key"})
    public_key = String(metadata={"description": "the 32-byte Ed25519 public key, base64url without padding"})
    state = words(KeyState)
    signed_by = String(metadata={"description": "the key of seq - 1, which endorses this one; the anchor (seq 1) "
                                 "endorses itself"})
    signature = String(metadata={"description": "Ed25519 over the endorsement's canonical JSON, base64url"})
    not_after = String(metadata={"format": "date-time", "description": "RFC 3339 UTC; only a retired key has one: "
                                 "it signs nothing after it; covered by the retirement's signature"})
    retired_by = String(metadata={"description": "the key of seq + 1, which signs the retirement (with not_after)"})
    retirement_signature = String(metadata={"description": "Ed25519 over the retirement's canonical JSON, "
                                            "base64url"})


class Ward(ma.Schema):
    id, name, clusters, speakers = String(), String(), Integer(), Integer()


class Group(ma.Schema):
    id, name, ward = Integer(), String(), String()
    clusters = List(String(), metadata={"description": "its clusters, all of its ward"})
    created_at = Time


class Cluster(ma.Schema):
    id, name, ward = String(), String(), String()
    lat, lon, speakers = Float(), Float(), Integer()
    status = words(ClusterStatus)
    last_seen = Time


class ClusterDetail(Cluster):
    """The latest heartbeat: every reading is null until the cluster was heard from."""

    boot_id, heartbeat_at = String(allow_none=True), Time
    seq, uptime_s = Integer(allow_none=True), Float(allow_none=True)
    state, playing, volume = String(allow_none=True), String(allow_none=True), Integer(allow_none=True)
    rssi_dbm, temp_c = Float(allow_none=True), Float(allow_none=True)
    speakers_ok, speakers_total = Integer(allow_none=True), Integer(allow_none=True)
    amp_ok, fw = Boolean(allow_none=True), String(allow_none=True)
    retired = Boolean(metadata={"description": "in the fleet management answers"})
    refusals = Dict(keys=words(RefusalKind), values=Counts, metadata={
        "description": "in GET /clusters/{id}: per kind and reason, how often a forged command was rejected by "
                       "this cluster (`forged_command`) or a report on its topics refused (`report`)"})


class BrokerPassword(ma.Schema):
    """A cluster's broker login, shown once: only its hash is kept."""

    cluster = String(metadata={"description": "the cluster id, which is also its broker username and client id"})
    password = String(metadata={"description": "shown this once; ask for a new one if it is lost"})


class EnrolledCluster(ClusterDetail):
    broker_password = String(metadata={"description": "the cluster's broker password, shown this once"})


class Audio(ma.Schema):
    id, title, sha256, bytes, duration_ms = Integer(), String(), String(), Integer(), Integer()
    loudness_lufs, url, created_at, composed = Float(), String(), Time, Boolean()
    ward = String(allow_none=True, metadata={"description": "the ward it belongs to; null: the whole district's"})
    text = String(allow_none=True, metadata={"description": "composed by text: the text the voice read; else null"})


class Reading(ma.Schema):
    text = String(metadata={"description": "the text as sent"})
    reading = String(metadata={"description": "how the voice reads it: numbers, dates, times and units in words"})


class Approval(ma.Schema):
    """Where a broadcast stands: by, at and comment are of the step that put it there (null before issue 14)."""

    state = words(ApprovalState)
    by, at, comment = String(allow_none=True), Time, String(allow_none=True)
    awaiting_review = Boolean(metadata={"description": "an emergency sent before approval, not yet reviewed"})


class ApprovalStep(ma.Schema):
    action, state = words(ApprovalAction), words(ApprovalState)
    by, at, comment = String(allow_none=True), Time, String(allow_none=True)


class Waiting(ma.Schema):
    """A broadcast that waits for the caller: submitted, or an emergency awaiting review."""

    id, title, priority, start_at = Integer(), String(), words(Priority), Time
    wards = List(String())
    approval = Nested(Approval)


class Broadcast(ma.Schema):
    id, title, kind, audio_id = Integer(), String(), words(ProgrammeKind), Integer(allow_none=True)
    programme, stream_url, duration_ms = Dict(allow_none=True), String(allow_none=True), Integer()
    priority, targets, start_at, rrule, until = words(Priority), Dict(), Time, String(allow_none=True), Time
    exdates, times, override_reason = List(String()), List(String()), String(allow_none=True)
    created_at, updated_at, cancelled_at = Time, Time, Time
    approval = Nested(Approval)
    history = List(Nested(ApprovalStep), metadata={"description": "the approval's steps, oldest first"})


class BroadcastList(ma.Schema):
    broadcasts, total, page, pages = List(Nested(Broadcast)), Integer(), Integer(), Integer()


class Reach(ma.Schema):
    clusters, speakers, wards = Integer(), Integer(), Integer()
    offline = Integer(metadata={"description": "of those clusters, how many are offline now"})


class Review(ma.Schema):
    next_runs, conflicts, violations = List(Time), List(Dict()), List(Dict())
    reach = Nested(Reach, metadata={"description": "the clusters, speakers and wards in service it reaches"})
    checked_until = String(allow_none=True, metadata={"format": "date-time", "description": (
        "null: every run of the series was checked for conflicts and ward rules; else the series goes on past "
        "PA_CHECK_HORIZON_D days and its runs from this time on were not checked")})


class SavedBroadcast(Broadcast, Review):
    pass


class Run(ma.Schema):
    id, broadcast_id, start_at, state, reason = Integer(), Integer(), Time, words(RunState), String(allow_none=True)


class RunReport(Run):
    class ClusterState(ma.Schema):
        id, state, at = String(), words(DeliveryState), Time

    counts = Counts
    by_ward = Dict(keys=String(), values=Counts)
    clusters = List(Nested(ClusterState))


class Rules(ma.Schema):
    class Quiet(ma.Schema):
        start, end = String(metadata={"example": "21:30"}), String(metadata={"example": "05:00"})

    ward = String()
    quiet_hours = Nested(Quiet, allow_none=True)
    max_sessions_per_day, max_session_minutes = Integer(allow_none=True), Integer(allow_none=True)
    weekdays = List(Integer(), allow_none=True)
    blackout_dates = List(String(metadata={"format": "date"}))
    approval_required = Boolean()


class StopOrder(ma.Schema):
    id, clusters, created_at = Integer(), Integer(), Time


class Command(ma.Schema):
    id, cmd_id, cluster, type, params = Integer(), String(), String(), String(), Dict()
    state, at, detail, amp_ok = words(DeliveryState), Time, Dict(), Boolean(allow_none=True)
    issued_at, issued_by, expires_at = Time, Integer(), Time


class ImportResult(ma.Schema):
    wards, clusters, speakers = Integer(), Integer(), Integer()


class MergeResult(ma.Schema):
    moved, in_service, officers_left, broadcasts_naming_from = Integer(), Integer(), Integer(), Integer()

    class Meta:
        include = {"from": String(), "into": String()}


class Incident(ma.Schema):
    id, kind, cluster, ward = Integer(), words(IncidentKind), String(allow_none=True), String(allow_none=True)
    cluster_name, ward_name, summary, detail = String(allow_none=True), String(allow_none=True), String(), Raw()
    opened_at, closed_at, acknowledged_at, outage_started_at = Time, Time, Time, Time
    outage_cause = String(allow_none=True)


class MaintenanceWindow(ma.Schema):
    id, ward, cluster, starts_at, ends_at, reason = Integer(), String(), String(), Time, Time, String()


class Airtime(ma.Schema):
    """A month's airtime (services/airtime.py says how each figure is counted)."""

    class Line(ma.Schema):
        ward = String(allow_none=True, metadata={"description": "the ward's id; null on the district's line"})
        name = String()
        sessions = Integer(metadata={"description": "runs of the month at least one of its clusters played to the end"})
        minutes = Float(metadata={"description": "the programme's length summed over those runs"})
        cluster_minutes = Float(metadata={"description": "the programme's length times the clusters that played it"})
        items = Integer(metadata={"description": "distinct broadcasts among those runs"})
        done = Integer(metadata={"description": "deliveries played to the end"})
        sent = Integer(metadata={"description": "deliveries sent, but those a person cancelled"})
        rate = Float(allow_none=True, metadata={"description": "done / sent; null when nothing was sent"})

    month = String(metadata={"example": "2026-12", "description": "a month in Asia/Ho_Chi_Minh"})
    wards = List(Nested(Line))
    total = Nested(Line, allow_none=True, metadata={"description": "the district, for readers of the whole district; "
                                                                   "a run that played in several wards counts once"})
    generated_at = Time
