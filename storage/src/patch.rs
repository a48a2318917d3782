//! PATCH operations on JSON documents (docs/API.md §6): parsing a patch body into
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
//! * A missing optional field reads as `null` in refdb (docs/API.md §3), so for
//!   `replace` and `test` a missing *object member* counts as present with
//!   value `null`, at the top level and in nested objects alike: `replace`
//!   sets it, `test` compares against `null`. Only the last path segment may
//!   be missing; a missing intermediate (or array element) is still an error.
//! * Paths are selectors (`$`, `$.a.b[0]`, `$["odd key"]`, `[-]` = append) or
//!   RFC 6901 pointers (`""`, `/a/b/0`, `~0`/`~1` escapes, `-` = append).
//!   Because a pointer token like `0` or `-` is a member name on an object and
//!   an index on an array, [`PathSeg::Index`] and [`PathSeg::End`] applied to
//!   an object name the member `"0"` / `"-"`; selectors behave the same way.

mod path;
pub use path::{format_path, parse_path};
use path::{short_path, shorten};

use std::borrow::Cow;

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
        let (name, path) = (self.name(), short_path(self.path()));
        match self.from() {
            Some(from) => format!("{name} {} to {path}", short_path(from)),
            None => format!("{name} {path}"),
        }
    }
}

/// What went wrong. All but `Forbidden` are plain client errors (400);
/// `Forbidden` is what backo reports as a rights error (403) on `_id`/`_meta`.
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
            check_op_count(items.len())?;
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

fn check_op_count(count: usize) -> Result<(), PatchError> {
    if count > MAX_OPS {
        let why = format!("a patch holds at most {MAX_OPS} operations, this one has {count}");
        return Err(bad("$", why));
    }
    Ok(())
}

/// Parses one operation found at `at` in the body. Members other than
/// `op`/`path`/`value`/`from` are ignored, as RFC 6902 §4 requires.
fn parse_op(item: &Value, at: &str) -> Result<PatchOp, PatchError> {
    let Value::Object(obj) = item else {
        let why =
            r#"an operation must be an object such as {"op": "add", "path": "$.a", "value": 1}"#;
        return Err(bad(at, why));
    };
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(_) => return Err(bad(format!("{at}.op"), "`op` must be a string")),
        None => return Err(bad(format!("{at}.op"), "missing member `op`")),
    };
    // Validate `op` before the other members so a typo is reported as such.
    if !matches!(op, "test" | "add" | "remove" | "replace" | "move" | "copy") {
        let expected = "expected test, add, remove, replace, move or copy";
        let why = format!("unknown operation {}; {expected}", shorten(op));
        return Err(bad(format!("{at}.op"), why));
    }
    let read_path = |member: &str| -> Result<Vec<PathSeg>, PatchError> {
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
    // Members are checked in this order: `from`, `path`, `value`.
    let from = match op {
        "move" | "copy" => read_path("from")?,
        _ => Vec::new(),
    };
    let path = read_path("path")?;
    let value = match (op, obj.get("value")) {
        ("test" | "add" | "replace", None) => {
            let why = format!("missing member `value` (`{op}` needs it)");
            return Err(bad(format!("{at}.value"), why));
        }
        // `"value": null` is present; only an absent member is an error.
        (_, value) => value.cloned().unwrap_or(Value::Null),
    };
    Ok(match op {
        "test" => PatchOp::Test { path, value },
        "add" => PatchOp::Add { path, value },
        "remove" => PatchOp::Remove { path },
        "replace" => PatchOp::Replace { path, value },
        "move" => PatchOp::Move { from, path },
        _ => PatchOp::Copy { from, path },
    })
}

// --------------------------------------------------------------- applying --

/// Applies `ops` in order to a copy of `doc`; returns the patched copy, or
/// the first error (and nothing else: all or nothing).
pub fn apply_patch(
    doc: &Map<String, Value>,
    ops: &[PatchOp],
) -> Result<Map<String, Value>, PatchError> {
    check_op_count(ops.len())?;
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
        // Unreachable: every root write is refused; kept panic-free.
        _ => Err(root_forbidden()),
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
            return Err(root_forbidden());
        }
        match op {
            PatchOp::Test { path, value } => {
                let target = locate(root, path)?;
                // Lenient: a missing member reads as null (see module docs).
                if !json_eq(target.get(true)?, value) {
                    let why = "the value differs from the expected one";
                    return Err(error(PatchErrorKind::TestFailed, target.at(), why));
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
                    let why = format!("cannot move {} into its own child", short_path(from));
                    return Err(bad(short_path(path), why));
                }
                let value = locate(root, from)?.remove()?;
                // The document bound usually proves the value shallow enough;
                // measuring walks it, so that is charged like a copy.
                let bound = self.depth_bound.saturating_sub(from.len());
                let depth = if path.len().saturating_add(bound) <= MAX_DEPTH {
                    bound
                } else {
                    self.charge(&value, from)?.depth
                };
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

    /// Measures `value` against the remaining copy budget and spends it.
    fn charge(&mut self, value: &Value, at: &[PathSeg]) -> Result<Size, PatchError> {
        let Some(size) = measure(value, self.copy_budget) else {
            let why =
                format!("the patch copies more than {MAX_COPY_WEIGHT} units (nodes and bytes)");
            return Err(bad(format_path(at), why));
        };
        self.copy_budget -= size.weight;
        Ok(size)
    }

    /// Refuses a value of nesting `depth` at `path` if the result would nest
    /// deeper than [`MAX_DEPTH`]; otherwise records the new depth bound.
    fn note_depth(&mut self, path: &[PathSeg], depth: usize) -> Result<(), PatchError> {
        let total = path.len().saturating_add(depth);
        if total > MAX_DEPTH {
            let why = format!(
                "the document would nest {total} levels deep; at most {MAX_DEPTH} are allowed"
            );
            return Err(bad(format_path(path), why));
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
        let why = format!("`{name}` is maintained by the engine and cannot be patched");
        return Err(error(PatchErrorKind::Forbidden, short_path(path), why));
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

/// A slot plus its path as resolved in this document (an index on an object
/// is a member name), so error paths are the ones the client sees.
struct Located<'a> {
    slot: Slot<'a>,
    resolved: Vec<PathSeg>,
}

/// What a node is, captured before borrowing into it, for error messages.
#[derive(Clone, Copy)]
enum Shape {
    Object,
    Array(usize),
    Scalar(&'static str),
}

impl Shape {
    fn of(node: &Value) -> Shape {
        match node {
            Value::Object(_) => Shape::Object,
            Value::Array(items) => Shape::Array(items.len()),
            Value::Null => Shape::Scalar("null"),
            Value::Bool(_) => Shape::Scalar("a boolean"),
            Value::Number(_) => Shape::Scalar("a number"),
            Value::String(_) => Shape::Scalar("a string"),
        }
    }
}

/// The refusal of any operation but `test` on the document root.
fn root_forbidden() -> PatchError {
    let why = "the whole document cannot be written, moved or copied (it holds `_id` and `_meta`, which the engine maintains); patch its fields instead";
    error(PatchErrorKind::Forbidden, "$", why)
}

/// The NoSuchPath error for the last of `resolved`, whose parent has `shape`.
/// Formatting only on error keeps walking a long path linear.
fn missing(shape: Shape, resolved: &[PathSeg]) -> PatchError {
    let Some((seg, parent)) = resolved.split_last() else {
        return root_forbidden(); // the root always exists; it is only refused
    };
    let parent = format_path(parent);
    let why = match (shape, seg) {
        (Shape::Object, seg) => format!("{parent} has no member {}", shorten(&member_name(seg))),
        (Shape::Array(len), PathSeg::Index(i)) => {
            format!("{parent} has {len} elements, none at index {i}")
        }
        (Shape::Array(_), PathSeg::End) => {
            format!("`-` names no element of {parent}; it only appends (add, move, copy)")
        }
        (Shape::Array(_), PathSeg::Key(key)) => {
            format!("{parent} is an array; {} is not an index", shorten(key))
        }
        (Shape::Scalar(kind), _) => format!("{parent} is {kind}, which has no members or elements"),
    };
    no_such(format_path(resolved), why)
}

/// Walks `path` from `root` (iteratively) to the slot of its last segment.
/// Every segment but the last must name an existing node.
fn locate<'a>(root: &'a mut Value, path: &[PathSeg]) -> Result<Located<'a>, PatchError> {
    let mut resolved = Vec::new(); // grows only as far as the walk gets
    let Some((last, parents)) = path.split_last() else {
        let slot = Slot::Root(root);
        return Ok(Located { slot, resolved });
    };
    let mut node = root;
    for seg in parents {
        let shape = Shape::of(node);
        resolved.push(resolve(node, seg));
        let child = match (node, seg) {
            (Value::Object(map), seg) => map.get_mut(member_name(seg).as_ref()),
            (Value::Array(items), PathSeg::Index(index)) => items.get_mut(*index),
            _ => None,
        };
        node = child.ok_or_else(|| missing(shape, &resolved))?;
    }
    let shape = Shape::of(node);
    resolved.push(resolve(node, last));
    let slot = match (node, last) {
        (Value::Object(map), seg) => Slot::Member(map, member_name(seg).into_owned()),
        (Value::Array(items), PathSeg::Index(index)) => Slot::Element(items, *index),
        (Value::Array(items), PathSeg::End) => Slot::Append(items),
        _ => return Err(missing(shape, &resolved)),
    };
    Ok(Located { slot, resolved })
}

/// A segment as it applies to `node` (names on objects, as-is otherwise).
fn resolve(node: &Value, seg: &PathSeg) -> PathSeg {
    match node {
        Value::Object(_) => PathSeg::Key(member_name(seg).into_owned()),
        _ => seg.clone(),
    }
}

impl Located<'_> {
    fn at(&self) -> String {
        format_path(&self.resolved)
    }

    /// The error for a slot that names nothing (or may not be written).
    fn absent(&self) -> PatchError {
        let shape = match &self.slot {
            Slot::Member(..) | Slot::Root(_) => Shape::Object,
            Slot::Element(items, _) | Slot::Append(items) => Shape::Array(items.len()),
        };
        missing(shape, &self.resolved)
    }

    /// The value in the slot; with `lenient`, a missing member reads as null.
    fn get(&self, lenient: bool) -> Result<&Value, PatchError> {
        let found = match &self.slot {
            Slot::Member(map, name) => map.get(name).or(if lenient { Some(&NULL) } else { None }),
            Slot::Element(items, index) => items.get(*index),
            Slot::Append(_) => None,
            Slot::Root(value) => Some(&**value),
        };
        found.ok_or_else(|| self.absent())
    }

    /// RFC 6902 `add`: set a member, insert before an index (or at the end),
    /// or append.
    fn add(self, value: Value) -> Result<(), PatchError> {
        match self.slot {
            Slot::Member(map, name) => drop(map.insert(name, value)),
            Slot::Element(items, index) if index <= items.len() => items.insert(index, value),
            Slot::Append(items) => items.push(value),
            _ => return Err(self.absent()),
        }
        Ok(())
    }

    /// RFC 6902 `remove`; returns the removed value (for `move`).
    fn remove(mut self) -> Result<Value, PatchError> {
        let removed = match &mut self.slot {
            // shift_remove keeps the other members in their order.
            Slot::Member(map, name) => map.shift_remove(name.as_str()),
            Slot::Element(items, index) if *index < items.len() => Some(items.remove(*index)),
            _ => None,
        };
        removed.ok_or_else(|| self.absent())
    }

    /// RFC 6902 `replace`, except that a missing member counts as present
    /// (null) and is set (see module docs).
    fn replace(self, value: Value) -> Result<(), PatchError> {
        match self.slot {
            Slot::Member(map, name) => drop(map.insert(name, value)),
            Slot::Element(items, index) if index < items.len() => items[index] = value,
            _ => return Err(self.absent()),
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
    let (mut weight, mut depth) = (0usize, 0usize);
    // (value, number of containers around it)
    let mut stack = vec![(value, 0usize)];
    while let Some((value, outer)) = stack.pop() {
        weight = weight.saturating_add(1);
        match value {
            Value::String(text) => weight = weight.saturating_add(text.len()),
            Value::Array(items) => {
                depth = depth.max(outer + 1);
                stack.extend(items.iter().map(|item| (item, outer + 1)));
            }
            Value::Object(map) => {
                depth = depth.max(outer + 1);
                for (name, item) in map {
                    weight = weight.saturating_add(name.len());
                    stack.push((item, outer + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if weight > limit {
            return None;
        }
    }
    Some(Size { weight, depth })
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
    fn int_float_eq(i: i128, f: f64) -> bool {
        // 2^127 bounds i128; integral floats below it convert exactly.
        f.fract() == 0.0 && f.abs() < 1.7e38 && f as i128 == i
    }
    match (x.as_i128(), y.as_i128()) {
        (Some(a), Some(b)) => a == b,
        (Some(a), None) => y.as_f64().is_some_and(|f| int_float_eq(a, f)),
        (None, Some(b)) => x.as_f64().is_some_and(|f| int_float_eq(b, f)),
        (None, None) => x.as_f64() == y.as_f64(),
    }
}
