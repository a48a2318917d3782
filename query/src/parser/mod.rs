//! The schema-free parser of list query strings (docs/API.md §5):
//! `age.$gte=18&info.city=Lyon&_sort=-age&_page=20`.
//!
//! [`parse`] goes in two steps: the `lexer` splits on `&` and `=` and
//! percent-decodes; this module then sorts the pairs into parameters
//! (`_page`, `_skip`, `_sort`, `_view`, `_fields`, `_after`) and field
//! conditions, whose keys `path` parses. It checks syntax only and types
//! nothing (see [`crate::ast`]).
//!
//! Where backo was lenient this parser refuses, so that a typo gives a 400
//! naming the key instead of a silently different result: unknown `_`
//! parameters and operators, repeated parameters, bad `%` escapes and
//! non-numeric `_page`/`_skip` are all errors. Input size is bounded
//! ([`MAX_QUERY_LEN`], [`MAX_CONDITIONS`]) so that one request cannot make
//! the planner do unbounded work.

mod lexer;
mod path;

use crate::ast::{Filter, Query, SortKey};
use crate::error::ParseError;

/// The longest query string accepted, in bytes (64 KiB).
pub const MAX_QUERY_LEN: usize = 64 * 1024;

/// The most field conditions one query may hold.
pub const MAX_CONDITIONS: usize = 256;

/// Parses a query string (without its leading `?`) into a [`Query`].
///
/// Never panics; every malformed input is a [`ParseError`] naming the key
/// at fault and its byte offset in `query_string`.
pub fn parse(query_string: &str) -> Result<Query, ParseError> {
    if query_string.len() > MAX_QUERY_LEN {
        return Err(ParseError::TooLong {
            len: query_string.len(),
            max: MAX_QUERY_LEN,
        });
    }
    let mut query = Query::default();
    // `query.sort` cannot tell "absent" from "given", which the duplicate
    // check needs, so it is collected here.
    let mut sort = None;
    for pair in lexer::pairs(query_string) {
        let offset = pair.offset;
        let key = lexer::decode(pair.key, offset).map_err(|e| match e {
            // The key cannot be decoded, so report it as sent.
            lexer::DecodeError::BadEscape { offset } => ParseError::BadEscape {
                key: pair.key.to_owned(),
                offset,
            },
            lexer::DecodeError::BadUtf8 => ParseError::BadUtf8 {
                key: pair.key.to_owned(),
                offset,
            },
        })?;
        if key.is_empty() {
            return Err(ParseError::EmptyKey { offset });
        }
        let Some(value) = pair.value else {
            return Err(ParseError::MissingValue { key, offset });
        };
        let value_offset = pair.value_offset();
        let value = lexer::decode(value, value_offset).map_err(|e| match e {
            lexer::DecodeError::BadEscape { offset } => ParseError::BadEscape {
                key: key.clone(),
                offset,
            },
            lexer::DecodeError::BadUtf8 => ParseError::BadUtf8 {
                key: key.clone(),
                offset: value_offset,
            },
        })?;

        let param = Param {
            key: &key,
            value: &value,
            offset,
        };
        match key.as_str() {
            "_page" => set_once(&mut query.page, &param, Param::number)?,
            "_skip" => set_once(&mut query.skip, &param, Param::number)?,
            "_sort" => set_once(&mut sort, &param, Param::sort)?,
            "_view" => set_once(&mut query.view, &param, Param::text)?,
            "_fields" => set_once(&mut query.fields, &param, Param::fields)?,
            "_after" => set_once(&mut query.after, &param, Param::text)?,
            _ => {
                let (path, op) = path::filter_key(&key, offset)?;
                if query.filters.len() == MAX_CONDITIONS {
                    return Err(ParseError::TooManyConditions {
                        max: MAX_CONDITIONS,
                    });
                }
                query.filters.push(Filter {
                    path,
                    op,
                    raw: value,
                    key,
                });
            }
        }
    }
    query.sort = sort.unwrap_or_default();
    Ok(query)
}

/// A decoded `_parameter=value` pair.
struct Param<'a> {
    key: &'a str,
    value: &'a str,
    offset: usize,
}

/// Stores the value of a parameter that may appear only once: a second
/// occurrence would be ambiguous (backo silently took one of them).
fn set_once<'a, T>(
    slot: &mut Option<T>,
    param: &Param<'a>,
    read: impl FnOnce(&Param<'a>) -> Result<T, ParseError>,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::Duplicate {
            key: param.key.to_owned(),
            offset: param.offset,
        });
    }
    *slot = Some(read(param)?);
    Ok(())
}

impl Param<'_> {
    /// `_page`, `_skip`: ASCII digits only. `u64::from_str` alone would also
    /// take a leading `+`, which has no business in a canonical query.
    fn number(&self) -> Result<u64, ParseError> {
        let bad = || ParseError::BadNumber {
            key: self.key.to_owned(),
            value: self.value.to_owned(),
            offset: self.offset,
        };
        if self.value.is_empty() || !self.value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        self.value.parse().map_err(|_| bad())
    }

    /// `_view`, `_after`: any non-empty text; the planner checks the name.
    fn text(&self) -> Result<String, ParseError> {
        self.non_empty()?;
        Ok(self.value.to_owned())
    }

    /// `_sort=f,-g,+h`: `-` sorts descending, `+` (or the space that a bare
    /// `+` decodes to) ascending, no sign ascending.
    fn sort(&self) -> Result<Vec<SortKey>, ParseError> {
        self.list(|item| {
            let (descending, text) = match item.as_bytes().first() {
                Some(b'-') => (true, &item[1..]),
                Some(b'+' | b' ') => (false, &item[1..]),
                _ => (false, item),
            };
            if text.is_empty() {
                return Err(self.empty_item());
            }
            let path = path::path(text, self.key, self.offset)?;
            Ok(SortKey { path, descending })
        })
    }

    /// `_fields=a,b.c`: a comma list of paths.
    fn fields(&self) -> Result<Vec<Vec<String>>, ParseError> {
        self.list(|item| path::path(item, self.key, self.offset))
    }

    /// Parses a non-empty comma list whose items may not be empty.
    fn list<T>(&self, item: impl Fn(&str) -> Result<T, ParseError>) -> Result<Vec<T>, ParseError> {
        self.non_empty()?;
        self.value
            .split(',')
            .map(|text| {
                if text.is_empty() {
                    Err(self.empty_item())
                } else {
                    item(text)
                }
            })
            .collect()
    }

    /// An empty `_sort=` or `_fields=` is refused rather than read as "not
    /// given": it most likely comes from a form whose field was left blank
    /// by mistake, and silently ignoring it would hide that.
    fn non_empty(&self) -> Result<(), ParseError> {
        if self.value.is_empty() {
            Err(ParseError::EmptyValue {
                key: self.key.to_owned(),
                offset: self.offset,
            })
        } else {
            Ok(())
        }
    }

    fn empty_item(&self) -> ParseError {
        ParseError::EmptyListItem {
            key: self.key.to_owned(),
            offset: self.offset,
        }
    }
}

#[cfg(test)]
mod tests;
