"""What each import kind holds: its fields, their types and enumerations. Pure data.

The CSV header that carries a field is configuration (config/csv/<kind>.toml); the field's
type, whether it is required and which values it may take are fixed here, next to the model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str  # text|kana|date|year_month|postal|email|phone|int|bool|datetime|choice|ref
    required: bool = False
    max_len: int = 200
    choices: tuple[str, ...] = ()
    ref: str | None = None  # customer|vehicle|store: resolved to an id through external keys
    default: object = None  # what an empty cell means for a column that cannot be NULL


KINDS = ("customers", "vehicles", "policies", "bookings", "completions")

STATUS = ("active", "deceased", "closed")
ACQUISITION = ("direct", "joint_use")
EMAIL_BASES = ("opt_in", "written", "transaction", "published")
VEHICLE_STATUS = ("owned", "sold", "scrapped")
OWNER_KINDS = ("user", "lease", "credit", "other")
# The insurers the privacy policy names for purpose (8) (config/purposes.toml [insurers]); an
# insurer it does not name is refused at import (R6), a test keeps the two lists equal.
INSURERS = ("tokio_marine", "aioi_nissay_dowa", "mitsui_sumitomo")
ACQUISITION_SOURCES = ("lexus_tokyo",)  # purposes.toml [joint_use.groups.*].source
POLICY_KINDS = ("jibaiseki", "nini")

_CUSTOMERS = (
    Field("external_id", "text", required=True, max_len=64),
    Field("name_kanji", "text", required=True),
    Field("name_kana", "kana"),
    Field("postal_code", "postal"),
    Field("prefecture", "text", max_len=16),
    Field("city", "text", max_len=100),
    Field("address", "text", max_len=400),
    Field("phone", "phone"),
    Field("email", "email"),
    Field("birth_date", "date"),
    Field("status", "choice", choices=STATUS, default="active"),
    Field("acquisition", "choice", choices=ACQUISITION, default="direct"),
    Field("joint_use_partner", "text"),
    Field("acquisition_source", "choice", choices=ACQUISITION_SOURCES),
    Field("acquired_on", "date"),
    Field("notice_version", "int", default=1),
    Field("store_code", "ref", max_len=32, ref="store"),
    Field("customer_since", "date"),
    Field("last_visit_on", "date"),
    # An initial 特定電子メール法 basis for the address (R15) with its evidence (R17).
    Field("email_basis", "choice", choices=EMAIL_BASES),
    Field("email_basis_at", "datetime"),
    Field("email_basis_method", "text", max_len=64),
    Field("email_basis_text", "text", max_len=4000),
    Field("email_basis_ref", "text"),
)

_VEHICLES = (
    Field("external_id", "text", required=True, max_len=64),
    Field("customer_external_id", "ref", required=True, max_len=64, ref="customer"),
    Field("owner_name", "text"),
    Field("owner_kind", "choice", choices=OWNER_KINDS, default="user"),
    Field("car_name", "text", required=True, max_len=100),
    Field("color", "text", max_len=50),
    Field("model_code", "text", max_len=50),
    Field("registration_number", "text", max_len=50),
    Field("first_registered_on", "year_month"),
    Field("shaken_expiry_on", "date"),
    Field("last_inspection_on", "date"),
    Field("booked_on", "date"),
    Field("status", "choice", choices=VEHICLE_STATUS, default="owned"),
    Field("store_code", "ref", max_len=32, ref="store"),
)

_POLICIES = (
    Field("external_id", "text", required=True, max_len=64),
    Field("customer_external_id", "ref", max_len=64, ref="customer"),
    Field("vehicle_external_id", "ref", max_len=64, ref="vehicle"),
    Field("insurer", "choice", required=True, choices=INSURERS),
    Field("kind", "choice", required=True, choices=POLICY_KINDS),
    Field("starts_on", "date"),
    Field("expires_on", "date", required=True),
    Field("held_as_processor", "bool", default=False),
)

SERVICES = ("shaken", "inspection")

# Service bookings (入庫予約) and completed services (車検実施) from the DMS: each ends the
# reminder cycle of its vehicle (outreach.records.service_events).
_BOOKINGS = (
    Field("external_id", "text", required=True, max_len=64),
    Field("vehicle_external_id", "ref", required=True, max_len=64, ref="vehicle"),
    Field("service", "choice", choices=SERVICES, default="shaken"),
    Field("on_date", "date", required=True),
    Field("store_code", "ref", max_len=32, ref="store"),
)

_COMPLETIONS = (
    Field("external_id", "text", required=True, max_len=64),
    Field("vehicle_external_id", "ref", required=True, max_len=64, ref="vehicle"),
    Field("service", "choice", choices=SERVICES, default="shaken"),
    Field("on_date", "date", required=True),
    Field("next_expiry_on", "date"),
    Field("store_code", "ref", max_len=32, ref="store"),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "customers": _CUSTOMERS,
    "vehicles": _VEHICLES,
    "policies": _POLICIES,
    "bookings": _BOOKINGS,
    "completions": _COMPLETIONS,
}


def by_name(kind: str) -> dict[str, Field]:
    return {f.name: f for f in FIELDS[kind]}
