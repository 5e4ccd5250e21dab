"""Custom Schemathesis checks for Tipline's contract fuzzing (loaded by ci/schemathesis_run.py).

unexplained_422: data the schema calls valid may still be refused with 422, but only for a
field whose rule the schema cannot express: an opaque cursor the service did not issue, a
reference to another record that must exist (and be public, active, a caseworker...), a date
that must not be in the future, a URL the WHATWG parser refuses, a tag's Unicode letters, or a
triage field that depends on the report's stored status. Every such 422 names its fields in the problem's
`errors[].field`; each must be on the operation's list below. Any other 422 for valid data is
a disagreement between the schema and the server: the schema promises too much, or the server
refuses what it should take.
"""

import json
import re

import schemathesis

# `cursor` is opaque: a string the service did not issue (for this list, sort and order) is 422.
_LIST = {"cursor"}

# Per operation, the fields (indices written as []) whose 422 the schema cannot foresee.
ALLOWED_422 = {
    "GET /api/v1/users": _LIST,
    "GET /api/v1/reports": _LIST,
    "GET /api/v1/reports/mine": _LIST,
    "GET /api/v1/reports/{id}/messages": _LIST,
    "GET /api/v1/reports/{id}/notes": _LIST,
    "GET /api/v1/cases": _LIST,
    # Search texts refuse control characters (no stored text holds one; PostgreSQL cannot hold NUL).
    "GET /api/v1/stations": _LIST | {"q", "city", "bureau"},
    "GET /api/v1/audit": _LIST,
    # A public station that exists; a date not in the future.
    "POST /api/v1/reports": {"station_id", "occurred_on"},
    # Active caseworkers, existing reports.
    "POST /api/v1/cases": {"assignee_id", "report_ids[]"},
    "PATCH /api/v1/cases/{id}": {"assignee_id"},
    "POST /api/v1/cases/{id}/reports": {"report_id"},
    "POST /api/v1/cases/{id}/stations": {"station_id"},
    # What closing and reopening need depends on the stored status; an existing original; an
    # active caseworker. A tag is letters and digits of any script (and ` `, `-`, `_`): the
    # regex dialect the schema's tools share has no Unicode classes, so the pattern keeps out
    # ASCII punctuation and controls only, and a non-ASCII symbol (or an unassigned code point)
    # is the server's to refuse; so is a tag that lower-casing makes longer than 40 characters.
    "PATCH /api/v1/reports/{id}": {"resolution", "reason", "duplicate_of", "assignee_id", "tags[]"},
    # URLs are checked by the WHATWG parser, which refuses what the contract's pattern cannot
    # tell apart (a broken IPv6 literal, an IPv4 part over 255, a port over 65535).
    "POST /api/v1/stations": {"sources[].url"},
    "PATCH /api/v1/stations/{id}": {"sources[].url"},
    # Tree sizes must lie within the audit tree as it stands (SPEC §15).
    "GET /api/v1/audit/entries/{seq}/proof": {"size"},
    "GET /api/v1/audit/consistency": {"from", "to"},
    # A reporter account stays a reporter and a staff account stays staff (SPEC §14): which
    # roles may be set depends on the stored one.
    "PATCH /api/v1/users/{id}": {"role"},
    # An evidence file's name may hold no control, bidirectional-control or zero-width
    # character and must be percent-encoded UTF-8; an empty body is no file (SPEC §11). A reason
    # is one line without control characters. The header and query dialect cannot say so.
    "POST /api/v1/reports/{id}/attachments": {"X-Filename", "body"},
    "GET /api/v1/reports/{id}/attachments/{aid}/original": {"reason"},
    # A code is valid only if the caller's authenticator shows it now (SPEC §12.1).
    "POST /api/v1/me/totp/confirm": {"code"},
    "DELETE /api/v1/me/totp": {"code"},
}

# Names shown to staff refuse bidirectional-control and zero-width characters (SPEC §12.3); the
# regex dialect has no way to name those code points among "any other character".
_SHOWN = {
    "POST /api/v1/auth/register": {"display_name"},
    "POST /api/v1/users": {"display_name"},
    "PATCH /api/v1/users/{id}": {"display_name"},
    "POST /api/v1/cases": {"title"},
    "PATCH /api/v1/cases/{id}": {"title"},
    "POST /api/v1/stations": {"name", "operating_bureau"},
    "PATCH /api/v1/stations/{id}": {"name", "operating_bureau"},
}
for _operation, _names in _SHOWN.items():
    ALLOWED_422[_operation] = ALLOWED_422.get(_operation, set()) | _names

_INDEX = re.compile(r"\[\d+\]")


def _fields(response):
    try:
        problem = json.loads(response.content)
    except ValueError:
        return None
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    fields = [e.get("field") if isinstance(e, dict) else None for e in errors]
    if not all(isinstance(f, str) for f in fields):
        return None
    return [_INDEX.sub("[]", f) for f in fields]


@schemathesis.check
def unexplained_422(ctx, response, case):
    """A 422 for data the schema calls valid, on a field whose rule the schema could express."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    label = case.operation.label
    if not case.operation.path.startswith("/api/"):
        # The reporter website's forms (SPEC §16) document their fields as plain strings: the
        # form is for people, and its 422 is the form again with each §4.1 rule's error beside
        # its field (the same rules as POST /api/v1/reports, judged there).
        return None
    allowed = ALLOWED_422.get(label, set())
    fields = _fields(response)
    if fields is None:
        raise AssertionError(f"422 for valid data on {label} without errors[].field to judge it by")
    unexplained = sorted(set(f for f in fields if f not in allowed))
    if unexplained:
        raise AssertionError(
            f"422 for valid data on {label}, for {', '.join(repr(f) for f in unexplained)}: "
            f"only {sorted(allowed) or 'no field'} may be refused beyond what the schema says"
        )
    return None
