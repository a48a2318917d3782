#!/usr/bin/env python3
"""What a durable commit costs on this disk as a function of the pages it
wrote: overwrites N 4 KiB pages of a 200 MiB file, scattered or in one
run, then times the `fdatasync` (median of 7 per N).

    python3 bench/fsync_pages.py [DIR]

A commit of refdb (redb, copy-on-write) writes each dirty page where the
allocator found a free one, anywhere in the file; SQLite's rollback
journal is written in one run. This shows how much that difference costs
by itself, without either database.
"""
import os, random, sys, tempfile, time

directory = sys.argv[1] if len(sys.argv) > 1 else "."
fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-pages-")
try:
    for _ in range(200):
        os.write(fd, os.urandom(1 << 20))
    os.fsync(fd)
    pages = (200 << 20) // 4096
    page = os.urandom(4096)

    def timed(spots):
        for p in spots:
            os.pwrite(fd, page, p * 4096)
        t = time.perf_counter()
        os.fdatasync(fd)
        return time.perf_counter() - t

    def median(xs):
        return sorted(xs)[len(xs) // 2] * 1e3

    for n in [1, 10, 30, 60, 100, 200]:
        scattered = median([timed(random.sample(range(pages), n)) for _ in range(7)])
        starts = [random.randrange(pages - n) for _ in range(7)]
        in_a_run = median([timed(range(s, s + n)) for s in starts])
        print(f"{n:4} pages: fdatasync {scattered:6.2f} ms scattered, {in_a_run:6.2f} ms in one run")
finally:
    os.close(fd)
    os.remove(path)
