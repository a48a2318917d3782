//! The synthetic data set refdb's benches and `refdb gen` use: addresses
//! and users that reference them, as NDJSON that `refdb import` loads into
//! the demo schema as is (addresses first).
//!
//! Invariants: the same [`Spec`] always gives the same bytes (a seeded
//! SplitMix64, no platform or library randomness); line k of
//! `addrs.jsonl` has `_id` [`addr_id`]`(k)`, line k of `users.jsonl` has
//! `_id` [`user_id`]`(k)`, and ids sort in line order, so an import keeps
//! `_id` order equal to creation order. A user's `addr` is an address drawn
//! uniformly. The fields and their distributions are those of the shared
//! benchmark data set: syllable names (so `name.$re=doquin` and
//! `email.$re=^mar.*quin` select what they select there), ages 18–90, a
//! coin-flip `male`, scores 0–100, up to three tags, creation dates
//! 2010–2025 and twenty cities.

use serde_json::{Value, json};
use std::io::{self, BufWriter, Write};
use std::path::Path;

const SYLLABLES: [&str; 30] = [
    "do", "ra", "mi", "ka", "lo", "ne", "ti", "sa", "ber", "an", "el", "ja", "mar", "to", "li",
    "na", "ro", "se", "va", "den", "gu", "fi", "or", "quin", "zo", "ha", "bel", "ric", "ta", "mo",
];
const CITIES: [&str; 20] = [
    "Lyon", "Paris", "Lille", "Nantes", "Brest", "Nice", "Dijon", "Rennes", "Tours", "Metz",
    "Caen", "Pau", "Albi", "Agen", "Sens", "Vannes", "Laval", "Niort", "Arles", "Blois",
];
const STREETS: [&str; 6] = ["rue", "avenue", "boulevard", "chemin", "impasse", "place"];
const TAGS: [&str; 10] = [
    "admin", "beta", "vip", "new", "churned", "staff", "partner", "trial", "banned", "verified",
];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub users: u64,
    pub addrs: u64,
    pub seed: u64,
}

impl Spec {
    /// `users` users and one address per ten of them, seed 42.
    pub fn users(users: u64) -> Spec {
        Spec {
            users,
            addrs: (users / 10).max(1),
            seed: 42,
        }
    }
}

/// The `_id` of the address on line `k`.
pub fn addr_id(k: u64) -> String {
    format!("a{k:08}")
}

/// The `_id` of the user on line `k`.
pub fn user_id(k: u64) -> String {
    format!("u{k:09}")
}

/// The line of the address whose `_id` is `id` (the inverse of [`addr_id`]).
pub fn addr_line(id: &str) -> Option<u64> {
    id.strip_prefix('a')?.parse().ok()
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by the multiply-shift method.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    /// `lo..=hi` syllables, capitalized.
    fn word(&mut self, lo: u64, hi: u64) -> String {
        let mut w = String::new();
        for _ in 0..self.between(lo, hi) {
            w.push_str(self.pick(&SYLLABLES));
        }
        let mut c = w.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => w,
        }
    }
}

/// The address on line `k`, drawn from `rng`.
fn address(rng: &mut Rng, k: u64) -> Value {
    let number = rng.between(1, 300);
    let street = rng.pick(&STREETS);
    let word = rng.word(2, 4);
    json!({
        "_id": addr_id(k),
        "name": format!("addr-{k}"),
        "address": format!("{number} {street} {word}"),
        "city": rng.pick(&CITIES),
    })
}

/// The user on line `k`, drawn from `rng`.
fn user(rng: &mut Rng, k: u64, addrs: u64) -> Value {
    let name = rng.word(2, 3);
    let surname = rng.word(2, 4);
    let email = format!(
        "{}.{}{k}@example.org",
        name.to_lowercase(),
        surname.to_lowercase()
    );
    let age = rng.between(18, 90);
    let male = rng.unit() < 0.5;
    let score = (rng.unit() * 10_000.0).round() / 100.0;
    let mut tags: Vec<&str> = Vec::new();
    for _ in 0..rng.between(0, 3) {
        // Distinct tags, as a sample without replacement.
        loop {
            let t = rng.pick(&TAGS);
            if !tags.contains(&t) {
                tags.push(t);
                break;
            }
        }
    }
    let created = format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:00Z",
        rng.between(10, 25),
        rng.between(1, 12),
        rng.between(1, 28),
        rng.between(0, 23),
        rng.between(0, 59)
    );
    let mut doc = json!({
        "_id": user_id(k),
        "name": name,
        "surname": surname,
        "email": email,
        "age": age,
        "male": male,
        "score": score,
        "tags": tags,
        "created": created,
    });
    if addrs > 0 {
        doc["addr"] = addr_id(rng.below(addrs)).into();
    }
    doc
}

/// Writes `addrs.jsonl` and `users.jsonl` into `dir` (created if needed).
pub fn write(dir: &Path, spec: &Spec) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(spec.seed);
    let mut out =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("addrs.jsonl"))?);
    for k in 0..spec.addrs {
        serde_json::to_writer(&mut out, &address(&mut rng, k))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let mut out =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("users.jsonl"))?);
    for k in 0..spec.users {
        serde_json::to_writer(&mut out, &user(&mut rng, k, spec.addrs))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, file: &str) -> Vec<Value> {
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes_and_another_seed_others() {
        let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
        let [a, b, c] = [0, 1, 2].map(|i| dirs[i].path());
        let spec = Spec {
            users: 500,
            addrs: 50,
            seed: 7,
        };
        write(a, &spec).unwrap();
        write(b, &spec).unwrap();
        write(c, &Spec { seed: 8, ..spec }).unwrap();
        for f in ["addrs.jsonl", "users.jsonl"] {
            let x = std::fs::read(a.join(f)).unwrap();
            assert_eq!(x, std::fs::read(b.join(f)).unwrap(), "{f}");
            assert_ne!(x, std::fs::read(c.join(f)).unwrap(), "{f}");
        }
    }

    #[test]
    fn ids_follow_lines_and_references_point_at_addresses() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(
            dir,
            &Spec {
                users: 2000,
                addrs: 100,
                seed: 42,
            },
        )
        .unwrap();
        let addrs = read(dir, "addrs.jsonl");
        let users = read(dir, "users.jsonl");
        assert_eq!((addrs.len(), users.len()), (100, 2000));
        for (k, a) in addrs.iter().enumerate() {
            assert_eq!(a["_id"], addr_id(k as u64));
            assert_eq!(addr_line(a["_id"].as_str().unwrap()), Some(k as u64));
        }
        let mut ids: Vec<&str> = users.iter().map(|u| u["_id"].as_str().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids sort in line order"
        );
        ids.dedup();
        assert_eq!(ids.len(), 2000);
        let mut cities = std::collections::HashSet::new();
        for u in &users {
            let line = addr_line(u["addr"].as_str().unwrap()).unwrap();
            assert!(line < 100);
            let age = u["age"].as_u64().unwrap();
            assert!((18..=90).contains(&age));
            let tags = u["tags"].as_array().unwrap();
            assert!(tags.len() <= 3);
            let email = u["email"].as_str().unwrap();
            assert!(email.ends_with("@example.org"));
            assert!(email.starts_with(&u["name"].as_str().unwrap().to_lowercase()));
        }
        for a in &addrs {
            cities.insert(a["city"].as_str().unwrap().to_string());
        }
        assert!(cities.len() > 15, "{cities:?}");
        // Roughly half male, as the coin says.
        let male = users.iter().filter(|u| u["male"] == json!(true)).count();
        assert!((800..1200).contains(&male), "{male}");
    }
}
