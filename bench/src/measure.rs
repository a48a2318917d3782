//! Timing and result checking for one workload on both systems.
//!
//! Invariants:
//! - every timed run returns an [`Outcome`] (totals, page ids in the
//!   shared numbering, a checksum); refdb's and SQLite's outcomes of the
//!   same run index must be equal, or the comparison stops with an error
//!   ([`compare`]): a figure for a wrong answer is never reported;
//! - the warm-up run (when there is one) is checked too, but not timed.

use std::time::Duration;

/// What one run of a workload answered, in the shared numbering: users
/// and addresses are numbered by their line in the data set, from 1 (the
/// SQLite rowid; refdb's generated ids map to it by position).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Exact totals (the page's total, or a COUNT).
    pub totals: Vec<u64>,
    /// The page, as user numbers, in order.
    pub ids: Vec<u64>,
    /// Anything else that must agree (point reads: a checksum of the
    /// documents read; cascade: the users deleted).
    pub check: u64,
}

/// The timed runs of one system on one workload.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub runs: Vec<Duration>,
}

impl Timings {
    pub fn median(&self) -> Duration {
        let mut v = self.runs.clone();
        v.sort();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }

    pub fn min(&self) -> Duration {
        self.runs.iter().copied().min().unwrap_or_default()
    }
}

/// How often to run a workload.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub warmup: bool,
    pub runs: usize,
}

/// Runs `f` (warm-up first if asked); `f` gets the run index (warm-up
/// included) and returns its outcome with the time of the part it
/// measured (so set-up and checks stay out of the figure). Returns the
/// timings and every run's outcome (warm-up first when there is one).
pub fn time<E>(
    plan: Plan,
    mut f: impl FnMut(usize) -> Result<(Outcome, Duration), E>,
) -> Result<(Timings, Vec<Outcome>), E> {
    let mut outcomes = Vec::with_capacity(plan.runs + 1);
    let mut t = Timings::default();
    let first = usize::from(plan.warmup);
    for k in 0..first + plan.runs {
        let (o, took) = f(k)?;
        if k >= first {
            t.runs.push(took);
        }
        outcomes.push(o);
    }
    Ok((t, outcomes))
}

/// Checks that both systems answered the same in every run.
pub fn compare(workload: &str, refdb: &[Outcome], sqlite: &[Outcome]) -> Result<(), String> {
    if refdb.len() != sqlite.len() {
        return Err(format!(
            "{workload}: {} refdb runs against {} SQLite runs",
            refdb.len(),
            sqlite.len()
        ));
    }
    for (k, (r, s)) in refdb.iter().zip(sqlite).enumerate() {
        if r != s {
            return Err(format!(
                "{workload}: results differ in run {k}:\n  refdb:  {r:?}\n  SQLite: {s:?}"
            ));
        }
    }
    Ok(())
}

/// A duration the way the report prints it: µs below 1 ms, ms below 1 s.
pub fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        let ms = us / 1_000.0;
        if ms < 10.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.1} ms")
        }
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// refdb / SQLite, on medians.
pub fn ratio(refdb: Duration, sqlite: Duration) -> f64 {
    refdb.as_secs_f64() / sqlite.as_secs_f64().max(1e-9)
}

pub fn fmt_ratio(r: f64) -> String {
    if r < 0.01 {
        format!("{r:.4}")
    } else if r < 1.0 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_min() {
        let t = Timings {
            runs: [5, 1, 3, 9].map(Duration::from_millis).to_vec(),
        };
        assert_eq!(t.median(), Duration::from_millis(4));
        assert_eq!(t.min(), Duration::from_millis(1));
    }

    #[test]
    fn a_mismatch_is_an_error() {
        let a = Outcome {
            totals: vec![1],
            ..Outcome::default()
        };
        let b = Outcome {
            totals: vec![2],
            ..Outcome::default()
        };
        assert!(compare("w", std::slice::from_ref(&a), std::slice::from_ref(&a)).is_ok());
        assert!(compare("w", &[a], &[b]).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(fmt(Duration::from_micros(16)), "16 µs");
        assert_eq!(fmt(Duration::from_micros(2_500)), "2.50 ms");
        assert_eq!(fmt(Duration::from_millis(25)), "25.0 ms");
        assert_eq!(fmt(Duration::from_millis(11_400)), "11.40 s");
    }
}
