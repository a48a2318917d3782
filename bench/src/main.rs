//! `refdb-bench compare`: loads the shared data set into refdb and into
//! SQLite (rusqlite, bundled) in one process run, runs each workload of
//! the compass table on both, checks that both gave the same
//! answers, and prints and writes the side-by-side report (BENCHMARKS.md).
//!
//! Usage (from the workspace root):
//! `cargo run --release -p refdb-bench -- compare [--users N] [--out BENCHMARKS.md]
//!  [--runs R] [--load-runs L]`
//!
//! Invariants: every figure written comes from this run; a result that
//! differs between the two systems stops the run with an error (exit 1)
//! before anything is written.

/// The allocator of the `refdb` binary, so that figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod dataset;
mod measure;
mod refdb_side;
mod report;
mod sqlite_side;
mod workloads;

use dataset::{Dataset, Rng};
use measure::{Outcome, Plan, Timings};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workloads::{Kind, Workload};

/// Command-line options of `compare`.
pub struct Args {
    pub users: usize,
    pub out: PathBuf,
    pub runs: usize,
    pub load_runs: usize,
    /// The command line, as the report prints it.
    pub command: String,
}

const USAGE: &str = "usage: refdb-bench compare [--users N] [--out FILE] [--runs R] [--load-runs L]
  --users N      users in the data set (N/10 addresses); default 1000000
  --out FILE     the report to write; default BENCHMARKS.md at the workspace root
  --runs R       timed runs per workload, after one warm-up; default 5
  --load-runs L  timed bulk loads per system; default 3";

fn parse_args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = format!("cargo run --release -p refdb-bench -- {}", argv.join(" "));
    let mut it = argv.into_iter();
    match it.next().as_deref() {
        Some("compare") => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        _ => return Err(USAGE.into()),
    }
    let mut a = Args {
        users: 1_000_000,
        out: dataset::workspace_root().join("BENCHMARKS.md"),
        runs: 5,
        load_runs: 3,
        command,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{flag}: not a positive number: {v}"))
        };
        match flag.as_str() {
            "--users" => a.users = number(value()?)?,
            "--out" => a.out = PathBuf::from(value()?),
            "--runs" => a.runs = number(value()?)?,
            "--load-runs" => a.load_runs = number(value()?)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if a.users < 100 {
        return Err("--users: at least 100".into());
    }
    Ok(a)
}

/// One row of the report.
pub struct Row {
    pub workload: Workload,
    pub refdb: Timings,
    pub sqlite: Timings,
    /// What both answered (the first checked run), in words.
    pub answer: String,
    /// refdb's plan and SQLite's `EXPLAIN QUERY PLAN`, for list rows.
    pub plans: Option<(String, String)>,
}

/// Everything the report needs besides the rows.
pub struct Run {
    pub args: Args,
    pub users: usize,
    pub addrs: usize,
    pub data_bytes: u64,
    pub data_dir: PathBuf,
    pub points: usize,
    pub refdb_file: u64,
    pub sqlite_file: u64,
    pub refdb_engine_build: Duration,
    /// One `ReadTxn::scan` of every user (read + decode), after the load.
    pub refdb_scan: Duration,
    pub sqlite_fts_build: Duration,
    pub load_start: f64,
    pub load_end: f64,
    pub took: Duration,
    /// refdb's point read, step by step (per read).
    pub point_breakdown: Vec<(&'static str, Duration)>,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = compare(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn describe(o: &Outcome) -> String {
    let mut parts = Vec::new();
    if !o.totals.is_empty() {
        let t: Vec<String> = o.totals.iter().map(|&t| report::thousands(t)).collect();
        parts.push(format!("total {}", t.join(" / ")));
    }
    if !o.ids.is_empty() {
        let (first, last) = (o.ids[0], o.ids[o.ids.len() - 1]);
        parts.push(format!("page of {} (#{first} … #{last})", o.ids.len()));
    }
    if o.check != 0 {
        parts.push(format!("check {}", report::thousands(o.check)));
    }
    parts.join(", ")
}

fn compare(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let load_start = report::loadavg();
    let dir = dataset::ensure(args.users)?;
    let ds = Dataset::read(&dir)?;
    let users = ds.user_count();
    let addrs = ds.addrs.lines().count();
    eprintln!(
        "data set {}: {users} users, {addrs} addresses",
        dir.display()
    );
    let tmp = tempfile::Builder::new()
        .prefix("refdb-compare-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let (rpath, spath) = (tmp.path().join("refdb.db"), tmp.path().join("sqlite.db"));

    // Bulk loads: a fresh file each run; the last one is kept.
    let mut rows = Vec::new();
    let all = workloads::all(users, 100_000);
    let mut all = all.into_iter();
    let load_w = all.next().expect("the load comes first");
    let (mut rt, mut st) = (Timings::default(), Timings::default());
    let (mut rdb, mut sdb) = (None, None);
    let (mut engine_build, mut fts_build) = (Duration::ZERO, Duration::ZERO);
    for k in 0..args.load_runs {
        drop(rdb.take());
        let r = refdb_side::load(&ds, &rpath)?;
        eprintln!("load {k}: refdb {:?} (engine {:?})", r.total, r.engine);
        rt.runs.push(r.total);
        engine_build = r.engine;
        let counts = r.db.count_all()?;
        rdb = Some(r.db);
        drop(sdb.take());
        let s = sqlite_side::load(&ds, &spath)?;
        eprintln!("load {k}: SQLite {:?} (FTS5 {:?})", s.total, s.fts);
        st.runs.push(s.total);
        fts_build = s.fts;
        let scounts = s.db.count_all()?;
        sdb = Some(s.db);
        if counts != scounts || counts != (users as u64, addrs as u64) {
            return Err(format!(
                "load: refdb holds {counts:?}, SQLite {scounts:?} (users, addrs); \
                 the data set has ({users}, {addrs})"
            ));
        }
    }
    let (rdb, mut sdb) = (rdb.expect("loaded"), sdb.expect("loaded"));
    rows.push(Row {
        workload: load_w,
        refdb: rt,
        sqlite: st,
        answer: format!(
            "{} users, {} addresses",
            report::thousands(users as u64),
            report::thousands(addrs as u64)
        ),
        plans: None,
    });
    let (refdb_file, sqlite_file) = (rdb.file_size(), sdb.file_size());
    let refdb_scan = rdb.scan_users()?;

    // The same random users for both (with replacement).
    let points = 100_000;
    let mut rng = Rng::new(7);
    let point_ids: Vec<u64> = (0..points).map(|_| rng.below(users as u64) + 1).collect();
    // Addresses to delete: a different one per run, the same on both.
    let mut per_addr = vec![0u64; addrs];
    for u in ds.user_rows()? {
        if let Some(a) = u.addr_index() {
            per_addr[a as usize] += 1;
        }
    }
    let mut cascade_addrs: Vec<usize> = Vec::new();
    while cascade_addrs.len() < (args.runs + 1).min(addrs) {
        let a = rng.below(addrs as u64) as usize;
        if !cascade_addrs.contains(&a) {
            cascade_addrs.push(a);
        }
    }
    drop(ds);

    let fast = Plan {
        warmup: true,
        runs: args.runs,
    };
    let mut breakdown = Vec::new();
    for w in all {
        eprintln!("running: {}", w.title);
        let (rr, sr, plans) = match &w.kind {
            Kind::Load => unreachable!("the load runs first"),
            Kind::List {
                qs,
                page_sql,
                count_sql,
            } => {
                let q = refdb_query::parse(qs).map_err(|e| format!("{qs}: {e}"))?;
                let with_total = count_sql.is_some();
                let rr = measure::time(fast, |_| rdb.list(&q, with_total))?;
                let sr = measure::time(fast, |_| {
                    sdb.page_and_count(page_sql.as_deref(), count_sql.as_deref())
                })?;
                let explain = rdb
                    .engine
                    .explain("users", &q)
                    .map_err(|e| format!("explain {qs}: {e}"))?;
                let sql_plans = [page_sql, count_sql]
                    .into_iter()
                    .flatten()
                    .map(|s| sdb.explain(s))
                    .collect::<Result<Vec<_>, _>>()?;
                (rr, sr, Some((explain, sql_plans.join(" \u{2016} "))))
            }
            Kind::PointReads { one_txn } => {
                let rr = measure::time(fast, |_| rdb.point_reads(&point_ids, *one_txn))?;
                let sr = measure::time(fast, |_| sdb.point_reads(&point_ids, *one_txn))?;
                (rr, sr, None)
            }
            Kind::Cascade => {
                // Before the cascade deletes some of the point-read users.
                breakdown = rdb.point_read_breakdown(&point_ids)?;
                let cascade = Plan {
                    warmup: true,
                    runs: cascade_addrs.len() - 1,
                };
                let rr = measure::time(cascade, |k| {
                    let (o, t) = rdb.cascade(cascade_addrs[k])?;
                    Ok::<_, String>((with_expected(o, per_addr[cascade_addrs[k]])?, t))
                })?;
                let sr = measure::time(cascade, |k| {
                    let (o, t) = sdb.cascade(cascade_addrs[k])?;
                    Ok::<_, String>((with_expected(o, per_addr[cascade_addrs[k]])?, t))
                })?;
                (rr, sr, None)
            }
        };
        let ((rt, ro), (st, so)) = (rr, sr);
        measure::compare(&w.title, &ro, &so)?;
        let answer = if matches!(w.kind, Kind::Cascade) {
            let n: Vec<String> = ro.iter().map(|o| o.check.to_string()).collect();
            format!("users deleted per run: {}", n.join(", "))
        } else {
            describe(&ro[0])
        };
        eprintln!(
            "  refdb {} / SQLite {} ({answer})",
            measure::fmt(rt.median()),
            measure::fmt(st.median())
        );
        rows.push(Row {
            workload: w,
            refdb: rt,
            sqlite: st,
            answer,
            plans,
        });
    }
    let run = Run {
        args,
        users,
        addrs,
        data_bytes: std::fs::metadata(dir.join("users.jsonl"))
            .map(|m| m.len())
            .unwrap_or(0)
            + std::fs::metadata(dir.join("addrs.jsonl"))
                .map(|m| m.len())
                .unwrap_or(0),
        data_dir: dir,
        points,
        refdb_file,
        sqlite_file,
        refdb_engine_build: engine_build,
        refdb_scan,
        sqlite_fts_build: fts_build,
        load_start,
        load_end: report::loadavg(),
        point_breakdown: breakdown,
        took: started.elapsed(),
    };
    let text = report::render(&run, &rows);
    println!("{}", report::table(&rows));
    std::fs::write(&run.args.out, &text)
        .map_err(|e| format!("writing {}: {e}", run.args.out.display()))?;
    eprintln!(
        "wrote {} ({:.0} s in all)",
        run.args.out.display(),
        run.took.as_secs_f64()
    );
    drop((rdb, sdb));
    Ok(())
}

/// The cascade must delete exactly the address's users in the data set.
fn with_expected(o: Outcome, expected: u64) -> Result<Outcome, String> {
    if o.check != expected {
        return Err(format!(
            "cascade deleted {} users; the data set has {expected} at that address",
            o.check
        ));
    }
    Ok(o)
}
