"""The schema. One Alembic migration chain creates exactly this on SQLite and PostgreSQL.

Enumerations are stored as short strings (checked by the application, not DB enums) so the
same migration runs on both engines and new values need no ALTER TYPE.

The models by area: `base` (the declarative base and column types), `records`, `messaging`,
`staff`, `operations`. Every model is re-exported here, in definition order.
"""

# isort: off
# In definition order: the metadata lists the tables as the one models.py did.
from outreach.db.models.base import (
    NAMING,
    TS,
    AwareDateTime,
    Base,
    Id,
)
from outreach.db.models.records import (
    ConsentEvent,
    Customer,
    EmailBasis,
    InsurancePolicy,
    SensitiveRecord,
    Store,
    Vehicle,
)
from outreach.db.models.messaging import (
    Campaign,
    Flag,
    GateDecision,
    OutboxMessage,
    Run,
    SendAttempt,
    Suppression,
)
from outreach.db.models.staff import (
    AuditEntry,
    DataRequest,
    Lease,
    LoginThrottle,
    ProvisionRecord,
    StaffSession,
    StaffUser,
)
from outreach.db.models.operations import (
    CallAttempt,
    DmarcRow,
    FeedbackReport,
    FormSubmission,
    Incident,
    IncidentSubject,
    SendBudget,
    ServiceEvent,
    SignupRequest,
    WorkerHeartbeat,
)
# isort: on

__all__ = [
    "NAMING",
    "TS",
    "AuditEntry",
    "AwareDateTime",
    "Base",
    "CallAttempt",
    "Campaign",
    "ConsentEvent",
    "Customer",
    "DataRequest",
    "DmarcRow",
    "EmailBasis",
    "FeedbackReport",
    "Flag",
    "FormSubmission",
    "GateDecision",
    "Id",
    "Incident",
    "IncidentSubject",
    "InsurancePolicy",
    "Lease",
    "LoginThrottle",
    "OutboxMessage",
    "ProvisionRecord",
    "Run",
    "SendAttempt",
    "SendBudget",
    "SensitiveRecord",
    "ServiceEvent",
    "SignupRequest",
    "StaffSession",
    "StaffUser",
    "Store",
    "Suppression",
    "Vehicle",
    "WorkerHeartbeat",
]
