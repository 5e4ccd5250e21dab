#!/usr/bin/env python3
"""Build data/stations.csv from the public-reports list of overseas "police service stations".

Usage (from the repository root):

    python3 data/build_stations.py [SOURCE_CSV] [OUTPUT_CSV]

Defaults: SOURCE_CSV = /work/shared/data/stations-public-reports.csv (or the
STATIONS_SOURCE environment variable), OUTPUT_CSV = data/stations.csv next to
this script. Python 3 standard library only.

Source columns: city,country,operating_bureau,status,address,sources,notes
(sources separated by " || ", each "Publisher, 'Title', YYYY-MM-DD, URL" with the
title quotes, date and URL each optional).

Output columns: name,city,country,address,operating_bureau,status,visibility,
sources,first_reported_on,notes -- sources is a compact JSON array of
{"title", "url", "published_on"} objects.
"""

import csv
import datetime
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.environ.get(
    "STATIONS_SOURCE", "/work/shared/data/stations-public-reports.csv"
)
DEFAULT_OUTPUT = os.path.join(HERE, "stations.csv")

OUT_COLUMNS = [
    "name", "city", "country", "address", "operating_bureau", "status",
    "visibility", "sources", "first_reported_on", "notes",
]
IN_COLUMNS = ["city", "country", "operating_bureau", "status", "address", "sources", "notes"]
STATUSES = {"reported", "confirmed", "closed", "disputed"}
SOURCE_SEP = " || "

# English short names for the country codes in the source (used only in
# names of rows without a city; any other code falls back to the code itself).
COUNTRY_NAMES = {
    "AR": "Argentina", "AT": "Austria", "AU": "Australia", "BR": "Brazil",
    "CA": "Canada", "CL": "Chile", "CZ": "Czechia", "DE": "Germany",
    "EC": "Ecuador", "ES": "Spain", "FR": "France", "GB": "United Kingdom",
    "GR": "Greece", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland",
    "IT": "Italy", "JP": "Japan", "KR": "South Korea", "LS": "Lesotho",
    "MN": "Mongolia", "NG": "Nigeria", "NL": "Netherlands", "NZ": "New Zealand",
    "PT": "Portugal", "RO": "Romania", "RS": "Serbia", "SE": "Sweden",
    "SK": "Slovakia", "TZ": "Tanzania", "UA": "Ukraine", "US": "United States",
}

URL_TAIL = re.compile(r"^(?P<rest>.*?)(?:,\s*|^)(?P<url>https?://\S+)\s*$", re.S)
DATE_TAIL = re.compile(r"^(?P<rest>.*?)(?:,\s*|^)(?P<date>\d{4}-\d{2}-\d{2})\s*$", re.S)
# "Publisher, 'Title'" -- the title may itself contain apostrophes (greedy).
QUOTED = re.compile(r"^(?P<pub>[^,']+?),\s*'(?P<title>.+)'$", re.S)


def valid_date(text):
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_source(raw):
    """Parse one source string into {"title", "url", "published_on"}.

    Only a trailing URL and a trailing full YYYY-MM-DD date are taken out of the
    text; anything else (e.g. a month-only date "2022-12") stays in the title so
    that nothing is lost or invented.
    """
    text = raw.strip()
    if not text:
        raise ValueError("empty source entry")
    url = None
    m = URL_TAIL.match(text)
    if m:
        url = m.group("url")
        text = m.group("rest").strip()
    published_on = None
    m = DATE_TAIL.match(text)
    if m and valid_date(m.group("date")):
        published_on = m.group("date")
        text = m.group("rest").strip()
    text = text.rstrip(",").strip()
    m = QUOTED.match(text)
    if m:
        title = "%s: %s" % (m.group("pub").strip(), m.group("title").strip())
    else:
        title = text
    if not title:
        raise ValueError("source without a title: %r" % raw)
    return {"title": title, "url": url, "published_on": published_on}


def station_name(row):
    bureau = row["operating_bureau"]
    place = row["city"] or COUNTRY_NAMES.get(row["country"], row["country"])
    if bureau == "unknown":
        return "Reported station, %s" % place
    return "%s station, %s" % (bureau, place)


def build(source_path, output_path):
    with open(source_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in IN_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit("source lacks columns: %s" % ", ".join(missing))
        rows = list(reader)

    out = []
    seen = {}
    raw_source_count = 0
    for lineno, row in enumerate(rows, start=2):
        row = {k: (row.get(k) or "").strip() for k in IN_COLUMNS}
        country = row["country"].upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise SystemExit("line %d: bad country %r" % (lineno, row["country"]))
        row["country"] = country
        if row["status"] not in STATUSES:
            raise SystemExit("line %d: bad status %r" % (lineno, row["status"]))
        if not row["operating_bureau"]:
            row["operating_bureau"] = "unknown"

        raw_sources = [s for s in row["sources"].split(SOURCE_SEP) if s.strip()]
        raw_source_count += len(raw_sources)
        try:
            sources = [parse_source(s) for s in raw_sources]
        except ValueError as e:
            raise SystemExit("line %d: %s" % (lineno, e))
        if len(sources) != len(raw_sources):
            raise SystemExit("line %d: sources lost" % lineno)
        dates = [s["published_on"] for s in sources if s["published_on"]]
        first = min(dates) if dates else ""

        base = station_name(row)
        n = seen.get(base, 0) + 1
        seen[base] = n
        name = base if n == 1 else "%s (%d)" % (base, n)

        out.append({
            "name": name,
            "city": row["city"],
            "country": country,
            "address": row["address"],
            "operating_bureau": row["operating_bureau"],
            "status": row["status"],
            "visibility": "public",
            "sources": json.dumps(sources, ensure_ascii=False, separators=(",", ":")),
            "first_reported_on": first,
            "notes": row["notes"],
        })

    names = [r["name"] for r in out]
    if len(set(names)) != len(names):
        raise SystemExit("names are not unique")
    written_sources = sum(len(json.loads(r["sources"])) for r in out)
    if written_sources != raw_source_count:
        raise SystemExit("source count mismatch: %d in, %d out" % (raw_source_count, written_sources))

    with open(output_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=OUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(out)
    print("wrote %d stations with %d sources to %s" % (len(out), written_sources, output_path))


def main(argv):
    source = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    output = argv[2] if len(argv) > 2 else DEFAULT_OUTPUT
    build(source, output)


if __name__ == "__main__":
    main(sys.argv)
