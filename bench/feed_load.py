#!/usr/bin/env python3
"""Write throughput of a running `refdb serve` with and without change-feed
subscribers: `wrk` posts `{}` to COLL for SECONDS with CONNS connections,
first alone, then while SUBS server-sent-event streams follow the app's
feed (one reader thread drains them all and counts the events). Prints
requests/s of both runs, their ratio, the events each subscriber got, and
the server's RSS (from /proc, when PID is given) before and after.

    python3 bench/feed_load.py http://127.0.0.1:8080 APP COLL [SUBS] [SECONDS] [CONNS] [PID]

COLL must accept `{}` as a document (every field optional). Needs `wrk`.
"""
import os, re, selectors, socket, subprocess, sys, tempfile, threading, time

base, app, coll = sys.argv[1], sys.argv[2], sys.argv[3]
subs = int(sys.argv[4]) if len(sys.argv) > 4 else 200
secs = int(sys.argv[5]) if len(sys.argv) > 5 else 10
conns = int(sys.argv[6]) if len(sys.argv) > 6 else 32
pid = sys.argv[7] if len(sys.argv) > 7 else None
host, port = base.split("//")[1].split(":")

def rss():
    if not pid:
        return "?"
    with open(f"/proc/{pid}/status") as f:
        kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    return f"{kb / 1024:.0f} MiB"

lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
lua.write('wrk.method = "POST"\nwrk.body = "{}"\n'
          'wrk.headers["Content-Type"] = "application/json"\n')
lua.close()

def load():
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "-s", lua.name,
                          f"{base}/{app}/coll/{coll}"], capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"wrk saw failed requests:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

print(f"RSS at start: {rss()}")
alone = load()
print(f"writes alone:               {alone:,.0f} requests/s")

sel = selectors.DefaultSelector()
events = [0] * subs
closed = [0]
for i in range(subs):
    s = socket.create_connection((host, int(port)))
    s.sendall(f"GET /{app}/_changes?since=now HTTP/1.1\r\nHost: x\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
stop = False
def drain():
    while not stop:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:  # the server ended this stream
                sel.unregister(key.fileobj)
                closed[0] += 1
                continue
            events[key.data] += data.count(b"event: change")
reader = threading.Thread(target=drain, daemon=True)
reader.start()
time.sleep(1)
with_subs = load()
time.sleep(2)  # let the streams catch up with the last commits
stop = True
reader.join()
print(f"writes with {subs} streams:   {with_subs:,.0f} requests/s "
      f"({with_subs / alone:.0%} of alone)")
print(f"events per stream: min {min(events):,}, max {max(events):,}; "
      f"streams ended by the server: {closed[0]}; RSS now {rss()}")
os.unlink(lua.name)
