"""DMARC aggregate reports (RFC 7489 §7.2, appendix C XML), as Google and others send them:
a mail whose attachment is the XML report, zipped (Google: `google.com!domain!begin!end.zip`)
or gzipped (`….xml.gz`), or plain XML.

The XML comes from anyone who can send mail to the report address, so it is parsed with
defusedxml (no entity expansion, no external entities) and every decompressed attachment is
capped at MAX_XML_BYTES (a zip bomb stops there).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zipfile
from email.message import Message
from typing import Any

from defusedxml import ElementTree

from outreach.feedback.reports import DmarcRecord, DmarcReport, ReportError

MAX_XML_BYTES = 20 * 1024 * 1024
_TYPES = {
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/xml",
    "text/xml",
    "application/octet-stream",
}


def attachments(msg: Message) -> list[bytes]:
    """The XML documents attached to a report mail (decompressed), in order."""
    out: list[bytes] = []
    for p in msg.walk():
        if p.is_multipart():
            continue
        ctype = p.get_content_type()
        name = (p.get_filename() or "").lower()
        if ctype not in _TYPES and not name.endswith((".zip", ".gz", ".xml")):
            continue
        data = p.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        xml = _unpack(data)
        if xml is not None and b"<feedback" in xml[:4096]:
            out.append(xml)
    return out


def is_dmarc(msg: Message) -> bool:
    return bool(attachments(msg))


def _unpack(data: bytes) -> bytes | None:
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    if info.filename.lower().endswith(".xml"):
                        with z.open(info) as fh:
                            return _capped(fh)
        except zipfile.BadZipFile:
            return None
        return None
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                return _capped(fh)
        except (OSError, EOFError):
            return None
    return data


def _capped(fh: Any) -> bytes:
    xml = fh.read(MAX_XML_BYTES + 1)
    if len(xml) > MAX_XML_BYTES:
        raise ReportError(f"DMARC report larger than {MAX_XML_BYTES} bytes")
    return bytes(xml)


def parse_xml(xml: bytes) -> DmarcReport:
    try:
        root = ElementTree.fromstring(xml)
    except Exception as e:  # ParseError and defusedxml's refusals alike
        raise ReportError(f"unreadable DMARC XML: {type(e).__name__}") from None
    if _local(root.tag) != "feedback":
        raise ReportError("not a DMARC aggregate report (root is not <feedback>)")
    meta = _child(root, "report_metadata")
    policy = _child(root, "policy_published")
    span = _child(meta, "date_range")
    records = []
    for r in _children(root, "record"):
        row = _child(r, "row")
        evaluated = _child(row, "policy_evaluated")
        ids = _child(r, "identifiers")
        auth = _child(r, "auth_results")
        records.append(
            DmarcRecord(
                source_ip=_text(row, "source_ip"),
                count=_int(_text(row, "count")),
                disposition=_text(evaluated, "disposition").lower() or "none",
                dkim=_passfail(_text(evaluated, "dkim")),
                spf=_passfail(_text(evaluated, "spf")),
                header_from=_text(ids, "header_from").lower(),
                dkim_domains=tuple(
                    f"{_text(d, 'domain').lower()}={_text(d, 'result').lower()}"
                    for d in _children(auth, "dkim")
                ),
                spf_domains=tuple(
                    f"{_text(s, 'domain').lower()}={_text(s, 'result').lower()}"
                    for s in _children(auth, "spf")
                ),
            )
        )
    report_id = _text(meta, "report_id")
    org = _text(meta, "org_name")
    if not report_id or not org:
        raise ReportError("DMARC report without org_name or report_id")
    return DmarcReport(
        org_name=org,
        report_id=report_id,
        begin=_epoch(_text(span, "begin")),
        end=_epoch(_text(span, "end")),
        domain=_text(policy, "domain").lower(),
        policy=_text(policy, "p").lower(),
        records=tuple(records),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # RFC 7489bis reports carry a namespace


def _children(node: Any, name: str) -> list[Any]:
    if node is None:
        return []
    return [c for c in node if _local(c.tag) == name]


def _child(node: Any, name: str) -> Any:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: Any, name: str) -> str:
    c = _child(node, name)
    return (c.text or "").strip() if c is not None else ""


def _int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ReportError(f"DMARC count {value!r} is not a number") from None
    if n < 0:
        raise ReportError("negative DMARC count")
    return n


def _epoch(value: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise ReportError(f"DMARC date_range {value!r} is not a Unix time") from None


def _passfail(value: str) -> str:
    return "pass" if value.lower() == "pass" else "fail"
