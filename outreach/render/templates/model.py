"""The mail template types: the files a template may have, its meta, the loaded template,
a rendered email, and the refusals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from outreach.errors import ConfigError, GateRefused, NotFound
from outreach.render import dealer as dealer_mod
from outreach.render import environment

FILES: Mapping[str, str] = MappingProxyType(
    {
        "subject.txt": "email",
        "body.txt": "email",
        "body.html": "email",
        "post.txt": "post",
        "phone.txt": "phone",
    }
)
STREAMS = ("reminder", "campaign")
# Attributes of the variables that hold no personal data.
NON_PERSONAL_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "dealer": dealer_mod.FIELDS,
        "message": frozenset({"id", "message_id", "optout_url", "preferences_url", "advertising"}),
        "store": frozenset({"id", "code", "name", "phone", "address", "closing_weekdays"}),
        "campaign": frozenset({"id", "name", "purpose", "category", "schedule_at"}),
    }
)


class TemplateRefused(ConfigError):
    """A template breaks a rule; `problems` lists each one (file and variable named)."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.template = name
        self.problems = tuple(problems)
        super().__init__(f"テンプレート {name} は使用できません: " + " / ".join(problems))


class TemplateParked(ConfigError):
    """A message's catalogue template was refused when the catalogue loaded: its messages
    wait on the retry schedule (ops can fix the file); every other template still sends."""


def permanent(e: BaseException) -> bool:
    """Whether a build failure is final, retrying the same message cannot help: a refusal
    of the gate or of the checks, a render refusal (a field outside the permit, the sandbox),
    a value the MIME writer refuses (header injection). Anything else may be fixed by ops."""
    if isinstance(e, TemplateParked):
        return False
    return isinstance(e, GateRefused | TemplateRefused | environment.RenderError | ValueError)


@dataclass(frozen=True, slots=True)
class Meta:
    purpose: str
    advertising: bool
    stream: str
    kind: str | None = None
    stage: str | None = None
    version: int = 1
    description: str = ""
    # Why the template is (or is not) advertising (R14); every shipped template says why.
    advertising_reason: str = ""


@dataclass(frozen=True)
class MailTemplate:
    name: str
    meta: Meta
    sources: Mapping[str, str]  # file name → source, the template's own files
    fields: Mapping[str, frozenset[str]]  # channel → fields used (includes followed)
    items: Mapping[str, frozenset[str]]  # channel → data items used
    hash: str  # sha256 of every source rendered from, includes too (R28)
    includes: frozenset[str] = field(default_factory=frozenset)

    @property
    def version(self) -> str:
        return f"{self.name}@v{self.meta.version}"

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self.fields)

    def items_for(self, channel: str) -> frozenset[str]:
        try:
            return self.items[channel]
        except KeyError:
            raise NotFound(f"template {self.name} has no {channel} form") from None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None
