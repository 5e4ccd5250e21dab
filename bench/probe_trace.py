#!/usr/bin/env python3
"""Where the slow requests of a probe spent their time, from a scheduler trace.

    perf sched record -a -o sched.data -- sleep 3      # while the probe runs
    perf sched timehist -i sched.data -w > timehist.txt
    python3 bench/probe_trace.py timehist.txt PROBE_PID [SLOW_MS]

PROBE_PID is the process id of the probe's wrk (one thread, one connection). A request starts
when that thread wakes one of the server's HTTP workers (`actix-rt...`: the request written on
loopback wakes the worker that owns the connection) and ends when the thread runs again with
the answer. For each request slower than SLOW_MS (default 1), the script finds the longest
scheduling delay (from wake-up to running) of a server thread woken during it, and the thread
that held that core until it ran (the last of those it waited behind). It counts the slow
requests by the kind of that thread (hashing, the service's other threads, PostgreSQL, the
kernel, other programs) and lists the five slowest. Used by bench/login.sh
(BENCH_SCHED_TRACE); docs/BENCHMARKS.md explains what it found.
"""

import re
import sys

LINE = re.compile(r"\s*([\d.]+)\s+\[(\d+)\]\s+(.+?\[[\d/]+\])\s+(.*)$")


def events(path):
    """(time s, cpu, task, 'wake', wakee) or (time s, cpu, task, 'out', (wait, delay, run) s)."""
    out = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            t, cpu, task, rest = float(m.group(1)), int(m.group(2)), m.group(3), m.group(4).strip()
            if rest.startswith("awakened:"):
                out.append((t, cpu, task, "wake", rest.split(":", 1)[1].strip()))
            else:
                fields = rest.split()
                try:
                    times = tuple(float(x) / 1e3 for x in fields[:3])
                except ValueError:
                    continue
                if len(times) == 3:
                    out.append((t, cpu, task, "out", times))
    return out


def is_server_thread(task):
    return task.startswith("actix-rt") or task.startswith("tokio-rt")


def requests(ev, probe):
    """(latency s, index of the start event, index of the end event) of each probe request."""
    found = []
    i = 0
    while i < len(ev):
        t, _, task, kind, what = ev[i]
        if task.endswith("/%s]" % probe) and kind == "wake" and what.startswith("actix-rt"):
            # The probe's next two switch-outs: the end of the run that wrote the request, then
            # the end of the run that read the answer (which began at out time - run time).
            outs = 0
            j = i + 1
            while j < len(ev):
                if ev[j][2] == task and ev[j][3] == "out":
                    outs += 1
                    if outs == 2:
                        run = ev[j][4][2]
                        found.append((ev[j][0] - run - t, i, j))
                        break
                j += 1
            i = j
        i += 1
    return found


def longest_delay(ev, start, end):
    """The server thread woken within [start, end] that waited longest to run, and who ran."""
    t0, t1 = ev[start][0], ev[end][0]
    best = None
    # The holder switched out when the waiting thread switched in, after the request began.
    last_out = {}  # cpu -> (task, run s) of the last switch-out seen on it
    for k in range(start, len(ev)):
        t, cpu, task, kind, what = ev[k]
        if t > t1 + 0.01:
            break
        if kind != "out":
            continue
        wait, delay, run = what
        began = t - run
        woken_in_request = t0 <= began - delay and began <= t1
        if is_server_thread(task) and woken_in_request and (best is None or delay > best[0]):
            held = last_out.get(cpu)
            best = (delay, task, held)
        last_out[cpu] = (task, run)
    return best


SERVICE = ("actix-rt", "tokio-rt", "audit-sequencer", "retention-sweep", "r2d2-worker")
KERNEL = ("kworker", "ksoftirqd", "rcu_", "migration", "kdamond", "swapper", "kthreadd")


def kind_of(holder):
    """Which kind of work a thread that held a core is."""
    name = holder.split("[", 1)[0]
    if name.startswith("tipline-hash"):
        return "hashing threads"
    if name.startswith(SERVICE):
        return "the service's other threads"
    if name == "postgres":
        return "PostgreSQL"
    if name.startswith(KERNEL):
        return "kernel threads"
    if name == "wrk":
        return "the benchmark's wrk"
    return "other programs"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    ev = events(sys.argv[1])
    probe = sys.argv[2]
    slow = float(sys.argv[3]) / 1e3 if len(sys.argv) == 4 else 1e-3
    found = requests(ev, probe)
    if not found:
        sys.exit("no request of wrk process %s in %s" % (probe, sys.argv[1]))
    lat = sorted(f[0] for f in found)

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1e3

    print("probe requests traced: %d; median %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms"
          % (len(lat), pct(0.5), pct(0.9), pct(0.99), lat[-1] * 1e3))
    slow_ones = sorted((f for f in found if f[0] >= slow), reverse=True)
    # Each slow request counted once, under what held the core of its longest wait; a wait
    # under 0.1 ms does not explain a request over SLOW_MS.
    waits_by_kind = {}
    unexplained = 0
    lines = []
    for latency, start, end in slow_ones:
        best = longest_delay(ev, start, end)
        if best is None or best[0] < 1e-4 or best[2] is None:
            unexplained += 1
            lines.append("%.3f ms: no server thread waited over 0.1 ms to run" % (latency * 1e3))
            continue
        delay, task, held = best
        waits_by_kind.setdefault(kind_of(held[0]), []).append(delay)
        lines.append(
            "%.3f ms: %s waited %.3f ms to run; the core was held by %s, which had run %.3f ms"
            % (latency * 1e3, task, delay * 1e3, held[0], held[1] * 1e3))
    print("requests over %.1f ms: %d; the longest wait of a server thread in each, "
          "by what held the core:" % (slow * 1e3, len(slow_ones)))
    for kind, waits in sorted(waits_by_kind.items(), key=lambda kv: -len(kv[1])):
        print("  %-28s %3d requests, waits %.2f to %.2f ms"
              % (kind, len(waits), min(waits) * 1e3, max(waits) * 1e3))
    if unexplained:
        print("  %-28s %3d requests" % ("no wait over 0.1 ms", unexplained))
    print("the slowest:")
    for line in lines[:5]:
        print("  " + line)


if __name__ == "__main__":
    main()
