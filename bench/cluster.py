#!/usr/bin/env python3
"""Cluster mode against the single file, side by side, on this machine:
write latency (1 client) and throughput (32 clients) of single-document
creates, read throughput on 1, 2 and 3 nodes, all with wrk; three
nats-server processes as a JetStream cluster on loopback.

    cargo build --release && python3 bench/cluster.py [SECONDS]

Needs `nats-server` and `wrk` (Debian packages). Every process shares the
machine's cores: reads on 3 nodes cannot scale past what 2 cores give.
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
refdb = os.path.join(os.path.dirname(__file__), "..", "target", "release", "refdb")
tmp = tempfile.mkdtemp(prefix="refdb-cluster-bench-")
procs = []

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start_nats():
    ports = [(free_port(), free_port()) for _ in range(3)]
    routes = ",".join(f"nats://127.0.0.1:{c}" for _, c in ports)
    for i, (p, c) in enumerate(ports):
        procs.append(subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(p), "-js", "-sd", f"{tmp}/js{i}",
             "-n", f"s{i}", "--cluster_name", "bench", "--cluster", f"nats://127.0.0.1:{c}",
             "--routes", routes], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(4)
    return ",".join(f"nats://127.0.0.1:{p}" for p, _ in ports)

def serve(name, *extra):
    p = subprocess.Popen([refdb, "serve", "--db", f"{tmp}/{name}.db", "--listen", "127.0.0.1:0", *extra],
                         stdout=subprocess.PIPE, stderr=open(f"{tmp}/{name}.log", "w"), text=True)
    procs.append(p)
    line = p.stdout.readline()
    return re.search(r"http://(\S+)", line).group(1)

LUA_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Bench","age":42,"tags":["a"]}'
"""

def wrk(url, threads, conns, script=None, path="/demo/coll/users"):
    args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency"]
    if script:
        f = f"{tmp}/s.lua"; open(f, "w").write(script); args += ["-s", f]
    out = subprocess.run(args + [f"http://{url}{path}"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat.get("50"), lat.get("99"), int(errors.group(1)) if errors else 0

def writes(label, url):
    r1 = wrk(url, 1, 1, LUA_POST)
    r32 = wrk(url, 2, 32, LUA_POST)
    print(f"| {label} | {r1[1]} | {r1[2]} | {r1[0]:.0f} | {r32[0]:.0f} | {r32[1]} | {r32[2]} | {r1[3] + r32[3]} |")

def reads(urls):
    # One user id to read on every node.
    doc = json.load(urllib.request.urlopen(f"http://{urls[0]}/demo/coll/users?_page=1"))
    path = "/demo/coll/users/" + doc["result"][0]["_id"]
    # wrk on every node at once, each with 2 threads and 16 connections.
    outs = [subprocess.Popen(["wrk", "-t1", "-c16", f"-d{secs}s", f"http://{u}{path}"],
                             stdout=subprocess.PIPE, text=True) for u in urls]
    total = 0.0
    for o in outs:
        total += float(re.search(r"Requests/sec:\s+([\d.]+)", o.communicate()[0]).group(1))
    return total

try:
    print(f"{secs} s per run, release build, 2 cores shared by everything\n")
    print("| server | 1 client p50 | p99 | 1 client writes/s | 32 clients writes/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|---|---|---|")
    single = serve("single")
    writes("single file", single)
    urls = start_nats()
    nodes = [serve(f"n{i}", "--cluster", urls, "--node", f"n{i}") for i in range(3)]
    writes("cluster node (3 NATS servers, 3 nodes)", nodes[0])
    print()
    print("| reads (GET by id, 16 connections per node) | requests/s |")
    print("|---|---|")
    print(f"| single file | {reads([single]):.0f} |")
    for n in (1, 2, 3):
        print(f"| {n} cluster node(s) | {reads(nodes[:n]):.0f} |")
finally:
    for p in procs:
        p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
