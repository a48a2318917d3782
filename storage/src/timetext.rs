//! A `datetime` field's text, stored in a few bytes when it is in one of
//! the UTC forms most writers use, and given back exactly as it was sent.
//!
//! A stored `datetime` is the string the client wrote (any RFC 3339 form
//! is valid, and reads return it unchanged). As a msgpack string,
//! `2015-08-24T16:11:00Z` takes 21 bytes. When the text is exactly
//! `YYYY-MM-DDTHH:MM:SS` then `Z`, `.fffZ` or `.ffffffZ` (upper-case `T`
//! and `Z`, a real calendar date, seconds below 60), the row holds a
//! msgpack extension instead:
//!
//! ```text
//! fixext4 (d6) · type · u32 BE   — the number, when it fits in a u32
//! fixext8 (d7) · type · i64 BE   — otherwise
//! type 1: whole seconds since the epoch, written `…:SSZ`
//! type 2: milliseconds, written `…:SS.fffZ`
//! type 3: microseconds, written `…:SS.ffffffZ`
//! ```
//!
//! Invariant: [`parse`] and [`write`] are inverse on the texts `parse`
//! takes, so decoding never changes a value; any other text stays a
//! string. The forms are checked byte by byte rather than through an
//! RFC 3339 parser so that, for instance, `…:00z` or `…+00:00` (the same
//! instant, other text) stay strings.

/// Extension types of packed datetime text (see the module doc).
pub(crate) const SECONDS: i8 = 1;
pub(crate) const MILLIS: i8 = 2;
pub(crate) const MICROS: i8 = 3;

/// The extension type and number of a text in one of the packed forms.
pub(crate) fn parse(s: &[u8]) -> Option<(i8, i64)> {
    let (ty, per_second, frac_digits) = match s.len() {
        20 => (SECONDS, 1, 0),
        24 => (MILLIS, 1_000, 3),
        27 => (MICROS, 1_000_000, 6),
        _ => return None,
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| s[i] != c) || s[s.len() - 1] != b'Z' {
        return None;
    }
    if frac_digits > 0 && s[19] != b'.' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let (hour, minute, second) = (
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
    );
    let frac = if frac_digits > 0 {
        digits(&s[20..20 + frac_digits])?
    } else {
        0
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((ty, seconds * per_second + frac))
}

/// Appends the text of a packed datetime; `None` for an unknown type or a
/// number outside years 0000–9999 (neither is written).
pub(crate) fn write(ty: i8, n: i64, out: &mut Vec<u8>) -> Option<()> {
    let (per_second, frac_digits) = match ty {
        SECONDS => (1, 0),
        MILLIS => (1_000, 3),
        MICROS => (1_000_000, 6),
        _ => return None,
    };
    let (seconds, frac) = (n.div_euclid(per_second), n.rem_euclid(per_second));
    let (days, in_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    put_digits(out, year, 4);
    out.push(b'-');
    put_digits(out, month, 2);
    out.push(b'-');
    put_digits(out, day, 2);
    out.push(b'T');
    put_digits(out, in_day / 3_600, 2);
    out.push(b':');
    put_digits(out, in_day / 60 % 60, 2);
    out.push(b':');
    put_digits(out, in_day % 60, 2);
    if frac_digits > 0 {
        out.push(b'.');
        put_digits(out, frac, frac_digits);
    }
    out.push(b'Z');
    Some(())
}

/// The text of a packed datetime, as a `String`.
pub(crate) fn text(ty: i8, n: i64) -> Option<String> {
    let mut out = Vec::with_capacity(27);
    write(ty, n, &mut out)?;
    // Only ASCII digits and separators were written.
    Some(String::from_utf8(out).expect("ASCII"))
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn put_digits(out: &mut Vec<u8>, n: i64, width: u32) {
    for i in (0..width).rev() {
        out.push(b'0' + (n / 10i64.pow(i) % 10) as u8);
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm; eras of 400 years).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat};
    use proptest::prelude::*;

    #[test]
    fn the_three_forms_pack_and_others_stay_text() {
        assert_eq!(parse(b"1970-01-01T00:00:00Z"), Some((SECONDS, 0)));
        assert_eq!(parse(b"1970-01-01T00:00:01.500Z"), Some((MILLIS, 1_500)));
        assert_eq!(parse(b"1969-12-31T23:59:59.999999Z"), Some((MICROS, -1)));
        assert_eq!(parse(b"0000-01-01T00:00:00Z").map(|p| p.0), Some(SECONDS));
        assert_eq!(parse(b"9999-12-31T23:59:59Z").map(|p| p.0), Some(SECONDS));
        for other in [
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00.1Z",
            "2024-01-01T00:00:00.123456789Z",
            "2024-01-01T00:00:60Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:00,000Z",
            "+024-01-01T00:00:00Z",
            "2024-01-01T00:00:0aZ",
        ] {
            assert_eq!(parse(other.as_bytes()), None, "{other}");
        }
        assert!(parse(b"2024-02-29T00:00:00Z").is_some());
        assert!(parse(b"2000-02-29T00:00:00Z").is_some());
        assert!(parse(b"1900-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn numbers_outside_the_four_digit_years_and_unknown_types_have_no_text() {
        assert_eq!(text(SECONDS, i64::MAX), None);
        assert_eq!(text(MICROS, i64::MIN), None);
        assert_eq!(text(4, 0), None);
        assert_eq!(text(0, 0), None);
    }

    proptest! {
        /// Whatever the text, a packed one comes back byte for byte, and
        /// means the instant an RFC 3339 parser reads in it.
        #[test]
        fn packed_text_comes_back_exactly(
            us in -62_167_219_200_000_000i64..253_402_300_800_000_000,
            form in 0..3usize,
        ) {
            let t = DateTime::from_timestamp_micros(us).unwrap();
            let f = [SecondsFormat::Secs, SecondsFormat::Millis, SecondsFormat::Micros][form];
            let s = t.to_rfc3339_opts(f, true);
            let (ty, n) = parse(s.as_bytes()).unwrap();
            prop_assert_eq!(text(ty, n).unwrap(), s.clone());
            let per = [1_000_000, 1_000, 1][form];
            let parsed = DateTime::parse_from_rfc3339(&s).unwrap().timestamp_micros();
            prop_assert_eq!(n * per, parsed);
        }

        /// In the packed forms' shape, a text packs exactly when it is a
        /// valid RFC 3339 date-time (the 30th of February is not), and
        /// comes back as it was.
        #[test]
        fn a_text_packs_when_valid_and_comes_back(
            s in "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{3}|\\.[0-9]{6})?Z"
        ) {
            let valid = DateTime::parse_from_rfc3339(&s).is_ok();
            match parse(s.as_bytes()) {
                Some((ty, n)) => prop_assert_eq!(text(ty, n).unwrap(), s.clone()),
                None => prop_assert!(!valid, "{} is valid", s),
            }
            prop_assert_eq!(parse(s.as_bytes()).is_some(), valid);
        }
    }
}
