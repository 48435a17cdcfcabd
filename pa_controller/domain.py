"""The controller's own named values; those that travel on the wire are in `pa_protocol`."""

from enum import StrEnum

# The detail key under which a delivery or a remote command keeps a rejection its cluster sent while the command
# may still run: it becomes the state only if nothing else is heard (services/ingest._note_rejection).
REJECTION_NOTE = "rejected"


class ProgrammeKind(StrEnum):
    """What a broadcast sounds: recorded audio, or a live stream relayed for a window."""

    PLAY = "play"
    RELAY = "relay"


class ClusterStatus(StrEnum):
    ONLINE = "online"
    STALE = "stale"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class OutageCause(StrEnum):
    """Why the controller judged a cluster offline."""

    DISCONNECTED = "disconnected"  # its will arrived
    SILENT = "silent"  # no heartbeat for 3 intervals


class IncidentKind(StrEnum):
    """What a technician is told about: an outage, a ward-wide outage (power cut), a speaker or amplifier fault."""

    CLUSTER_OFFLINE = "cluster_offline"
    WARD_OUTAGE = "ward_outage"
    SPEAKER_FAULT = "speaker_fault"
    AMPLIFIER_FAULT = "amplifier_fault"


class Scope(StrEnum):
    """What an API token may be used for; a token never grants more than its user's role (Role.scopes)."""

    READ = "read"  # every GET
    SCHEDULE = "schedule"  # audio, broadcasts, runs, cancelling
    FLEET = "fleet"  # remote commands, incidents, maintenance, fleet administration
    ADMIN = "admin"  # ward rules, stop-all
    REPORT = "report"  # the upward API only (docs/upward-api.md): what a province's system pulls, nothing else

    @property
    def granted_by(self) -> frozenset["Scope"]:
        """The scopes a token may hold to be allowed this: itself, and `read` for `report` (every GET)."""
        return frozenset({self, Scope.READ}) if self is Scope.REPORT else frozenset({self})


class Role(StrEnum):
    """What a person is for. The district's roles (administrator, technician) have no wards; an officer has one
    or more; an approver or a viewer has some wards or, with none, the whole district."""

    ADMIN = "admin"
    APPROVER = "approver"
    OFFICER = "officer"
    TECHNICIAN = "technician"
    VIEWER = "viewer"

    @property
    def schedules(self) -> bool:
        """Uploads audio and schedules broadcasts (an officer for their own wards)."""
        return self in (Role.ADMIN, Role.OFFICER)

    @property
    def tends_fleet(self) -> bool:
        """Sends remote commands to clusters and handles incidents."""
        return self in (Role.ADMIN, Role.TECHNICIAN)

    @property
    def approves(self) -> bool:
        """Approves what officers schedule in its wards (services/approvals.py)."""
        return self in (Role.ADMIN, Role.APPROVER)

    @property
    def district_wide(self) -> bool:
        """Works on the whole district and is given no wards."""
        return self in (Role.ADMIN, Role.TECHNICIAN)

    @property
    def needs_wards(self) -> bool:
        """Must belong to at least one ward."""
        return self is Role.OFFICER

    @property
    def scopes(self) -> frozenset[Scope]:
        """The token scopes this role can use: a token's other scopes grant nothing."""
        return ROLE_SCOPES[self]


ROLE_SCOPES = {  # every role reads, so every role may give a token the narrower `report`
    Role.ADMIN: frozenset(Scope),
    Role.APPROVER: frozenset({Scope.READ, Scope.REPORT, Scope.SCHEDULE}),  # approving is a step of scheduling
    Role.OFFICER: frozenset({Scope.READ, Scope.REPORT, Scope.SCHEDULE}),
    Role.TECHNICIAN: frozenset({Scope.READ, Scope.REPORT, Scope.FLEET}),
    Role.VIEWER: frozenset({Scope.READ, Scope.REPORT}),
}


class ApprovalState(StrEnum):
    """Where an officer's broadcast stands on its way to the air (issue 14): only an approved one has runs."""

    DRAFT = "draft"  # saved, not yet sent to an approver
    SUBMITTED = "submitted"  # waits for an approver of every ward it reaches
    RETURNED = "returned"  # sent back with the approver's comment; the officer edits and submits again
    APPROVED = "approved"  # planned: its runs exist


class ApprovalAction(StrEnum):
    """A step in a broadcast's approval history."""

    DRAFT = "draft"  # saved as a draft
    SUBMIT = "submit"  # sent for approval
    APPROVE = "approve"  # approved by an approver, or by an administrator saving it
    NOT_REQUIRED = "not_required"  # approved on saving: none of its wards asks for approval
    RETURN = "return"  # sent back with a comment
    EDIT = "edit"  # an approved broadcast edited by an officer: submitted again, its future runs withdrawn
    EMERGENCY = "emergency"  # an emergency sent at once by a user allowed to, awaiting review
    REVIEW = "review"  # an emergency reviewed after it went out


class KeyState(StrEnum):
    """Where a command key is in its life: published ahead, signing, or retired with a not_after."""

    NEXT = "next"  # published and endorsed by the current key; clusters accept it, nothing is signed with it yet
    CURRENT = "current"  # signs every command published now
    RETIRED = "retired"  # signs nothing more; clusters accept what it signed until its not_after


class RefusalKind(StrEnum):
    """What was refused, counted per cluster and reason: a security signal for the technician."""

    FORGED_COMMAND = "forged_command"  # the cluster rejected a command the controller never sent it
    REPORT = "report"  # the controller refused a report published on the cluster's topics


class ReportRefusal(StrEnum):
    """Why the controller refused a report, beyond the protocol's reason words for one it could not decode."""

    UNKNOWN_COMMAND = "unknown_command"  # for a command the controller never sent
    OTHER_CLUSTER = "other_cluster"  # for a command the controller sent to another cluster
    WRONG_RUN = "wrong_run"  # its run_id is not the run of the command it names
    UNKNOWN_CLUSTER = "unknown_cluster"  # on the topic of a cluster not in the registry
    NOT_A_CLUSTER_TOPIC = "bad_topic"  # on a topic under the root that is no cluster's channel (a malformed id)
