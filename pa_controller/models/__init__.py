"""The models, one module per aggregate."""

from pa_controller.models.audit import AuditEntry
from pa_controller.models.broadcasts import ApprovalStep, Broadcast, BroadcastWard, Delivery, OutboxMessage, Run
from pa_controller.models.broker import BrokerCredential
from pa_controller.models.command_keys import CommandKey
from pa_controller.models.fleet import Cluster, ClusterState, Group, Ward, group_cluster
from pa_controller.models.guardrails import WardRules
from pa_controller.models.health import (
    FleetCommand,
    FleetRefusalCount,
    HeartbeatSample,
    Incident,
    MaintenanceWindow,
    Outage,
    RefusalCount,
    TelemetryBucket,
)
from pa_controller.models.media import Audio
from pa_controller.models.operations import StopOrder
from pa_controller.models.people import ApiToken, User, user_ward
from pa_controller.models.service_beat import ServiceBeat
from pa_controller.models.sessions import LoginFailure, UserSession

__all__ = [
    "ApiToken", "ApprovalStep", "AuditEntry", "Audio", "Broadcast", "BroadcastWard", "BrokerCredential", "Cluster",
    "ClusterState", "CommandKey", "Delivery", "FleetCommand", "FleetRefusalCount", "Group", "HeartbeatSample",
    "Incident", "LoginFailure", "MaintenanceWindow", "OutboxMessage", "Outage", "RefusalCount", "Run", "ServiceBeat",
    "StopOrder", "TelemetryBucket", "User", "UserSession", "Ward", "WardRules", "group_cluster", "user_ward",
]
