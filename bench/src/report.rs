//! The report: the console table and BENCHMARKS.md (machine, date, the
//! exact command, data size, the table, peak RSS, file sizes, a note per
//! workload where refdb is slower, what each row ran and answered, and
//! the query plans).
//!
//! Invariant: every number in the text comes from the [`Run`] and
//! [`Row`]s of this process run; the fixed text says only how they were
//! measured and why a row can be slower.

use crate::measure::{fmt, fmt_ratio, ratio};
use crate::{Row, Run};
use std::fmt::Write as _;

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The 1-minute load average now.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Peak resident set size of this process (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    proc_field("/proc/self/status", "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let ram = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / (1u64 << 20) as f64)
        });
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    format!("{cores} cores (nproc), {ram} RAM, CPU \"{cpu}\"")
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or("unknown".into(), |s| s.trim().to_string())
}

/// The results table (Markdown; also what the console shows).
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| workload | refdb median | refdb min | SQLite median | SQLite min | refdb/SQLite (median) | SQLite, earlier baseline | refdb target |\n\
         |---|---:|---:|---:|---:|---:|---|---|\n",
    );
    for r in rows {
        let w = &r.workload;
        let x = ratio(r.refdb.median(), r.sqlite.median());
        let mark = if x > 1.0 { " ⚠" } else { "" };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {}{mark} | {} | {} |",
            w.title,
            fmt(r.refdb.median()),
            fmt(r.refdb.min()),
            fmt(r.sqlite.median()),
            fmt(r.sqlite.min()),
            fmt_ratio(x),
            w.compass.unwrap_or("—"),
            w.target.unwrap_or("—"),
        );
    }
    t
}

/// BENCHMARKS.md.
pub fn render(run: &Run, rows: &[Row]) -> String {
    let mut s = String::new();
    let a = &run.args;
    let _ = writeln!(s, "# refdb vs SQLite, side by side\n");
    let _ = writeln!(
        s,
        "Written by `refdb-bench compare` (the `bench/` crate); every figure below \
         comes from the one run described here. Re-run the command to refresh it.\n"
    );
    let _ = writeln!(
        s,
        "- **Command** (from the workspace root): `{}`",
        a.command
    );
    let _ = writeln!(
        s,
        "- **Date**: {}; the whole run took {:.0} s (release build not counted)",
        now_utc(),
        run.took.as_secs_f64()
    );
    let _ = writeln!(s, "- **Machine**: {}", machine());
    let busy = if run.load_start.max(run.load_end) > 2.5 {
        " — **the machine was loaded (> 2.5) during this run: read the medians with care, \
         the minimums are closer to what the code can do**"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "- **Load average** (1 min): {:.2} at the start, {:.2} at the end{busy}",
        run.load_start, run.load_end
    );
    let _ = writeln!(
        s,
        "- **Data**: `refdb gen` (seed 42) with {} users and {} addresses \
         ({} of JSON Lines, cached in `target/{}`)",
        thousands(run.users as u64),
        thousands(run.addrs as u64),
        mib(run.data_bytes),
        run.data_dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
    );
    let _ = writeln!(
        s,
        "- **Versions**: refdb {} (redb storage), SQLite {} (rusqlite, bundled)",
        env!("CARGO_PKG_VERSION"),
        rusqlite::version()
    );
    let _ = writeln!(
        s,
        "- **Files after the load**: refdb {}, SQLite {} (tables, 2 btree indexes, FTS5 trigram)",
        mib(run.refdb_file),
        mib(run.sqlite_file)
    );
    let _ = writeln!(
        s,
        "- **Peak RSS of the process**: {} (both databases open at once, the data set's \
         text and, during each load, its parsed copy; refdb's page cache is 1 GiB at most, \
         SQLite's the default 2 MB)",
        mib(peak_rss())
    );
    let _ = writeln!(
        s,
        "- **Load breakdown (last load)**: refdb's in-memory index build (`Engine::new`) \
         {} of its total (for scale: reading and decoding every user once with \
         `ReadTxn::scan`, as that build does first, took {} after the load); SQLite's FTS5 \
         trigram build {} of its total\n",
        fmt(run.refdb_engine_build),
        fmt(run.refdb_scan),
        fmt(run.sqlite_fts_build)
    );
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "Median and min of {} timed runs after one untimed warm-up ({} fresh loads for the \
         bulk load, no warm-up; the cascade deletes a different address each run). Ratio \
         = refdb median / SQLite median: below 1 refdb is faster; ⚠ marks rows where it is \
         slower. \"SQLite, earlier baseline\" is the figure measured earlier on this \
         kind of machine with Python's sqlite3, for reference only: the ratio uses the SQLite run \
         measured here, in the same process. Rows starting with \"info\" are extra \
         variants, not in the compass table.\n",
        a.runs, a.load_runs
    );
    s.push_str(&table(rows));
    s.push('\n');
    let _ = writeln!(s, "## Where refdb is slower, and why\n");
    if !run.point_breakdown.is_empty() {
        let _ = writeln!(
            s,
            "refdb's point read, step by step (this run, {} reads of the same users, per \
             read, one pass each):\n\n| step | per read |\n|---|---:|",
            thousands(run.points as u64)
        );
        for (what, d) in &run.point_breakdown {
            let _ = writeln!(s, "| {what} | {:.2} µs |", d.as_secs_f64() * 1e6);
        }
        s.push('\n');
    }
    let slower: Vec<&Row> = rows
        .iter()
        .filter(|r| r.refdb.median() > r.sqlite.median())
        .collect();
    if slower.is_empty() {
        let _ = writeln!(s, "Nowhere in this run.\n");
    }
    for r in slower {
        let why = if r.workload.slower_because.is_empty() {
            "Not expected (refdb was faster in the development runs); look at the \
             plans below and re-run to see whether it was noise."
        } else {
            r.workload.slower_because
        };
        let _ = writeln!(
            s,
            "- **{}** ({} vs {}): {why}",
            r.workload.title,
            fmt(r.refdb.median()),
            fmt(r.sqlite.median())
        );
    }
    s.push('\n');
    let missed: Vec<(&Row, std::time::Duration)> = rows
        .iter()
        .filter_map(|r| Some((r, r.workload.target_duration()?)))
        .filter(|(r, t)| r.refdb.median() > *t)
        .collect();
    let _ = writeln!(s, "## Query targets missed, and why\n");
    if missed.is_empty() {
        let _ = writeln!(
            s,
            "None: every refdb median is within its target in this run.\n"
        );
    }
    for (r, _) in &missed {
        let why = if r.workload.target_missed_because.is_empty() {
            "Not expected (within target in the development runs); look at the plan below \
             and re-run to see whether it was noise."
        } else {
            r.workload.target_missed_because
        };
        let _ = writeln!(
            s,
            "- **{}** (median {}, min {}; target {}): {why}",
            r.workload.title,
            fmt(r.refdb.median()),
            fmt(r.refdb.min()),
            r.workload.target.unwrap_or("—")
        );
    }
    if !missed.is_empty() {
        s.push('\n');
    }
    let _ = writeln!(s, "## Method\n");
    s.push_str(METHOD);
    s.push('\n');
    let _ = writeln!(s, "## What each row runs, and what both answered\n");
    let _ = writeln!(
        s,
        "Users are compared by their line number in the data set (SQLite's rowid; refdb's \
         generated ids, increasing in load order, map to it). Every run of both systems \
         gave the answer shown (totals, page ids in order, checksums); a difference stops \
         the run with an error before this file is written.\n"
    );
    let _ = writeln!(
        s,
        "| workload | refdb | SQLite | answer (both) |\n|---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.workload.title,
            r.workload.refdb_form(run.points),
            r.workload.sqlite_form(run.points),
            r.answer
        );
    }
    s.push('\n');
    let _ = writeln!(s, "## Plans\n");
    let _ = writeln!(
        s,
        "refdb's `Engine::explain` and SQLite's `EXPLAIN QUERY PLAN` (page ‖ count), \
         taken after the timed runs.\n"
    );
    for r in rows {
        if let Some((refdb, sqlite)) = &r.plans {
            let _ = writeln!(
                s,
                "**{}**\n\n```text\nrefdb:\n{}\nSQLite: {}\n```\n",
                r.workload.title,
                refdb.trim_end(),
                sqlite
            );
        }
    }
    let _ = writeln!(s, "## Reproduce\n");
    let _ = writeln!(
        s,
        "```sh\ncargo run --release -p refdb-bench -- compare                 # 1M users, writes BENCHMARKS.md\n\
         cargo run --release -p refdb-bench -- compare --users 20000 --out /tmp/b.md   # a quick check\n```"
    );
    s
}

const METHOD: &str = "\
- Both systems run in this one process, one after the other, on the same temp \
directory (same disk); refdb first, then SQLite, for each workload.
- **Bulk load**: the JSON Lines are parsed before the clock starts (refdb: into JSON \
objects; SQLite: into typed rows), so both figures are database work only: refdb's one \
write transaction (documents, `addr` references and their reverse index, the `name`, \
`age`, `male` indexes, the n-grams' source; durable commit), the compaction that gives \
back the free pages the load left (as `refdb import` does), plus `Engine::new` (the \
in-memory derived indexes: live set, value indexes, n-grams of `name` and `email`); \
SQLite's `CREATE TABLE`s and the `age`/`addr_id` indexes before the inserts, one \
transaction of prepared INSERTs with `foreign_keys=ON`, the FTS5 trigram table on `name`, \
COMMIT.
- **SQLite settings** as in the earlier baseline: rollback journal (`journal_mode=DELETE`), \
`synchronous=FULL`, default 2 MB page cache, `foreign_keys=ON`. The bundled SQLite has \
SECURE_DELETE off (Debian's has it on). Statements are prepared once (`prepare_cached`); \
a page reads every column of every row.
- **Substring and regex**: SQLite uses the forms the earlier baseline measured: `GLOB \
'*do*'` (case-sensitive, like refdb's `$re`), FTS5 trigram `GLOB '*doquin*'`, and `GLOB \
'mar*quin*'` for `^mar.*quin`. The \"info\" rows use a `regexp()` function registered with \
rusqlite (Rust `regex`, compiled once per statement) instead.
- **refdb** answers every list workload with one `Engine::list` call, which always \
computes the exact total; SQLite runs the page and the `COUNT(*)` as two statements, \
timed together (for \"page at skip\" it runs only the page, refdb still counts). refdb's \
scans use both cores; SQLite uses one.
- **Point reads**: the same 100,000 users drawn at random (with replacement), by `_id` \
on refdb (each `Store::get` takes `Store::read()`, as a GET is served: the snapshot \
shared until the next commit) and by rowid on SQLite \
(autocommit: a read transaction per statement); the info row uses one snapshot / one \
transaction for all.
- **Cascade**: a durable commit on both; SQLite's FTS5 copy is not maintained on writes \
(no triggers, as in the baseline), refdb's n-grams are.
";
