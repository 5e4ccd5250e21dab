#!/usr/bin/env python3
"""Where the CPU goes while the server is under load: bench/login.sh runs this during the login
flood alone, and during its PostgreSQL baseline with examples/argon2_rate as SERVER_PID.

    python3 bench/cpu_share.py SERVER_PID DELAY_SECS WINDOW_SECS

After DELAY_SECS, reads the CPU time (user + system, from /proc) of the server's threads, of
every PostgreSQL process and of wrk, and the machine's totals from /proc/stat; reads them again
WINDOW_SECS later, and prints the share of all cores each took in between, one `key=value` a
line (percent of all cores, so they add up to at most 100):

    hashing     the server's hashing threads (tipline-hash-N), or argon2_rate's threads
    service     the server's other threads (HTTP workers, database work, the audit sequencer)
    postgres    PostgreSQL's processes (0 on SQLite, whose work is the service's)
    wrk         the load generator
    pgbench     the PostgreSQL baseline's client
    rest        everything else that ran: the kernel's own threads and interrupts, other programs
    idle        no one

A thread or process that ends before the window does is counted in `rest`.
"""

import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def read_stat(path):
    """The command name and user + system ticks of /proc/.../stat."""
    with open(path) as f:
        text = f.read()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[11]) + int(fields[12])


def snapshot(server):
    """CPU ticks by thread or process (keyed by id, with its group), and the machine's idle and
    busy ticks."""
    ticks = {}
    for task in os.listdir("/proc/%d/task" % server):
        try:
            name, t = read_stat("/proc/%d/task/%s/stat" % (server, task))
        except OSError:
            continue
        ticks["task", task] = ("hashing" if name.startswith(("tipline-hash", "argon2_rate")) else "service", t)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == server:
            continue
        try:
            name, t = read_stat("/proc/%s/stat" % pid)
        except OSError:
            continue
        if name.startswith("postgres"):
            ticks["process", pid] = ("postgres", t)
        elif name in ("wrk", "pgbench"):
            ticks["process", pid] = (name, t)
    with open("/proc/stat") as f:
        cpu = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: busy is all but idle, iowait and steal.
    ticks["idle"] = ("idle", cpu[3] + cpu[4])
    ticks["busy"] = ("busy", sum(cpu[:8]) - cpu[3] - cpu[4] - cpu[7])
    return ticks


def main():
    server, delay, window = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    time.sleep(delay)
    before, start = snapshot(server), time.monotonic()
    time.sleep(window)
    after, elapsed = snapshot(server), time.monotonic() - start
    # /proc/stat counts ticks of all cores; the processes' ticks are per thread.
    capacity = elapsed * TICKS * os.cpu_count()
    # Each thread or process counts what it used in the window: all its time if it began inside.
    share = dict.fromkeys(("hashing", "service", "postgres", "wrk", "pgbench", "idle", "busy"), 0.0)
    for key, (group, t) in after.items():
        share[group] += 100.0 * (t - before.get(key, (group, 0))[1]) / capacity
    counted = sum(share[k] for k in ("hashing", "service", "postgres", "wrk", "pgbench"))
    share["rest"] = max(0.0, share["busy"] - counted)
    for key in ("hashing", "service", "postgres", "wrk", "pgbench", "rest", "idle"):
        print("%s=%.1f" % (key, share[key]))


if __name__ == "__main__":
    main()
