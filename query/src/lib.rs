//! refdb-query: the backo query-string language (docs/API.md §5) over a
//! [`refdb_storage::Store`].
//!
//! Layers, each usable alone:
//! - [`parser`] → [`ast::Query`]: schema-free syntax;
//! - [`planner`] → [`planner::plan::Plan`]: typing against the schema and
//!   the choice of index lookups;
//! - [`memindex`]: in-memory derived indexes (live docnos, value indexes,
//!   n-grams, the tantivy full-text index with its overlay of recent
//!   changes) kept in step with commits;
//! - [`text`]: the one word analyzer of `$text`;
//! - [`exec`]: candidates, verification, exact totals, paging;
//! - [`Engine`]: all of it behind `list`/`selection`/`explain`.
//!
//! Semantics where docs/API.md §5 is silent (the differential tests' brute-force
//! evaluator, `tests/common`, is the executable form of this list):
//! - a list field (and a `refs` field) satisfies a condition when one of
//!   its elements does: `tags=a` and `tags.$contains=a` are the same,
//!   `tags.$gt=b` means "some element > b"; `$ne`/`$nin` mean "no element
//!   equals"; an empty list counts as missing for `$exists`;
//! - `$contains` applies to lists only; ranges do not apply to `bool` and
//!   reference fields (`_id` has them, as text); dicts, `any` fields and
//!   lists of dicts only take `$exists`; `$re`/`$reg` apply to strings,
//!   ids and lists of strings;
//! - `_sort`: missing/null sorts first ascending and last descending; ties
//!   always fall back to `_id` ascending; lists, dicts and `any` are not
//!   sortable; `_meta.ctime`, `_meta.mtime`, `_meta.created_by._id` (and
//!   `login`, and `modified_by.*`) are;
//! - `_after` works with the `_id` order only (ascending or `-_id`); it is
//!   a cursor like `_skip`: `total` counts every match of the filters;
//! - `_page=0` and pages above the engine's maximum get the maximum; the
//!   answer's `page` is the size applied;
//! - `_fields` keeps `_id` and the named paths after the view; a missing
//!   leaf of an object reads as null;
//! - `field.$text=words` (on `search: true` fields only, else
//!   [`QueryError::TextNeedsSearch`]) matches the documents whose field
//!   holds **every** word of `words`, in any order, anywhere: both sides
//!   are split into words by [`text`] (runs of letters and digits,
//!   lowercased; no stemming, stop words or accent folding), so
//!   `name.$text=smith%20BOB` matches "Bob Smith" but not "Bobby Smith".
//!   A value with no word at all (`$text=`, only punctuation) is refused
//!   ([`QueryError::TextNoWords`]) rather than matching everything. There
//!   is no ranking: the order stays `_id` or `_sort`, `total` is exact,
//!   and `$text` combines with other filters like any condition. It sees
//!   every committed write at once (the full-text index's overlay, see
//!   [`memindex::text`]).

pub mod ast;
pub mod engine;
pub mod error;
pub mod exec;
pub mod memindex;
pub mod parser;
pub mod planner;
pub mod query_error;
pub mod text;

pub use ast::{Filter, Op, Query, SortKey};
pub use engine::{DocFilter, Engine, EngineOptions, IndexStart};
pub use error::ParseError;
pub use exec::{JsonPage, Page};
pub use memindex::TextStart;
pub use parser::parse;
pub use query_error::QueryError;
