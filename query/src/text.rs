//! The one analyzer of `$text`: how a field's value and a query's words
//! become words.
//!
//! A word is a maximal run of Unicode alphanumeric characters
//! (`char::is_alphanumeric`; everything else separates words), lowercased
//! (`char::to_lowercase`); words of [`MAX_WORD_BYTES`] bytes or more (after
//! lowercasing) are dropped. This is tantivy's `SimpleTokenizer`,
//! `LowerCaser` and `RemoveLongFilter`, built by [`analyzer`].
//!
//! Deliberately without stemming, stop words or accent folding: the
//! searched fields are mostly names, titles and short labels in any
//! language, where an English stemmer makes surprising matches
//! (`university` ↔ `universe`) and folding would make `é` and `e` the same
//! letter for some scripts and not others. A word matches exactly that
//! word, in any case; `$re` remains for parts of words.
//!
//! Invariant: the planner (query words), the tantivy index (documents), the
//! overlay of recent changes and the differential tests' brute-force
//! evaluator all go through [`analyzer`], so they agree on every value.

use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};

/// Words this long (in bytes, lowercased) or longer are neither indexed
/// nor searched. Far below tantivy's own term limit, so tantivy never
/// drops a word the analyzer keeps.
pub const MAX_WORD_BYTES: usize = 256;

/// The name the analyzer is registered under in the tantivy index.
pub const ANALYZER_NAME: &str = "refdb_words";

/// A fresh analyzer (see the module doc). Cheap; it holds buffers, so
/// keep one for a loop over many values.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .build()
}

/// The distinct words of `text`, in first-seen order.
pub fn words(text: &str) -> Vec<String> {
    let mut a = analyzer();
    let mut out: Vec<String> = Vec::new();
    let mut stream = a.token_stream(text);
    while let Some(t) = stream.next() {
        if !out.contains(&t.text) {
            out.push(t.text.clone());
        }
    }
    out
}

/// Whether `text` holds every one of `words` (distinct, analyzed). An
/// empty `words` matches any text. `a` is an [`analyzer`], reused across
/// calls.
pub fn contains_all(a: &mut TextAnalyzer, text: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    // Few words: a small mask of those seen so far, no allocation.
    let mut seen = vec![false; words.len()];
    let mut left = words.len();
    let mut stream = a.token_stream(text);
    while let Some(t) = stream.next() {
        for (i, w) in words.iter().enumerate() {
            if !seen[i] && *w == t.text {
                seen[i] = true;
                left -= 1;
                if left == 0 {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_lowercase_dedup() {
        assert_eq!(words("Hello, hello WORLD-42!"), ["hello", "world", "42"]);
        assert_eq!(words("Éva O'Brien"), ["éva", "o", "brien"]);
        assert!(words(" ,.;-").is_empty());
        assert!(words("").is_empty());
        let long = "a".repeat(MAX_WORD_BYTES);
        assert!(words(&long).is_empty());
        assert_eq!(words(&"a".repeat(MAX_WORD_BYTES - 1)).len(), 1);
    }

    #[test]
    fn contains_all_is_and() {
        let mut a = analyzer();
        let w = words("bob SMITH");
        assert!(contains_all(&mut a, "Smith, Bob", &w));
        assert!(!contains_all(&mut a, "Bobby Smith", &w));
        assert!(!contains_all(&mut a, "", &w));
        assert!(contains_all(&mut a, "", &[]));
    }
}
