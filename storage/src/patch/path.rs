//! Patch paths: `$.a.b[0]` selectors and RFC 6901 `/a/b/0` pointers,
//! parsed into [`PathSeg`]s and printed back (`format_path` and
//! `parse_path` round-trip), plus the shortening used in messages.

use super::PathSeg;
use serde_json::Value;

/// Quotes user text for a message, cut short so errors stay small.
pub(super) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", quote(&text[..cut])),
        None => quote(text),
    }
}

/// JSON string literal for `text`.
pub(super) fn quote(text: &str) -> String {
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
pub(super) fn parse_selector(rest: &str) -> Result<Vec<PathSeg>, String> {
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
                let why = r#"wildcards are not supported; write ["*"] for a member named *"#;
                return Err(why.into());
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
                    let too_large = |_| format!("index too large at offset {}", at + 1);
                    PathSeg::Index(inner.parse().map_err(too_large)?)
                } else {
                    let expected = r#"expected an index, `-` or a "quoted" member name"#;
                    return Err(format!("{expected} inside `[` at offset {at}"));
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
pub(super) fn quoted_len(text: &str) -> Option<usize> {
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
pub(super) fn parse_pointer(text: &str) -> Result<Vec<PathSeg>, String> {
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
pub(super) fn pointer_token(name: String) -> PathSeg {
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
        out.push_str(&match seg {
            PathSeg::Key(key) if is_plain_name(key) => format!(".{key}"),
            PathSeg::Key(key) => format!("[{}]", quote(key)),
            PathSeg::Index(index) => format!("[{index}]"),
            PathSeg::End => "[-]".to_owned(),
        });
    }
    out
}

/// [`format_path`] cut short for messages: a path in a patch body may be
/// arbitrarily long, and error messages should stay small.
pub(super) fn short_path(segs: &[PathSeg]) -> String {
    const MAX_SEGS: usize = 32;
    const MAX_CHARS: usize = 200;
    let text = format_path(&segs[..segs.len().min(MAX_SEGS)]);
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if segs.len() > MAX_SEGS => format!("{text}…"),
        None => text,
    }
}

/// Names that read back unchanged after a `.` (the parser stops at `.[]`).
pub(super) fn is_plain_name(key: &str) -> bool {
    let plain = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    !key.is_empty() && key != "*" && key.chars().all(plain)
}
