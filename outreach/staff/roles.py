"""Roles and what each may do (R11: role-based access, least privilege).

A marketer defines campaigns but cannot approve them nor read a customer's records; an
approver approves and handles customers' requests; an admin manages staff accounts.
"""

from __future__ import annotations

from outreach.staff.errors import Forbidden

MARKETER = "marketer"
APPROVER = "approver"
ADMIN = "admin"
ROLES = (MARKETER, APPROVER, ADMIN)

ROLE_LABELS = {MARKETER: "マーケティング担当", APPROVER: "承認者", ADMIN: "管理者"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "campaign.read": frozenset({MARKETER, APPROVER, ADMIN}),
    "campaign.write": frozenset({MARKETER}),
    "campaign.preview": frozenset({MARKETER, APPROVER}),
    "campaign.approve": frozenset({APPROVER}),
    "campaign.schedule": frozenset({MARKETER, APPROVER}),
    "campaign.control": frozenset({MARKETER, APPROVER, ADMIN}),  # pause, resume, cancel
    "dashboard.read": frozenset({MARKETER, APPROVER, ADMIN}),
    "customer.read": frozenset({APPROVER, ADMIN}),
    "customer.request": frozenset({APPROVER, ADMIN}),  # opt-out, cessation, correction, export
    "user.manage": frozenset({ADMIN}),
    "compliance.read": frozenset({APPROVER, ADMIN}),  # the monthly report (個人情報保護管理者)
}


def allows(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())


def require(role: str, permission: str) -> None:
    if not allows(role, permission):
        label = ROLE_LABELS.get(role, role)
        raise Forbidden(f"この操作（{permission}）は{label}の権限では行えません")
