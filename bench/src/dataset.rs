//! The benchmark data set: generated once by [`refdb_gen`] (the
//! generator behind `refdb gen`: N users, N/10 addresses, seed 42) and
//! cached under `target/dataset-gen-N` at the workspace root, then held in
//! memory as text so that each load run can parse a fresh copy outside the
//! timed section.
//!
//! Invariant: line k (0-based) of `users.jsonl` is user number k + 1 in
//! the shared numbering (SQLite's rowid), and likewise for addresses; a
//! user's `addr` is the `_id` of the address on line
//! [`refdb_gen::addr_line`].

use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// The directory holding `users.jsonl` and `addrs.jsonl` for `users`
/// users, generated if missing.
pub fn ensure(users: usize) -> Result<PathBuf, String> {
    let dir = workspace_root().join(format!("target/dataset-gen-{users}"));
    if dir.join("users.jsonl").exists() && dir.join("addrs.jsonl").exists() {
        return Ok(dir);
    }
    eprintln!("generating the data set in {} …", dir.display());
    let spec = refdb_gen::Spec {
        addrs: addrs_for(users) as u64,
        ..refdb_gen::Spec::users(users as u64)
    };
    refdb_gen::write(&dir, &spec).map_err(|e| format!("writing {}: {e}", dir.display()))?;
    Ok(dir)
}

/// One address per ten users, as in the shared data set.
pub fn addrs_for(users: usize) -> usize {
    (users / 10).max(1)
}

/// The two files, as text.
pub struct Dataset {
    pub users: String,
    pub addrs: String,
}

impl Dataset {
    pub fn read(dir: &Path) -> Result<Dataset, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("reading {}: {e}", dir.join(name).display()))
        };
        Ok(Dataset {
            users: read("users.jsonl")?,
            addrs: read("addrs.jsonl")?,
        })
    }

    pub fn user_count(&self) -> usize {
        self.users.lines().count()
    }

    /// Every line as a JSON object (refdb's input).
    pub fn docs(text: &str) -> Result<Vec<Map<String, Value>>, String> {
        text.lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
            .collect()
    }

    pub fn user_rows(&self) -> Result<Vec<UserRow>, String> {
        rows(&self.users)
    }

    pub fn addr_rows(&self) -> Result<Vec<AddrRow>, String> {
        rows(&self.addrs)
    }
}

fn rows<T: for<'a> Deserialize<'a>>(text: &str) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// A user line, typed for SQLite's columns (`tags` kept as JSON text).
#[derive(Debug, Deserialize)]
pub struct UserRow {
    pub name: String,
    pub surname: String,
    pub email: String,
    pub age: i64,
    pub male: bool,
    pub score: f64,
    #[serde(deserialize_with = "as_json_text")]
    pub tags: String,
    pub created: String,
    /// The `_id` of the user's address.
    pub addr: Option<String>,
}

impl UserRow {
    /// The 0-based line of the user's address.
    pub fn addr_index(&self) -> Option<i64> {
        self.addr
            .as_deref()
            .and_then(refdb_gen::addr_line)
            .map(|l| l as i64)
    }
}

/// An address line.
#[derive(Debug, Deserialize)]
pub struct AddrRow {
    pub name: String,
    pub address: String,
    pub city: String,
}

fn as_json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.to_string())
}

/// A small deterministic generator (splitmix64), so both systems get
/// the same "random" ids without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the bias is negligible for our n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_of_a_line() {
        let line = r#"{"name":"Dora","surname":"Ka","email":"dora.ka0@example.org","age":42,"male":false,"score":1.5,"tags":["vip"],"created":"2020-01-01T00:00:00Z","addr":"a00000003"}"#;
        let rows: Vec<UserRow> = rows(line).unwrap();
        assert_eq!(rows[0].tags, r#"["vip"]"#);
        assert_eq!(rows[0].addr_index(), Some(3));
        assert_eq!(Dataset::docs(line).unwrap()[0]["age"], 42);
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.below(10) == b.below(10)));
    }
}
