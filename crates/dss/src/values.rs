//! Converting property values (tokens) into numbers, arrays, matrices and bus
//! references, with OpenDSS's rules. Errors are plain messages; the caller adds
//! file, line, element and property.

use crate::lexer::{split_items, Token};
use crate::model::{BusRef, Connection, LengthUnit};
use crate::rpn;

/// A number; a quoted/bracketed value is evaluated as RPN math, as OpenDSS does.
pub(crate) fn number(token: &Token) -> Result<f64, String> {
    let value = if token.quoted {
        rpn::evaluate(token.text)?
    } else {
        rpn::parse_number(token.text).ok_or_else(|| format!("`{}` is not a number", token.text))?
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("`{}` does not give a finite number", token.text))
    }
}

/// An integer; like OpenDSS (Pascal's `Round`), a real number is rounded half to even.
pub(crate) fn integer(token: &Token) -> Result<i64, String> {
    let value = number(token)?.round_ties_even();
    if value.abs() > 1e12 {
        return Err(format!("`{}` is out of range", token.text));
    }
    Ok(value as i64)
}

/// A count that must be at least `min` (phases, windings, steps…).
pub(crate) fn count(token: &Token, min: usize, max: usize) -> Result<usize, String> {
    let value = integer(token)?;
    if value < min as i64 || value > max as i64 {
        return Err(format!("`{}` must be between {min} and {max}", token.text));
    }
    Ok(value as usize)
}

/// Yes/no as OpenDSS reads it: true when the value starts with `y` or `t`,
/// false otherwise (so `1` is *false*, as in OpenDSS); an empty value is an error.
pub(crate) fn boolean(token: &Token) -> Result<bool, String> {
    match token
        .text
        .trim()
        .bytes()
        .next()
        .map(|b| b.to_ascii_lowercase())
    {
        Some(b'y') | Some(b't') => Ok(true),
        Some(_) => Ok(false),
        None => Err("empty value where yes/no is expected".to_string()),
    }
}

fn item_number(item: &Token) -> Result<f64, String> {
    number(item)
}

/// A list of numbers (`[1 2 3]`, `(1, 2, 3)`, `"1 2"` or a bare `1`).
pub(crate) fn numbers(token: &Token) -> Result<Vec<f64>, String> {
    if !token.quoted {
        return Ok(vec![number(token)?]);
    }
    split_items(token.text)?
        .iter()
        .filter(|item| item.text != "|")
        .map(item_number)
        .collect()
}

/// A list of words (`buses=[a b]`, `conns='wye wye'`).
pub(crate) fn words<'a>(token: &Token<'a>) -> Result<Vec<&'a str>, String> {
    if !token.quoted {
        return Ok(vec![token.text]);
    }
    Ok(split_items(token.text)?
        .into_iter()
        .filter(|item| item.text != "|")
        .map(|item| item.text)
        .collect())
}

/// Which of `words` the value names, allowing abbreviations (`s` → `static`);
/// the first match in `words` order wins, as OpenDSS's own enum lookup does.
pub(crate) fn keyword<'w>(text: &str, words: &[&'w str]) -> Option<&'w str> {
    with_lowercase(text, |lower| {
        if lower.is_empty() {
            return None;
        }
        words
            .iter()
            .find(|w| **w == lower)
            .or_else(|| words.iter().find(|w| w.starts_with(lower)))
            .copied()
    })
}

/// `str::trim` (Unicode whitespace), through the ASCII fast path when the
/// ends are plain ASCII (U+000B is Unicode whitespace but not ASCII whitespace).
pub(crate) fn trim(text: &str) -> &str {
    let trimmed = text.trim_ascii();
    let plain = |b: Option<&u8>| b.map_or(true, |&b| b.is_ascii() && b != 0x0b);
    if plain(trimmed.as_bytes().first()) && plain(trimmed.as_bytes().last()) {
        trimmed
    } else {
        text.trim()
    }
}

/// Runs `f` on `text` trimmed and ASCII-lower-cased, in a stack buffer for
/// short words (keywords, units, names looked up and not kept).
pub(crate) fn with_lowercase<R>(text: &str, f: impl FnOnce(&str) -> R) -> R {
    let text = trim(text);
    let mut buf = [0u8; 64];
    if let Some(bytes) = buf.get_mut(..text.len()) {
        bytes.copy_from_slice(text.as_bytes());
        bytes.make_ascii_lowercase();
        // SAFETY: `bytes` is a copy of the whole of `text` (valid UTF-8) with
        // only its ASCII upper-case letters changed into other ASCII bytes,
        // which keeps it valid UTF-8 (multi-byte sequences have no ASCII
        // bytes). No validation pass per keyword (one per statement or two).
        return f(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    f(&text.to_ascii_lowercase())
}

/// A symmetric matrix of order `n`, read as OpenDSS's `ParseAsSymMatrix` does:
/// rows are separated by `|`; value `j` of row `i` sets both (i, j) and (j, i),
/// later rows overriding earlier ones, so the lower triangle
/// (`1 | 2 3 | 4 5 6`) and the full matrix both work. A row with more than `n`
/// values is an error; rows after the `n`-th are ignored; missing entries are 0.
/// Returned full, row-major.
pub(crate) fn symmetric_matrix(token: &Token, n: usize) -> Result<Vec<f64>, String> {
    let items = if token.quoted {
        split_items(token.text)?
    } else {
        vec![*token]
    };
    let mut full = vec![0.0; n * n];
    for (i, row) in items.split(|item| item.text == "|").take(n).enumerate() {
        if row.len() > n {
            return Err(format!(
                "row {} has {} values; the matrix is of order {n}",
                i + 1,
                row.len()
            ));
        }
        for (j, item) in row.iter().enumerate() {
            let v = item_number(item)?;
            full[i * n + j] = v;
            full[j * n + i] = v;
        }
    }
    Ok(full)
}

/// `671.1.2.3` → bus `671`, nodes [1, 2, 3]. Bus names are lower-cased.
pub(crate) fn bus(text: &str) -> Result<BusRef, String> {
    let text = trim(text);
    let bytes = text.as_bytes();
    let dot = bytes.iter().position(|&b| b == b'.').unwrap_or(bytes.len());
    if dot == 0 {
        return Err(format!("`{text}` has no bus name"));
    }
    let name = text[..dot].to_ascii_lowercase();
    // One pass over the node part, byte by byte (a large feeder has a bus spec
    // per terminal): `.` ends a node; plain digits are read directly; anything
    // else goes through `parse` (which also takes `+2`, and says what is wrong).
    let rest = &bytes[dot..];
    let mut nodes = Vec::new();
    if rest.len() <= 1 {
        return Ok(BusRef { bus: name, nodes });
    }
    nodes.reserve_exact(rest.iter().filter(|&&b| b == b'.').count());
    let mut start = dot + 1;
    while start <= bytes.len() {
        let end = bytes[start..].iter().position(|&b| b == b'.').map_or(bytes.len(), |n| start + n);
        let part = &bytes[start..end];
        start = end + 1;
        if part.is_empty() {
            continue;
        }
        let node: usize = if part.len() <= 18 && part.iter().all(u8::is_ascii_digit) {
            part.iter().fold(0, |n, &b| n * 10 + usize::from(b - b'0'))
        } else {
            let part = &text[end - part.len()..end];
            part.parse()
                .map_err(|_| format!("`{part}` in bus `{text}` is not a node number"))?
        };
        if node > 1000 {
            return Err(format!("node {node} in bus `{text}` is out of range"));
        }
        nodes.push(node);
    }
    Ok(BusRef { bus: name, nodes })
}

pub(crate) fn connection(text: &str) -> Result<Connection, String> {
    with_lowercase(text, |lower| match lower {
        "w" | "wye" | "y" | "ln" | "star" => Ok(Connection::Wye),
        "d" | "delta" | "ll" => Ok(Connection::Delta),
        _ if lower.starts_with('w') || lower.starts_with('y') => Ok(Connection::Wye),
        _ if lower.starts_with('d') => Ok(Connection::Delta),
        _ => Err(format!("`{text}` is not a connection (wye/delta/ln/ll)")),
    })
}

pub(crate) fn length_unit(text: &str) -> Result<LengthUnit, String> {
    with_lowercase(text, |lower| Ok(match lower {
        "none" | "" => LengthUnit::None,
        "mi" | "mile" | "miles" => LengthUnit::Mi,
        "kft" => LengthUnit::Kft,
        "km" => LengthUnit::Km,
        "m" | "meter" | "meters" => LengthUnit::M,
        "ft" | "feet" | "foot" => LengthUnit::Ft,
        "in" | "inch" | "inches" => LengthUnit::In,
        "cm" => LengthUnit::Cm,
        "mm" => LengthUnit::Mm,
        _ => {
            return Err(format!(
                "`{text}` is not a length unit (none, mi, kft, km, m, ft, in, cm, mm)"
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercased_keywords_keep_non_ascii_text() {
        assert_eq!(with_lowercase("  WyE ", |s| s.to_string()), "wye");
        assert_eq!(with_lowercase("ÉtÉ-KFT", |s| s.to_string()), "ÉtÉ-kft");
        assert_eq!(with_lowercase("Km\u{1F600}", |s| s.to_string()), "km\u{1F600}");
        let long = "X".repeat(100);
        assert_eq!(with_lowercase(&long, |s| s.to_string()), "x".repeat(100));
    }

    fn quoted(text: &str) -> Token<'_> {
        Token { text, quoted: true }
    }

    #[test]
    fn symmetric_matrices_read_like_opendss() {
        let lower = symmetric_matrix(&quoted("1 | 2 3 | 4 5 6"), 3).unwrap();
        assert_eq!(lower, vec![1.0, 2.0, 4.0, 2.0, 3.0, 5.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            symmetric_matrix(&quoted("1 2 4 | 2 3 5 | 4 5 6"), 3).unwrap(),
            lower
        );
        // Later rows override: OpenDSS gives [1 |7 3 |9 8 6].
        let m = symmetric_matrix(&quoted("1 2 4 | 7 3 5 | 9 8 6"), 3).unwrap();
        assert_eq!(m, vec![1.0, 7.0, 9.0, 7.0, 3.0, 8.0, 9.0, 8.0, 6.0]);
        assert_eq!(
            symmetric_matrix(&quoted("1 2 | 3"), 2).unwrap(),
            vec![1.0, 3.0, 3.0, 0.0]
        );
        assert_eq!(
            symmetric_matrix(&quoted("1"), 3).unwrap(),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            symmetric_matrix(&quoted("1 | 0.5 1 | 0.5 0.5 1"), 1).unwrap(),
            vec![1.0]
        );
        assert!(symmetric_matrix(&quoted("1 2 3"), 2).is_err());
        assert!(symmetric_matrix(&quoted("1 2 3 4 5 6"), 3).is_err());
    }

    #[test]
    fn buses() {
        assert_eq!(
            bus("RG60.1.2.3").unwrap(),
            BusRef {
                bus: "rg60".into(),
                nodes: vec![1, 2, 3]
            }
        );
        assert_eq!(
            bus("SourceBus").unwrap(),
            BusRef {
                bus: "sourcebus".into(),
                nodes: vec![]
            }
        );
        assert!(bus(".1").is_err());
        assert!(bus("a.x").is_err());
    }

    #[test]
    fn arrays_accept_commas_and_rpn_items() {
        assert_eq!(
            numbers(&quoted("115, 4.16, .48")).unwrap(),
            vec![115.0, 4.16, 0.48]
        );
        assert_eq!(numbers(&quoted("(1 2 +) 4")).unwrap(), vec![3.0, 4.0]);
    }
}
