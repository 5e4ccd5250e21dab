"""Runs the Schemathesis CLI (the version ci/schemathesis.sh pins) with one repair, and with
the checks of ci/schemathesis_hooks.py registered.

Schemathesis learns links between operations from strings in 2xx JSON bodies that look like
same-origin URLs. A string that starts with "http://" but does not parse (for instance
"http://[", which Python's urlsplit refuses as an invalid IPv6 URL) makes that step raise, and
the whole run stops with an internal error. Such strings are legitimate data here: free text
the fuzzer itself stored. The repair treats a string that does not parse as no link, which is
what Schemathesis does for every other string that is not a URL. Nothing else changes.
"""

import sys

from schemathesis.cli import schemathesis
from schemathesis.engine import observations

import schemathesis_hooks  # noqa: F401  (registers the project's checks)

_same_origin_path = observations._same_origin_path


def _same_origin_path_or_none(value, origin):
    try:
        return _same_origin_path(value, origin)
    except ValueError:
        return None


observations._same_origin_path = _same_origin_path_or_none

if __name__ == "__main__":
    sys.argv[0] = "st"
    sys.exit(schemathesis())
