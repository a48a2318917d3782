#!/usr/bin/env python3
"""Measures the change feed of a running `refdb serve` over HTTP: how fast
the JSON feed streams the log from `since=0` (records/s, with documents),
and how long a committed write takes to reach a server-sent-events
subscriber (median and p99 over WRITES writes, one at a time).

    python3 bench/feed.py http://127.0.0.1:8080 APP COLL [RECORDS] [WRITES]

COLL must accept `{}` as a document (every field optional).
"""
import json, socket, sys, threading, time, urllib.request

base, app, coll = sys.argv[1], sys.argv[2], sys.argv[3]
records = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
writes = int(sys.argv[5]) if len(sys.argv) > 5 else 200

# 1. The JSON feed from the start, 1000 records a request.
since, n, t0 = 0, 0, time.time()
while n < records:
    page = json.load(urllib.request.urlopen(
        f"{base}/{app}/_changes?since={since}&limit=1000&include_docs=1"))
    if not page["changes"]:
        break
    n += len(page["changes"])
    since = page["last_seq"]
took = time.time() - t0
print(f"JSON feed: {n} records with documents in {took:.2f} s: {n / took:,.0f} records/s")

# 2. Commit-to-event latency over server-sent events.
host, port = base.split("//")[1].split(":")
sock = socket.create_connection((host, int(port)))
sock.sendall(f"GET /{app}/coll/{coll}/_changes?since=now HTTP/1.1\r\nHost: x\r\n"
             "Accept: text/event-stream\r\n\r\n".encode())
f = sock.makefile("rb")
while f.readline() not in (b"\r\n", b""):
    pass
arrived = {}
def reader():
    for line in f:
        if line.startswith(b"data: "):
            arrived[json.loads(line[6:])["_id"]] = time.perf_counter()
threading.Thread(target=reader, daemon=True).start()
lat = []
for i in range(writes):
    req = urllib.request.Request(f"{base}/{app}/coll/{coll}", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    doc = json.load(urllib.request.urlopen(req))
    while doc["_id"] not in arrived:
        time.sleep(0.0002)
    lat.append((arrived[doc["_id"]] - t) * 1000)
lat.sort()
print(f"commit to event: median {lat[len(lat) // 2]:.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms "
      f"over {writes} writes (each timed from sending the POST)")
