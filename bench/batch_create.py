#!/usr/bin/env python3
"""Times `POST /bench/_batch` with 1000 creates per request against a running
`refdb serve` on a file with the side-by-side schema (bench/bench-schema.json),
e.g. the imported `refdb gen` data set; prints the median per create.

    python3 bench/batch_create.py http://127.0.0.1:8222 [ROUNDS]

Run it once the server's background full-text build is done (about 20 s
after a start at 1M users): before that, the build shares the cores.
"""
import json, sys, time, urllib.request

base = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
first = json.load(urllib.request.urlopen(base + "/bench/coll/addrs?_page=1"))
addr = first["result"][0]["_id"]
times = []
for r in range(rounds):
    ops = [{"op": "create", "coll": "users", "doc": {
        "name": f"N{r}x{i}", "surname": "Batch", "email": f"b{r}.{i}@example.org",
        "age": 30 + i % 50, "male": i % 2 == 0, "score": 1.5, "tags": ["trial"],
        "created": "2020-01-01T00:00:00Z", "addr": addr}} for i in range(1000)]
    req = urllib.request.Request(base + "/bench/_batch", data=json.dumps({"ops": ops}).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as resp:
        resp.read()
    times.append(time.perf_counter() - t)
times.sort()
median = times[len(times) // 2]
print(f"1000 creates per _batch, {rounds} requests: median {median * 1e3:.1f} ms "
      f"= {median * 1e3:.1f} us per create (min {times[0] * 1e3:.1f} ms)")
