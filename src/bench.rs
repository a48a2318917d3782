//! `refdb gen` and `refdb bench`: benchmarking large paginated searches
//! from the binary alone. `gen` writes the synthetic data set
//! ([`refdb_gen`]); `bench` runs list queries on any file, in process and
//! through the same engine and JSON output as the server, and prints each
//! query's plan, total and latency percentiles.
//!
//! The file is opened read-only, so `bench` runs beside a live server. The
//! derived indexes are loaded from the server's saved checkpoint when it
//! fits the file (else built, which the report says), and the full-text
//! index is built, and its background merges waited for, before the first
//! timing: what is timed is the steady state a running server answers
//! from.

use refdb_query::{Engine, EngineOptions};
use refdb_storage::Store;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `refdb gen`: the data set into `out`, and how to load it.
pub fn generate(out: &Path, spec: &refdb_gen::Spec) -> Result<ExitCode> {
    let started = Instant::now();
    refdb_gen::write(out, spec).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "wrote {} addresses and {} users to {} in {:.1} s; load them with\n  \
         refdb import addrs {}\n  refdb import users {}",
        spec.addrs,
        spec.users,
        out.display(),
        started.elapsed().as_secs_f64(),
        out.join("addrs.jsonl").display(),
        out.join("users.jsonl").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One query of `refdb bench`: `COLL?QUERY` (or `COLL` alone).
struct Target<'a> {
    coll: &'a str,
    query: &'a str,
}

fn target(arg: &str) -> Target<'_> {
    match arg.split_once('?') {
        Some((coll, query)) => Target { coll, query },
        None => Target {
            coll: arg,
            query: "",
        },
    }
}

/// The `p`-th percentile (0–100) of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// `refdb bench`: each query `runs` times after `warmup` untimed runs.
pub fn bench(db: &Path, queries: &[String], runs: usize, warmup: usize) -> Result<ExitCode> {
    let runs = runs.max(1);
    let started = Instant::now();
    let store = Arc::new(Store::open_read_only(db)?);
    let mut checkpoint = db.as_os_str().to_owned();
    checkpoint.push(".index");
    let engine = Engine::with_options(
        store,
        EngineOptions {
            checkpoint: Some(checkpoint.into()),
            checkpoint_every: 0,
            text_build_sync: true,
            ..EngineOptions::default()
        },
    )?;
    let how = match engine.index_start() {
        refdb_query::IndexStart::Built => "built from the documents".to_string(),
        refdb_query::IndexStart::Loaded { caught_up } => {
            format!("loaded from the checkpoint, {caught_up} change(s) caught up")
        }
    };
    let opened = started.elapsed();
    // Tantivy merges the segments of the build in the background; timed
    // beside those merges, queries would share the cores with them.
    let settling = Instant::now();
    engine.settle_text()?;
    println!(
        "{}: opened in {:.2} s (indexes {how}; full-text merges settled in {:.2} s)",
        db.display(),
        opened.as_secs_f64(),
        settling.elapsed().as_secs_f64()
    );
    let mut failed = false;
    for arg in queries {
        let t = target(arg);
        let q = match refdb_query::parse(t.query) {
            Ok(q) => q,
            Err(e) => {
                println!("\n{arg}\n  error: {e}");
                failed = true;
                continue;
            }
        };
        let none = Default::default();
        let once = || engine.list_json_as(t.coll, &q, &none);
        let first = match once() {
            Ok(page) => page,
            Err(e) => {
                println!("\n{arg}\n  error: {e}");
                failed = true;
                continue;
            }
        };
        for _ in 0..warmup {
            once()?;
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t0 = Instant::now();
            std::hint::black_box(once()?);
            times.push(t0.elapsed());
        }
        times.sort();
        let plan = engine.explain(t.coll, &q)?;
        println!("\n{arg}");
        for line in plan.lines() {
            println!("  | {line}");
        }
        println!(
            "  total {}, page of {} bytes; {runs} runs: p50 {}, p90 {}, p99 {}, max {}",
            first.total,
            first.result.len(),
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 90.0)),
            ms(percentile(&times, 99.0)),
            ms(*times.last().expect("runs > 0")),
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_by_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&d, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&d[..1], 90.0), Duration::from_millis(1));
    }

    #[test]
    fn a_target_is_a_collection_and_its_query() {
        let t = target("users?name.$re=do&_page=5");
        assert_eq!((t.coll, t.query), ("users", "name.$re=do&_page=5"));
        let t = target("users");
        assert_eq!((t.coll, t.query), ("users", ""));
    }
}
