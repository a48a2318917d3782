//! refdb-query: the backo query-string language (API.md §5) over a
//! [`refdb_storage::Store`].
//!
//! Layers, each usable alone:
//! - [`parser`] → [`ast::Query`]: schema-free syntax;
//! - [`planner`] → [`planner::plan::Plan`]: typing against the schema and
//!   the choice of index lookups;
//! - [`memindex`]: in-memory derived indexes (live docnos, value indexes,
//!   n-grams) kept in step with commits;
//! - [`exec`]: candidates, verification, exact totals, paging;
//! - [`Engine`]: all of it behind `list`/`selection`/`explain`.
//!
//! Semantics where API.md §5 is silent (the differential tests' brute-force
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
//! - `$text` is refused ([`QueryError::TextNotSupported`]) until the
//!   full-text index lands.

pub mod ast;
pub mod engine;
pub mod error;
pub mod exec;
pub mod memindex;
pub mod parser;
pub mod planner;
pub mod query_error;

pub use ast::{Filter, Op, Query, SortKey};
pub use engine::{Engine, EngineOptions};
pub use error::ParseError;
pub use exec::Page;
pub use parser::parse;
pub use query_error::QueryError;
