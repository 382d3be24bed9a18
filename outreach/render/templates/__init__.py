"""Mail templates found by convention and checked when loaded and when saved.

A template is a folder `templates/mail/<name>/`:

    meta.toml     purpose = "p2", advertising = true|false and advertising_reason (R14),
                  stream = "reminder"|"campaign",
                  optional kind, stage, version, description
    subject.txt   email subject            ┐
    body.txt      email text part          ├ channel "email"
    body.html     email HTML part (opt.)   ┘
    post.txt      printed notice (print batches)   channel "post"
    phone.txt     call-script line (call lists)    channel "phone"

Folders whose name begins with `_` (`_base/`: layout, footer, macros) are shared includes.

The checks (`check`), the same at load and when staff save a campaign, refuse a template:
- whose purpose is unknown, or does not name a channel the template has a file for (R1);
- that is not classified as advertising or not (R14);
- that uses a field whose data item lies outside its purpose, or any `sensitive.*` field
  (R3), or a whole personal object (`{{ customer }}`), naming the file and the variable;
- that fails to render once with synthetic sample data (an unknown filter, a runtime error).

The legally required sender display (R19) is not the template's business: the composer adds
it to every advertising mail (`render.display`), so no template can drop or hide it.
`_base/footer.*` are kept empty only so older campaign texts that include them still render.
Every problem is reported, not just the first. A loaded template carries its version and a
sha256 over every source it renders from (includes too) for the send log (R28).

The package: `model` (the template types and refusals), `catalogue` (finding and loading the
folders), `lint` (the checks), `render` (rendering a checked template). Every name is
re-exported here.
"""

from outreach.render.templates.catalogue import Catalog, file_loader, load, load_one, parse_meta
from outreach.render.templates.lint import MAX_INCLUDE_DEPTH, check
from outreach.render.templates.model import (
    FILES,
    NON_PERSONAL_FIELDS,
    STREAMS,
    MailTemplate,
    Meta,
    Rendered,
    TemplateParked,
    TemplateRefused,
    permanent,
)
from outreach.render.templates.render import render_channel, render_email

__all__ = [
    "FILES",
    "MAX_INCLUDE_DEPTH",
    "NON_PERSONAL_FIELDS",
    "STREAMS",
    "Catalog",
    "MailTemplate",
    "Meta",
    "Rendered",
    "TemplateParked",
    "TemplateRefused",
    "check",
    "file_loader",
    "load",
    "load_one",
    "parse_meta",
    "permanent",
    "render_channel",
    "render_email",
]
