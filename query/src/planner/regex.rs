//! `$re`/`$reg` planning: compiles the pattern and derives from it an
//! n-gram query ([`GramQuery`]) whose answer is a superset of the matching
//! documents, so only those candidates need the compiled regex.
//!
//! Invariants:
//! - every document the regex matches is in the gram query's answer (the
//!   literals come from `regex_syntax`'s prefix and suffix extraction:
//!   every match starts with one of the prefix literals and ends with one
//!   of the suffix literals, so it *contains* both);
//! - [`RegexPlan::exact`] is true only when the answer is exactly the
//!   matching set: an unanchored search (`$re`) for a pattern without
//!   look-around that matches exactly a finite set of literals, each as
//!   long as a gram (2 or 3 bytes), whose gram bitmaps are then exact.
//!
//! Grams are over the UTF-8 *bytes* of the exact-case string preceded by
//! [`START`], a byte that UTF-8 never uses: a literal occurs in a string
//! iff its bytes occur in the string's bytes, and a string starts with a
//! literal only if `START` + the literal's first bytes is one of its grams.
//! So start-anchored patterns (`$reg`, `^mar.*quin`) also look up the
//! grams of their beginning.

use regex::Regex;
use regex_syntax::hir::Look;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// The byte that marks the start of a string in the n-gram index.
pub const START: u8 = 0xFF;

/// Refuses patterns whose compiled program would be larger than this, so
/// one request cannot build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A boolean query over the n-gram index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GramQuery {
    /// No usable literal: every document is a candidate (scan).
    All,
    /// The pattern can match nothing.
    Nothing,
    /// Documents holding every one of these grams (2- or 3-byte strings).
    Grams(Vec<Vec<u8>>),
    And(Vec<GramQuery>),
    Or(Vec<GramQuery>),
}

impl GramQuery {
    fn and(a: GramQuery, b: GramQuery) -> GramQuery {
        match (a, b) {
            (GramQuery::All, x) | (x, GramQuery::All) => x,
            (GramQuery::Nothing, _) | (_, GramQuery::Nothing) => GramQuery::Nothing,
            (a, b) if a == b => a,
            (a, b) => GramQuery::And(vec![a, b]),
        }
    }

    /// Human-readable form for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            GramQuery::All => "all (no usable literal)".into(),
            GramQuery::Nothing => "nothing".into(),
            GramQuery::Grams(g) => g
                .iter()
                .map(|g| match g.split_first() {
                    Some((&START, rest)) => format!("^{:?}", String::from_utf8_lossy(rest)),
                    _ => format!("{:?}", String::from_utf8_lossy(g)),
                })
                .collect::<Vec<_>>()
                .join(" & "),
            GramQuery::And(qs) => qs
                .iter()
                .map(|q| format!("({})", q.describe()))
                .collect::<Vec<_>>()
                .join(" AND "),
            GramQuery::Or(qs) => qs
                .iter()
                .map(|q| format!("({})", q.describe()))
                .collect::<Vec<_>>()
                .join(" OR "),
        }
    }
}

/// A compiled `$re`/`$reg` condition.
#[derive(Debug, Clone)]
pub struct RegexPlan {
    /// As the client wrote it.
    pub pattern: String,
    /// `$reg`: start-anchored match; else unanchored search.
    pub anchored: bool,
    /// The regex to verify candidates with (anchored when `anchored`).
    pub re: Regex,
    pub grams: GramQuery,
    /// Candidates from `grams` are exactly the matches: no verification.
    pub exact: bool,
}

/// Compiles `pattern`; the error is the regex crate's message.
pub fn plan_regex(pattern: &str, anchored: bool) -> Result<RegexPlan, String> {
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    };
    // Compile the pattern as written first: only a valid pattern can be
    // wrapped in a group without changing its meaning (`a)|(b`).
    let plain = build(pattern)?;
    let re = if anchored {
        build(&format!("^(?:{pattern})"))?
    } else {
        plain
    };
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let prefixes = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let suffixes = Extractor::new().kind(ExtractKind::Suffix).extract(&hir);
    // Every match starts at the start of the text: the prefix literals
    // are prefixes of the value.
    let at_start = anchored || hir.properties().look_set_prefix().contains(Look::Start);
    // An exact prefix sequence is the whole language: the suffixes add
    // nothing.
    let grams = if prefixes.is_exact() {
        seq_query(&prefixes, at_start)
    } else {
        GramQuery::and(seq_query(&prefixes, at_start), seq_query(&suffixes, false))
    };
    let exact = !anchored
        && hir.properties().look_set().is_empty()
        && prefixes.is_exact()
        && prefixes
            .literals()
            .is_some_and(|ls| ls.iter().all(|l| matches!(l.as_bytes().len(), 2 | 3)));
    Ok(RegexPlan {
        pattern: pattern.to_string(),
        anchored,
        re,
        grams,
        exact,
    })
}

/// The gram query implied by a literal sequence: some literal occurs (at
/// the start of the value when `at_start`).
fn seq_query(seq: &Seq, at_start: bool) -> GramQuery {
    let Some(lits) = seq.literals() else {
        return GramQuery::All;
    };
    if lits.is_empty() {
        return GramQuery::Nothing;
    }
    let mut alts = Vec::with_capacity(lits.len());
    for lit in lits {
        let bytes = if at_start {
            [&[START][..], lit.as_bytes()].concat()
        } else {
            lit.as_bytes().to_vec()
        };
        match grams_of_literal(&bytes) {
            // One literal too short to look up makes the whole
            // disjunction useless.
            None => return GramQuery::All,
            Some(g) => alts.push(GramQuery::Grams(g)),
        }
    }
    if alts.len() == 1 {
        alts.pop().expect("one")
    } else {
        GramQuery::Or(alts)
    }
}

/// The grams whose presence a literal implies: the literal itself when it
/// is a bigram or trigram, else its overlapping trigrams.
fn grams_of_literal(lit: &[u8]) -> Option<Vec<Vec<u8>>> {
    match lit.len() {
        0 | 1 => None,
        2 | 3 => Some(vec![lit.to_vec()]),
        _ => {
            let mut g: Vec<Vec<u8>> = lit.windows(3).map(<[u8]>::to_vec).collect();
            g.sort();
            g.dedup();
            Some(g)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: &str) -> (GramQuery, bool) {
        let r = plan_regex(p, false).unwrap();
        (r.grams, r.exact)
    }

    #[test]
    fn pure_short_literal_is_exact() {
        assert_eq!(q("do"), (GramQuery::Grams(vec![b"do".to_vec()]), true));
        assert!(q("doq").1);
        assert!(!q("doquin").1);
        assert!(!plan_regex("do", true).unwrap().exact);
    }

    #[test]
    fn case_insensitive_gives_variants() {
        let (g, exact) = q("(?i)do");
        assert!(exact);
        match g {
            GramQuery::Or(alts) => assert_eq!(alts.len(), 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anchors_and_wildcards_use_both_ends() {
        let (g, exact) = q("^mar.*quin");
        assert!(!exact);
        let d = g.describe();
        assert!(d.contains("\"mar\"") && d.contains("\"qui\""), "{d}");
        assert!(d.contains("^\"ma\""), "the start gram: {d}");
        assert!(!q("^do").1, "look-around is never exact");
        assert_eq!(q("^do").0, GramQuery::Grams(vec![vec![START, b'd', b'o']]));
        assert_eq!(
            plan_regex("d", true).unwrap().grams,
            GramQuery::Grams(vec![vec![START, b'd']])
        );
        assert_eq!(q("(?m)^do").0, GramQuery::Grams(vec![b"do".to_vec()]));
    }

    #[test]
    fn no_literal_means_scan() {
        assert_eq!(q("[a-z]+").0, GramQuery::All);
        assert_eq!(q("a").0, GramQuery::All);
        assert!(plan_regex("(", false).is_err());
        assert!(plan_regex("a)|(b", true).is_err());
    }
}
