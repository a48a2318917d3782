//! PATCH operations on JSON documents (API.md §6): parsing a patch body into
//! [`PatchOp`]s and applying them to a document. Pure: no I/O, no schema.
//!
//! Invariants:
//! * [`apply_patch`] is all or nothing: it works on a copy and returns either
//!   the fully patched copy or the first error; the input is never changed.
//! * `_id` and `_meta` are maintained by the engine: no operation may name a
//!   path into them, and the document root may only be `test`ed (a root write
//!   would replace both). Such operations fail with [`PatchErrorKind::Forbidden`].
//! * No input panics, and work is bounded: at most [`MAX_OPS`] operations;
//!   paths and values are walked iteratively (never recursion on untrusted
//!   depth); a patch may not nest the document deeper than [`MAX_DEPTH`]; and
//!   `copy` may duplicate at most [`MAX_COPY_WEIGHT`] (so 1,000 self-doubling
//!   copies cannot exhaust memory).
//!
//! Semantics are RFC 6902 with these deliberate refdb choices:
//! * `test` compares JSON equality (backo only type-checked: bug B5), with
//!   numbers compared by value (`1 == 1.0`) and object members in any order.
//! * A missing optional field reads as `null` in refdb (API.md §3), so for
//!   `replace` and `test` a missing *object member* counts as present with
//!   value `null`, at the top level and in nested objects alike: `replace`
//!   sets it, `test` compares against `null`. Only the last path segment may
//!   be missing; a missing intermediate (or array element) is still an error.
//! * Paths are selectors (`$`, `$.a.b[0]`, `$["odd key"]`, `[-]` = append) or
//!   RFC 6901 pointers (`""`, `/a/b/0`, `~0`/`~1` escapes, `-` = append).
//!   Because a pointer token like `0` or `-` is a member name on an object and
//!   an index on an array, [`PathSeg::Index`] and [`PathSeg::End`] applied to
//!   an object name the member `"0"` / `"-"`; selectors behave the same way.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Most operations one patch may hold (more is a [`PatchErrorKind::BadPatch`]).
pub const MAX_OPS: usize = 1000;

/// Deepest container nesting a patch may create: serde_json's parser refuses
/// the 128th nested container, so a deeper document could no longer be sent
/// back by a client, and deep values make recursive drops/serializers unsafe.
pub const MAX_DEPTH: usize = 127;

/// Budget for `copy` over one patch, in weight units (one per JSON node plus
/// one per byte of string or member name). Only `copy` duplicates data, and
/// copying a value into itself doubles it, so without a budget 1,000 copies
/// could ask for 2^1000 nodes.
pub const MAX_COPY_WEIGHT: usize = 16 << 20;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSeg {
    /// An object member (`.a`, `["a"]`, or a non-numeric pointer token).
    Key(String),
    /// An array index (`[0]`, or a canonical decimal pointer token).
    Index(usize),
    /// The slot after the last array element (`[-]` or pointer `-`): append.
    End,
}

/// One parsed operation. `from` and `path` are parsed paths; the root is `[]`.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOp {
    Test {
        path: Vec<PathSeg>,
        value: Value,
    },
    Add {
        path: Vec<PathSeg>,
        value: Value,
    },
    Remove {
        path: Vec<PathSeg>,
    },
    Replace {
        path: Vec<PathSeg>,
        value: Value,
    },
    Move {
        from: Vec<PathSeg>,
        path: Vec<PathSeg>,
    },
    Copy {
        from: Vec<PathSeg>,
        path: Vec<PathSeg>,
    },
}

impl PatchOp {
    /// The `op` name as written in a patch body.
    pub fn name(&self) -> &'static str {
        match self {
            PatchOp::Test { .. } => "test",
            PatchOp::Add { .. } => "add",
            PatchOp::Remove { .. } => "remove",
            PatchOp::Replace { .. } => "replace",
            PatchOp::Move { .. } => "move",
            PatchOp::Copy { .. } => "copy",
        }
    }

    /// The target path.
    pub fn path(&self) -> &[PathSeg] {
        match self {
            PatchOp::Test { path, .. }
            | PatchOp::Add { path, .. }
            | PatchOp::Remove { path }
            | PatchOp::Replace { path, .. }
            | PatchOp::Move { path, .. }
            | PatchOp::Copy { path, .. } => path,
        }
    }

    /// The source path of `move` and `copy`.
    pub fn from(&self) -> Option<&[PathSeg]> {
        match self {
            PatchOp::Move { from, .. } | PatchOp::Copy { from, .. } => Some(from),
            _ => None,
        }
    }

    /// `replace $.a` / `move $.a to $.b`, for error messages.
    fn describe(&self) -> String {
        match self.from() {
            Some(from) => format!(
                "{} {} to {}",
                self.name(),
                format_path(from),
                format_path(self.path())
            ),
            None => format!("{} {}", self.name(), format_path(self.path())),
        }
    }
}

/// What went wrong; the HTTP layer maps every kind to a 400 except
/// `Forbidden` (like backo's rights error on `_id`/`_meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchErrorKind {
    /// Malformed patch body, or a patch refdb refuses to run (limits, a
    /// `move` into its own child).
    BadPatch,
    /// A `test` operation found a different value.
    TestFailed,
    /// A path names something that does not exist (or cannot be created).
    NoSuchPath,
    /// A path into `_id`/`_meta`, or a write to the document root.
    Forbidden,
}

impl PatchErrorKind {
    /// Stable snake_case code for the JSON error envelope.
    pub fn code(self) -> &'static str {
        match self {
            PatchErrorKind::BadPatch => "bad_patch",
            PatchErrorKind::TestFailed => "test_failed",
            PatchErrorKind::NoSuchPath => "no_such_path",
            PatchErrorKind::Forbidden => "forbidden",
        }
    }
}

/// A patch failure. `path` is where: in the patch body (`$[1].op`) for
/// [`PatchErrorKind::BadPatch`] raised while parsing, otherwise in the
/// document (`$.a.b[0]`, the first prefix of the target that is missing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PatchError {
    pub path: String,
    pub message: String,
    pub kind: PatchErrorKind,
}

fn error(kind: PatchErrorKind, path: impl Into<String>, message: impl Into<String>) -> PatchError {
    PatchError {
        path: path.into(),
        message: message.into(),
        kind,
    }
}

fn bad(path: impl Into<String>, message: impl Into<String>) -> PatchError {
    error(PatchErrorKind::BadPatch, path, message)
}

fn no_such(path: impl Into<String>, message: impl Into<String>) -> PatchError {
    error(PatchErrorKind::NoSuchPath, path, message)
}

// ---------------------------------------------------------------- parsing --

/// Parses a patch body: one operation object or an array of them.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    match body {
        Value::Object(_) => Ok(vec![parse_op(body, "$")?]),
        Value::Array(items) => {
            if items.len() > MAX_OPS {
                return Err(bad(
                    "$",
                    format!(
                        "a patch holds at most {MAX_OPS} operations, this one has {}",
                        items.len()
                    ),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_op(item, &format!("$[{i}]")))
                .collect()
        }
        _ => Err(bad(
            "$",
            "a patch is an operation object or an array of them",
        )),
    }
}

/// Parses one operation found at `at` in the body. Members other than
/// `op`/`path`/`value`/`from` are ignored, as RFC 6902 §4 requires.
fn parse_op(item: &Value, at: &str) -> Result<PatchOp, PatchError> {
    let Value::Object(obj) = item else {
        return Err(bad(
            at,
            r#"an operation must be an object such as {"op": "add", "path": "$.a", "value": 1}"#,
        ));
    };
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(_) => return Err(bad(format!("{at}.op"), "`op` must be a string")),
        None => return Err(bad(format!("{at}.op"), "missing member `op`")),
    };
    // Validate `op` before the other members so a typo is reported as such.
    if !matches!(op, "test" | "add" | "remove" | "replace" | "move" | "copy") {
        return Err(bad(
            format!("{at}.op"),
            format!(
                "unknown operation {}; expected test, add, remove, replace, move or copy",
                shorten(op)
            ),
        ));
    }
    let path = |member: &str| -> Result<Vec<PathSeg>, PatchError> {
        let here = format!("{at}.{member}");
        match obj.get(member) {
            Some(Value::String(text)) => parse_path(text)
                .map_err(|why| bad(here, format!("invalid path {}: {why}", shorten(text)))),
            Some(_) => Err(bad(here, format!("`{member}` must be a string"))),
            None => Err(bad(
                here,
                format!("missing member `{member}` (`{op}` needs it)"),
            )),
        }
    };
    let value = || -> Result<Value, PatchError> {
        // `"value": null` is present; only an absent member is an error.
        obj.get("value").cloned().ok_or_else(|| {
            bad(
                format!("{at}.value"),
                format!("missing member `value` (`{op}` needs it)"),
            )
        })
    };
    Ok(match op {
        "test" => PatchOp::Test {
            path: path("path")?,
            value: value()?,
        },
        "add" => PatchOp::Add {
            path: path("path")?,
            value: value()?,
        },
        "remove" => PatchOp::Remove {
            path: path("path")?,
        },
        "replace" => PatchOp::Replace {
            path: path("path")?,
            value: value()?,
        },
        "move" => PatchOp::Move {
            from: path("from")?,
            path: path("path")?,
        },
        _ => PatchOp::Copy {
            from: path("from")?,
            path: path("path")?,
        },
    })
}

/// Quotes user text for a message, cut short so errors stay small.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", quote(&text[..cut])),
        None => quote(text),
    }
}

/// JSON string literal for `text`.
fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// Parses a selector (`$.a[0]`) or an RFC 6901 pointer (`/a/0`); the error
/// explains what is wrong, without the path itself.
pub fn parse_path(text: &str) -> Result<Vec<PathSeg>, String> {
    if let Some(rest) = text.strip_prefix('$') {
        parse_selector(rest)
    } else if text.is_empty() || text.starts_with('/') {
        parse_pointer(text)
    } else {
        Err("a path is a selector starting with `$` or a pointer starting with `/`".into())
    }
}

/// Parses the part of a selector after `$`. Offsets in messages count bytes
/// from the `$`.
fn parse_selector(rest: &str) -> Result<Vec<PathSeg>, String> {
    let mut segs = Vec::new();
    let mut i = 0; // byte offset in `rest`, always on a char boundary
    while i < rest.len() {
        let at = i + 1;
        if rest[i..].starts_with('.') {
            let name_start = i + 1;
            let name_end = rest[name_start..]
                .find(['.', '[', ']'])
                .map_or(rest.len(), |k| name_start + k);
            let name = &rest[name_start..name_end];
            if name.is_empty() {
                return Err(format!("empty member name after `.` at offset {at}"));
            }
            if name == "*" {
                // A patch targets one node; say so rather than treat `*` as a name.
                return Err(
                    r#"wildcards are not supported; write ["*"] for a member named *"#.into(),
                );
            }
            segs.push(PathSeg::Key(name.to_owned()));
            i = name_end;
        } else if rest[i..].starts_with('[') {
            let inner_start = i + 1;
            let (seg, close) = if rest[inner_start..].starts_with('"') {
                let len = quoted_len(&rest[inner_start..])
                    .ok_or_else(|| format!("unterminated string at offset {}", inner_start + 1))?;
                let literal = &rest[inner_start..inner_start + len];
                let key: String = serde_json::from_str(literal)
                    .map_err(|e| format!("invalid string at offset {}: {e}", inner_start + 1))?;
                (PathSeg::Key(key), inner_start + len)
            } else {
                let close = rest[inner_start..]
                    .find(']')
                    .map(|k| inner_start + k)
                    .ok_or_else(|| format!("unterminated `[` at offset {at}"))?;
                let inner = &rest[inner_start..close];
                let seg = if inner == "-" {
                    PathSeg::End
                } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                    PathSeg::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("index too large at offset {}", at + 1))?,
                    )
                } else {
                    return Err(format!(
                        r#"expected an index, `-` or a "quoted" member name inside `[` at offset {at}"#
                    ));
                };
                (seg, close)
            };
            if !rest[close..].starts_with(']') {
                return Err(format!("expected `]` at offset {}", close + 1));
            }
            segs.push(seg);
            i = close + 1;
        } else {
            return Err(format!("expected `.` or `[` at offset {at}"));
        }
    }
    Ok(segs)
}

/// Byte length of the JSON string literal that `text` starts with (quotes
/// included), or `None` if it is not closed. Escapes are checked later by
/// serde_json; here we only need to skip `\"`.
fn quoted_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Parses an RFC 6901 pointer (`""` or starting with `/`).
fn parse_pointer(text: &str) -> Result<Vec<PathSeg>, String> {
    let Some(rest) = text.strip_prefix('/') else {
        return Ok(Vec::new());
    };
    rest.split('/')
        .map(|token| {
            let mut name = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    name.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => name.push('~'),
                    Some('1') => name.push('/'),
                    _ => return Err("`~` must be followed by 0 or 1 (`~0` is ~, `~1` is /)".into()),
                }
            }
            Ok(pointer_token(name))
        })
        .collect()
}

/// Classifies an unescaped pointer token: RFC 6901 array indices are `0` or
/// digits without a leading zero; anything else (including indices too large
/// for `usize`) can only be a member name.
fn pointer_token(name: String) -> PathSeg {
    if name == "-" {
        return PathSeg::End;
    }
    let canonical = name == "0"
        || (!name.starts_with('0') && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()));
    match name.parse() {
        Ok(index) if canonical => PathSeg::Index(index),
        _ => PathSeg::Key(name),
    }
}

/// Formats a path as a selector: `$`, `$.a.b[0]`, `$["odd key"]`, `$.a[-]`.
/// [`parse_path`] reads the result back to the same segments.
pub fn format_path(segs: &[PathSeg]) -> String {
    let mut out = String::from("$");
    for seg in segs {
        match seg {
            PathSeg::Key(key) if is_plain_name(key) => {
                out.push('.');
                out.push_str(key);
            }
            PathSeg::Key(key) => {
                out.push('[');
                out.push_str(&quote(key));
                out.push(']');
            }
            PathSeg::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
            PathSeg::End => out.push_str("[-]"),
        }
    }
    out
}

/// Names that read back unchanged after a `.` (the parser stops at `.[]`).
fn is_plain_name(key: &str) -> bool {
    !key.is_empty()
        && key != "*"
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

// --------------------------------------------------------------- applying --

/// Applies `ops` in order to a copy of `doc`; returns the patched copy, or
/// the first error (and nothing else: all or nothing).
pub fn apply_patch(
    doc: &Map<String, Value>,
    ops: &[PatchOp],
) -> Result<Map<String, Value>, PatchError> {
    if ops.len() > MAX_OPS {
        return Err(bad(
            "$",
            format!(
                "a patch holds at most {MAX_OPS} operations, this one has {}",
                ops.len()
            ),
        ));
    }
    let mut root = Value::Object(doc.clone());
    let mut state = State {
        depth_bound: measure_depth(&root),
        copy_budget: MAX_COPY_WEIGHT,
    };
    for (i, op) in ops.iter().enumerate() {
        state.apply(&mut root, op).map_err(|mut e| {
            e.message = format!("operation $[{i}] ({}): {}", op.describe(), e.message);
            e
        })?;
    }
    match root {
        Value::Object(map) => Ok(map),
        // Unreachable: every root write is refused above; kept panic-free.
        _ => Err(error(
            PatchErrorKind::Forbidden,
            "$",
            "the document root must stay an object",
        )),
    }
}

/// Bookkeeping that bounds the work of one patch.
struct State {
    /// Upper bound of the document's nesting depth (never lowered by removals;
    /// it only spares re-measuring values that cannot be too deep).
    depth_bound: usize,
    /// Weight `copy` may still duplicate.
    copy_budget: usize,
}

static NULL: Value = Value::Null;

impl State {
    fn apply(&mut self, root: &mut Value, op: &PatchOp) -> Result<(), PatchError> {
        check_engine_fields(op.path())?;
        if let Some(from) = op.from() {
            check_engine_fields(from)?;
        }
        if !matches!(op, PatchOp::Test { .. }) && (op.path().is_empty() || op.from() == Some(&[])) {
            return Err(error(
                PatchErrorKind::Forbidden,
                "$",
                "the whole document cannot be written, moved or copied (it holds `_id` and `_meta`, which the engine maintains); patch its fields instead",
            ));
        }
        match op {
            PatchOp::Test { path, value } => {
                let target = locate(root, path)?;
                // Lenient: a missing member reads as null (see module docs).
                if !json_eq(target.get(true)?, value) {
                    return Err(error(
                        PatchErrorKind::TestFailed,
                        target.at,
                        "the value differs from the expected one",
                    ));
                }
            }
            PatchOp::Add { path, value } => {
                let target = locate(root, path)?;
                self.note_depth(path, measure_depth(value))?;
                target.add(value.clone())?;
            }
            PatchOp::Remove { path } => {
                locate(root, path)?.remove()?;
            }
            PatchOp::Replace { path, value } => {
                let target = locate(root, path)?;
                self.note_depth(path, measure_depth(value))?;
                target.replace(value.clone())?;
            }
            PatchOp::Move { from, path } => {
                if same_path(from, path) {
                    // RFC 6902: a no-op, but `from` must still exist.
                    locate(root, from)?.get(false)?;
                    return Ok(());
                }
                if from.len() < path.len() && same_path(from, &path[..from.len()]) {
                    return Err(bad(
                        format_path(path),
                        format!("cannot move {} into its own child", format_path(from)),
                    ));
                }
                let value = locate(root, from)?.remove()?;
                let depth = self.moved_depth(from, path, &value)?;
                let target = locate(root, path)?;
                self.note_depth(path, depth)?;
                target.add(value)?;
            }
            PatchOp::Copy { from, path } => {
                let source = locate(root, from)?;
                let original = source.get(false)?;
                // Charge before cloning: the clone is the expensive part.
                let size = self.charge(original, from)?;
                let value = original.clone();
                let target = locate(root, path)?;
                self.note_depth(path, size.depth)?;
                target.add(value)?;
            }
        }
        Ok(())
    }

    /// Depth of a value moved from `from` to `path`. The document bound
    /// usually proves it shallow enough; otherwise it is measured, which walks
    /// the value and so is charged to the copy budget like a copy.
    fn moved_depth(
        &mut self,
        from: &[PathSeg],
        path: &[PathSeg],
        value: &Value,
    ) -> Result<usize, PatchError> {
        let bound = self.depth_bound.saturating_sub(from.len());
        if path.len().saturating_add(bound) <= MAX_DEPTH {
            return Ok(bound);
        }
        let size = self.charge(value, path)?;
        Ok(size.depth)
    }

    /// Measures `value` against the remaining copy budget and spends it.
    fn charge(&mut self, value: &Value, at: &[PathSeg]) -> Result<Size, PatchError> {
        let Some(size) = measure(value, self.copy_budget) else {
            return Err(bad(
                format_path(at),
                format!(
                    "the patch copies more than {MAX_COPY_WEIGHT} units of data (nodes plus string bytes)"
                ),
            ));
        };
        self.copy_budget -= size.weight;
        Ok(size)
    }

    /// Refuses a value of nesting `depth` at `path` if the result would nest
    /// deeper than [`MAX_DEPTH`]; otherwise records the new depth bound.
    fn note_depth(&mut self, path: &[PathSeg], depth: usize) -> Result<(), PatchError> {
        let total = path.len().saturating_add(depth);
        if total > MAX_DEPTH {
            return Err(bad(
                format_path(path),
                format!(
                    "the document would nest {total} levels deep; at most {MAX_DEPTH} are allowed"
                ),
            ));
        }
        self.depth_bound = self.depth_bound.max(total);
        Ok(())
    }
}

/// Refuses paths into the engine-maintained `_id` and `_meta`.
fn check_engine_fields(path: &[PathSeg]) -> Result<(), PatchError> {
    if let Some(PathSeg::Key(name)) = path.first()
        && (name == "_id" || name == "_meta")
    {
        return Err(error(
            PatchErrorKind::Forbidden,
            format_path(path),
            format!("`{name}` is maintained by the engine and cannot be patched"),
        ));
    }
    Ok(())
}

/// Member name a segment stands for when applied to an object.
fn member_name(seg: &PathSeg) -> Cow<'_, str> {
    match seg {
        PathSeg::Key(key) => Cow::Borrowed(key),
        PathSeg::Index(index) => Cow::Owned(index.to_string()),
        PathSeg::End => Cow::Borrowed("-"),
    }
}

/// Whether two paths name the same location in every document (an index and
/// its decimal name only differ on arrays, where a name never resolves).
fn same_path(a: &[PathSeg], b: &[PathSeg]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (PathSeg::Index(_), PathSeg::End) | (PathSeg::End, PathSeg::Index(_)) => false,
            _ => member_name(x) == member_name(y),
        })
}

/// Where a path ends: the slot an operation reads, writes or removes.
enum Slot<'a> {
    Member(&'a mut Map<String, Value>, String),
    Element(&'a mut Vec<Value>, usize),
    Append(&'a mut Vec<Value>),
    Root(&'a mut Value),
}

/// A slot plus its path (as resolved in this document) for error messages.
struct Located<'a> {
    slot: Slot<'a>,
    at: String,
}

/// Walks `path` from `root` (iteratively) to the slot of its last segment.
/// Every segment but the last must name an existing node.
fn locate<'a>(root: &'a mut Value, path: &[PathSeg]) -> Result<Located<'a>, PatchError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(Located {
            slot: Slot::Root(root),
            at: "$".into(),
        });
    };
    // Segments as they resolve here (an index on an object is a name), so the
    // error path is the one the client would see in the document.
    let mut resolved = Vec::with_capacity(path.len());
    let mut node = root;
    for seg in parents {
        resolved.push(resolve(node, seg));
        node = match node {
            Value::Object(map) => {
                let name = member_name(seg);
                match map.get_mut(name.as_ref()) {
                    Some(child) => child,
                    None => {
                        let why =
                            format!("{} has no member {}", parent_of(&resolved), quote(&name));
                        return Err(no_such(format_path(&resolved), why));
                    }
                }
            }
            Value::Array(items) => match seg {
                PathSeg::Index(index) if *index < items.len() => &mut items[*index],
                _ => {
                    let why = element_missing(&parent_of(&resolved), seg, items.len());
                    return Err(no_such(format_path(&resolved), why));
                }
            },
            scalar => {
                let why = not_a_container(&parent_of(&resolved), scalar);
                return Err(no_such(format_path(&resolved), why));
            }
        };
    }
    resolved.push(resolve(node, last));
    let at = format_path(&resolved);
    let slot = match node {
        Value::Object(map) => Slot::Member(map, member_name(last).into_owned()),
        Value::Array(items) => match last {
            PathSeg::Index(index) => Slot::Element(items, *index),
            PathSeg::End => Slot::Append(items),
            PathSeg::Key(_) => {
                let why = element_missing(&parent_of(&resolved), last, items.len());
                return Err(no_such(at, why));
            }
        },
        scalar => {
            let why = not_a_container(&parent_of(&resolved), scalar);
            return Err(no_such(at, why));
        }
    };
    Ok(Located { slot, at })
}

/// Formatted path of the parent of the last resolved segment. Formatting
/// only on error keeps walking a long path linear.
fn parent_of(resolved: &[PathSeg]) -> String {
    format_path(&resolved[..resolved.len().saturating_sub(1)])
}

/// A segment as it applies to `node` (names on objects, as-is otherwise).
fn resolve(node: &Value, seg: &PathSeg) -> PathSeg {
    match node {
        Value::Object(_) => PathSeg::Key(member_name(seg).into_owned()),
        _ => seg.clone(),
    }
}

fn element_missing(array_path: &str, seg: &PathSeg, len: usize) -> String {
    match seg {
        PathSeg::Index(index) => format!("{array_path} has {len} elements, none at index {index}"),
        PathSeg::End => {
            format!("`-` names no element of {array_path}; it only appends (add, move, copy)")
        }
        PathSeg::Key(key) => format!("{array_path} is an array; {} is not an index", quote(key)),
    }
}

fn not_a_container(path: &str, scalar: &Value) -> String {
    let kind = match scalar {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) | Value::Object(_) => "a container",
    };
    format!("{path} is {kind}, which has no members or elements")
}

impl<'a> Located<'a> {
    /// The value in the slot; with `lenient`, a missing member reads as null.
    fn get(&self, lenient: bool) -> Result<&Value, PatchError> {
        match &self.slot {
            Slot::Member(map, name) => match map.get(name) {
                Some(value) => Ok(value),
                None if lenient => Ok(&NULL),
                None => Err(no_such(&self.at, "no such member")),
            },
            Slot::Element(items, index) => items.get(*index).ok_or_else(|| {
                no_such(&self.at, format!("the array has {} elements", items.len()))
            }),
            Slot::Append(_) => Err(no_such(&self.at, "`-` names no element; it only appends")),
            Slot::Root(value) => Ok(value),
        }
    }

    /// RFC 6902 `add`: set a member, insert before an index, or append.
    fn add(self, value: Value) -> Result<(), PatchError> {
        match self.slot {
            Slot::Member(map, name) => {
                map.insert(name, value);
            }
            Slot::Element(items, index) if index <= items.len() => items.insert(index, value),
            Slot::Element(items, _) => {
                return Err(no_such(
                    self.at,
                    format!("past the end: the array has {} elements", items.len()),
                ));
            }
            Slot::Append(items) => items.push(value),
            Slot::Root(root) => *root = value,
        }
        Ok(())
    }

    /// RFC 6902 `remove`; returns the removed value (for `move`).
    fn remove(self) -> Result<Value, PatchError> {
        match self.slot {
            // shift_remove keeps the other members in their order.
            Slot::Member(map, name) => map
                .shift_remove(&name)
                .ok_or_else(|| no_such(self.at, "no such member")),
            Slot::Element(items, index) if index < items.len() => Ok(items.remove(index)),
            Slot::Element(items, _) => Err(no_such(
                self.at,
                format!("the array has {} elements", items.len()),
            )),
            Slot::Append(_) => Err(no_such(self.at, "`-` names no element; it only appends")),
            Slot::Root(root) => Ok(std::mem::take(root)),
        }
    }

    /// RFC 6902 `replace`, except that a missing member counts as present
    /// (null) and is set (see module docs).
    fn replace(self, value: Value) -> Result<(), PatchError> {
        match self.slot {
            Slot::Member(map, name) => {
                map.insert(name, value);
            }
            Slot::Element(items, index) if index < items.len() => items[index] = value,
            Slot::Element(items, _) => {
                return Err(no_such(
                    self.at,
                    format!("the array has {} elements", items.len()),
                ));
            }
            Slot::Append(_) => {
                return Err(no_such(self.at, "`-` names no element; it only appends"));
            }
            Slot::Root(root) => *root = value,
        }
        Ok(())
    }
}

/// Size of a value: `weight` (nodes + string and name bytes) and `depth`
/// (nested containers; a scalar is 0, `[]` is 1).
struct Size {
    weight: usize,
    depth: usize,
}

/// Measures `value` iteratively; `None` as soon as the weight exceeds `limit`.
fn measure(value: &Value, limit: usize) -> Option<Size> {
    let mut size = Size {
        weight: 0,
        depth: 0,
    };
    // (value, number of containers around it)
    let mut stack = vec![(value, 0usize)];
    while let Some((value, outer)) = stack.pop() {
        size.weight = size.weight.saturating_add(1);
        match value {
            Value::String(text) => size.weight = size.weight.saturating_add(text.len()),
            Value::Array(items) => {
                size.depth = size.depth.max(outer + 1);
                stack.extend(items.iter().map(|item| (item, outer + 1)));
            }
            Value::Object(map) => {
                size.depth = size.depth.max(outer + 1);
                for (name, item) in map {
                    size.weight = size.weight.saturating_add(name.len());
                    stack.push((item, outer + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if size.weight > limit {
            return None;
        }
    }
    Some(size)
}

/// Nesting depth of `value` (see [`Size`]).
fn measure_depth(value: &Value) -> usize {
    measure(value, usize::MAX).map_or(usize::MAX, |size| size.depth)
}

/// JSON equality, iteratively: numbers by value, object members in any order.
fn json_eq(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some(pair) = stack.pop() {
        match pair {
            (Value::Null, Value::Null) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::Number(x), Value::Number(y)) if number_eq(x, y) => {}
            (Value::String(x), Value::String(y)) if x == y => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (name, value) in x {
                    match y.get(name) {
                        Some(other) => stack.push((value, other)),
                        None => return false,
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

/// Numeric equality by value: integers exactly, an integer and a float only
/// if the float is integral and equal (no rounding through f64, which would
/// make 2^53 + 1 equal 2^53).
fn number_eq(x: &Number, y: &Number) -> bool {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    fn int_float_eq(i: i128, f: f64) -> bool {
        // 2^127 bounds i128; integral floats below it convert exactly.
        f.fract() == 0.0 && f.abs() < 1.7e38 && f as i128 == i
    }
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a == b,
        (Some(a), None) => y.as_f64().is_some_and(|f| int_float_eq(a, f)),
        (None, Some(b)) => x.as_f64().is_some_and(|f| int_float_eq(b, f)),
        (None, None) => x.as_f64() == y.as_f64(),
    }
}
