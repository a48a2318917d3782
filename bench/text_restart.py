#!/usr/bin/env python3
"""Times a `refdb serve` start on an existing demo file until `$text` is
fully served: the first `$text` answer, then the moment `/_health/ready`
reports no full-text lag (every document in tantivy), with the server's
RSS and CPU time at that moment and 10 s later. Then stops it with SIGTERM.

Usage: python3 bench/text_restart.py BINARY FILE [PORT]

Run it twice on the same file to compare the first start (no saved
full-text index: built in the background) with a restart (the saved index
taken up). The server's log is left in FILE.serve.log.
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request


def main():
    binary, db = sys.argv[1], sys.argv[2]
    port = sys.argv[3] if len(sys.argv) > 3 else "8097"
    base = f"http://127.0.0.1:{port}"
    log = open(db + ".serve.log", "w")
    t0 = time.time()
    server = subprocess.Popen(
        [binary, "serve", "--db", db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        first = None
        while True:
            if server.poll() is not None:
                sys.exit(f"the server exited ({server.returncode}); see {db}.serve.log")
            try:
                urllib.request.urlopen(
                    f"{base}/demo/coll/users?name.$text=doquin&_page=1", timeout=5
                ).read()
                if first is None:
                    first = time.time() - t0
                ready = json.loads(
                    urllib.request.urlopen(f"{base}/_health/ready", timeout=5).read()
                )
                if ready.get("text_lag") == 0:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        caught_up = time.time() - t0
        rss, cpu = usage(server.pid)
        print(
            f"first $text answer {first:.2f} s; full-text caught up {caught_up:.2f} s; "
            f"RSS {rss} MiB; CPU {cpu:.1f} s"
        )
        time.sleep(10)
        rss, cpu = usage(server.pid)
        print(f"10 s later: RSS {rss} MiB; CPU {cpu:.1f} s")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()


def usage(pid):
    """RSS in MiB and CPU seconds (user + system) of a process."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(line for line in f if line.startswith("VmRSS")).split()[1]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return int(rss) // 1024, cpu


if __name__ == "__main__":
    main()
