#!/usr/bin/env python3
"""Times a `refdb serve` start on an existing file: until it listens, until
it answers its first list query, and its RSS after a few query workloads
(and again after WAIT seconds), until it is ready (the full-text index
built in the background has caught up) and the CPU time that took. Then
stops it with SIGTERM (which saves the derived
indexes beside the file) and times the stop.

    python3 bench/restart.py target/release/refdb refdb.db [WAIT] [APP]

The file must hold users as the side-by-side schema (bench/bench-schema.json,
app `bench`, the default) or the demo schema (app `demo`) declares them, e.g.
after `refdb import` of `refdb gen`'s data set; run it twice: the first
start after an import builds the derived indexes, the next ones load them.
"""
import os, subprocess, sys, time, urllib.request

binary, db = sys.argv[1], sys.argv[2]
wait = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
app = sys.argv[4] if len(sys.argv) > 4 else "bench"


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        line = next(l for l in f if l.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


t0 = time.time()
p = subprocess.Popen([binary, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
addr = p.stdout.readline().strip().split("http://")[1]
listening = time.time() - t0
base = "http://%s/%s/coll/users?" % (addr, app)
while True:
    try:
        urllib.request.urlopen(base + "name.$re=doquin&_page=5", timeout=60).read()
        break
    except OSError:
        time.sleep(0.005)
first = time.time() - t0
for q in ["age.$gte=30&age.$lt=40&male=true&_skip=1000", "email.$re=^mar.*quin",
          "name.$re=do", "_skip=999990", "age=42"]:
    urllib.request.urlopen(base + q, timeout=60).read()
print("listening after %.3f s; first query answered after %.3f s; RSS after the queries %d MiB"
      % (listening, first, rss_mib(p.pid)))
if wait:
    time.sleep(wait)
    print("RSS after %.0f s more: %d MiB" % (wait, rss_mib(p.pid)))
# Ready once the derived indexes have caught up, the full-text index
# (built in the background after a start) included.
while True:
    try:
        urllib.request.urlopen("http://%s/_health/ready" % addr, timeout=60).read()
        break
    except OSError:
        time.sleep(0.05)
print("ready (full-text index caught up) after %.1f s; CPU time so far %.1f s"
      % (time.time() - t0, cpu_s(p.pid)))
t1 = time.time()
p.terminate()
p.wait()
print("stopped in %.2f s" % (time.time() - t1))
