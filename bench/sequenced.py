#!/usr/bin/env python3
"""Time from commit to sequenced in the audit trail (SPEC §15), measured from outside the
service, for bench/intake.sh.

  sequenced.py poll DATABASE_URL OUT_FILE [INTERVAL_S]
      Until SIGTERM: every INTERVAL_S (default 0.05) asks the database for the newest seq of
      audit_log and appends "<unix time of the answer> <max seq>" to OUT_FILE. On PostgreSQL it
      keeps one psql session open; on SQLite it reads the file (WAL: a reader never blocks a
      writer). One indexed max() 20 times a second is all it adds to the load.

  sequenced.py report DATABASE_URL POLL_FILE FROM_UNIX TO_UNIX
      For every audit entry whose `at` lies in [FROM_UNIX, TO_UNIX] (the load): the first poll
      that saw its seq. Its delay is that poll's time minus `at`. The service sets `at` inside
      the writer's transaction just before the event is inserted, so `at` comes before the
      commit, and the poll after the moment of sequencing: the delay is an upper bound of the
      time from commit to sequenced, by at most one poll interval plus the rest of the
      writer's transaction. An entry no poll saw counts as infinitely late. Prints
      "sequenced_entries N", "sequenced_unseen N", "sequenced_p50_ms X", "sequenced_p99_ms X",
      "sequenced_max_ms X" and "sequenced_polls N". Fails if the polls' seq ever went down.
"""

import bisect
import datetime
import math
import signal
import sqlite3
import subprocess
import sys
import time


def pg_session(url):
    return subprocess.Popen(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def poll(url, out_file, interval):
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if url.startswith(("postgres://", "postgresql://")):
        session = pg_session(url)

        def newest():
            session.stdin.write("SELECT coalesce(max(seq), 0) FROM audit_log;\n")
            session.stdin.flush()
            line = session.stdout.readline()
            if not line:
                raise SystemExit("sequenced.py: psql ended")
            return int(line)

    elif url.startswith("sqlite://"):
        db = sqlite3.connect(url[len("sqlite://"):], isolation_level=None, timeout=30)

        def newest():
            return db.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchall()[0][0]

    else:
        raise SystemExit("sequenced.py: not a database URL this script knows")
    with open(out_file, "w", encoding="ascii") as out:
        while not stopping:
            seq = newest()
            out.write(f"{time.time():.6f} {seq}\n")
            out.flush()
            time.sleep(interval)


def entries(url, start, end):
    """(seq, at as unix time) of the entries whose `at` lies in [start, end], by seq."""
    if url.startswith(("postgres://", "postgresql://")):
        sql = (
            "COPY (SELECT seq, extract(epoch FROM at) FROM audit_log "
            f"WHERE at BETWEEN (to_timestamp({start}) AT TIME ZONE 'UTC') "
            f"AND (to_timestamp({end}) AT TIME ZONE 'UTC') ORDER BY seq) TO STDOUT"
        )
        text = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
            check=True, capture_output=True, text=True,
        ).stdout
        rows = [line.split("\t") for line in text.splitlines() if line]
        return [(int(seq), float(at)) for seq, at in rows]
    db = sqlite3.connect(url[len("sqlite://"):])
    out = []
    for seq, at in db.execute("SELECT seq, at FROM audit_log ORDER BY seq"):
        moment = datetime.datetime.fromisoformat(at).replace(tzinfo=datetime.timezone.utc).timestamp()
        if start <= moment <= end:
            out.append((seq, moment))
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return math.nan
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def report(url, poll_file, start, end):
    polls = []
    with open(poll_file, encoding="ascii") as f:
        for line in f:
            moment, seq = line.split()
            polls.append((float(moment), int(seq)))
    for (_, a), (_, b) in zip(polls, polls[1:]):
        if b < a:
            raise SystemExit(f"sequenced.py: the newest seq went down from {a} to {b}")
    seen = [seq for _, seq in polls]
    delays = []
    unseen = 0
    for seq, at in entries(url, start, end):
        first = bisect.bisect_left(seen, seq)
        if first == len(seen):
            unseen += 1
            delays.append(math.inf)
        else:
            delays.append(polls[first][0] - at)
    delays.sort()
    ms = lambda v: "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v * 1000:.1f}")
    print(f"sequenced_entries {len(delays)}")
    print(f"sequenced_unseen {unseen}")
    print(f"sequenced_p50_ms {ms(percentile(delays, 50))}")
    print(f"sequenced_p99_ms {ms(percentile(delays, 99))}")
    print(f"sequenced_max_ms {ms(delays[-1] if delays else math.nan)}")
    print(f"sequenced_polls {len(polls)}")


def main(args):
    if len(args) in (3, 4) and args[0] == "poll":
        poll(args[1], args[2], float(args[3]) if len(args) == 4 else 0.05)
    elif len(args) == 5 and args[0] == "report":
        report(args[1], args[2], float(args[3]), float(args[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
