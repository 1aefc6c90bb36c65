//! Splits one script line into parameters the way OpenDSS's parser does:
//! `name=value` or bare `value`, separated by blanks or commas; values may be
//! quoted with `"…"`, `'…'`, `(…)`, `[…]` or `{…}` (no nesting, as in OpenDSS);
//! `!` and `//` start a comment outside quotes.

/// One value as written, without its quotes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    /// Whether it was enclosed in quotes or brackets. OpenDSS evaluates a
    /// quoted scalar as in-line RPN math (`(8 1000 /)`).
    pub quoted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Param<'a> {
    pub name: Option<&'a str>,
    pub value: Token<'a>,
}

fn closing_quote(open: u8) -> Option<u8> {
    match open {
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b'(' => Some(b')'),
        b'[' => Some(b']'),
        b'{' => Some(b'}'),
        _ => None,
    }
}

/// Byte classes, looked up instead of tested one comparison at a time
/// (scripts are long lines padded with blanks).
const BLANK: u8 = 1;
/// Ends an unquoted token on a line: a blank, `,`, `=` or `!`.
const LINE_STOP: u8 = 2;
/// Ends an unquoted array item: a blank, `,` or `|`.
const ITEM_STOP: u8 = 4;
/// Separates parameters on a line: a blank or `,`.
const SEPARATOR: u8 = 8;
/// Opens a quoted value: `"`, `'`, `(`, `[` or `{`.
const QUOTE: u8 = 16;

const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let blanks = [b' ', b'\t', b'\r', b'\n', 0x0c];
    let mut i = 0;
    while i < blanks.len() {
        table[blanks[i] as usize] = BLANK | LINE_STOP | ITEM_STOP | SEPARATOR;
        i += 1;
    }
    table[b',' as usize] = LINE_STOP | ITEM_STOP | SEPARATOR;
    table[b'=' as usize] = LINE_STOP;
    table[b'!' as usize] = LINE_STOP;
    table[b'|' as usize] = ITEM_STOP;
    let quotes = [b'"', b'\'', b'(', b'[', b'{'];
    let mut i = 0;
    while i < quotes.len() {
        table[quotes[i] as usize] = QUOTE;
        i += 1;
    }
    table
};

/// Length of the leading run of `bytes` in `class`.
#[inline(always)]
fn count_while(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|&b| BYTE_CLASS[b as usize] & class == 0)
        .unwrap_or(bytes.len())
}

/// Length of the leading run of `bytes` not in `class`.
#[inline(always)]
fn count_until(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|&b| BYTE_CLASS[b as usize] & class != 0)
        .unwrap_or(bytes.len())
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_blanks(&mut self) {
        self.pos += count_while(&self.bytes[self.pos..], BLANK);
    }

    /// Reads one token starting at the cursor (blanks already skipped).
    fn token(&mut self) -> Result<Token<'a>, String> {
        let start = self.pos;
        if let Some(close) = self.bytes.get(start).and_then(|&b| closing_quote(b)) {
            let inner_start = start + 1;
            match self.bytes[inner_start..].iter().position(|&b| b == close) {
                Some(len) => {
                    self.pos = inner_start + len + 1;
                    return Ok(Token {
                        text: &self.text[inner_start..inner_start + len],
                        quoted: true,
                    });
                }
                None => {
                    return Err(format!(
                        "unterminated quote: `{}` has no closing `{}`",
                        self.bytes[start] as char, close as char
                    ))
                }
            }
        }
        self.pos += count_until(&self.bytes[self.pos..], LINE_STOP);
        Ok(Token {
            text: &self.text[start..self.pos],
            quoted: false,
        })
    }
}

/// Splits a line (already known not to be inside a block comment).
pub(crate) fn split_line(line: &str) -> Result<Vec<Param<'_>>, String> {
    let mut params = Vec::new();
    split_line_into(line, &mut params)?;
    Ok(params)
}

/// Index of the first byte at or after `pos` that is not in `class` (or the
/// length). `class` includes the blank: a run of two or more (the column
/// padding of large feeders' scripts, tens of blanks per field) is skipped
/// eight spaces at a time.
#[inline(always)]
fn skip_class(bytes: &[u8], mut pos: usize, class: u8) -> usize {
    let in_class = |pos: usize| bytes.get(pos).is_some_and(|&b| BYTE_CLASS[b as usize] & class != 0);
    // Most separators are one byte: checked before any word is loaded.
    if !in_class(pos) {
        return pos;
    }
    pos += 1;
    if !in_class(pos) {
        return pos;
    }
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    while let Some(word) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        if u64::from_le_bytes(*word) != SPACES {
            break;
        }
        pos += 8;
    }
    while in_class(pos) {
        pos += 1;
    }
    pos
}

/// The lines of `text` as [`str::lines`] gives them (split at `\n`, a `\r`
/// before it dropped), finding each line end eight bytes at a time.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let (line_end, next) = match find_newline(bytes, start) {
            Some(at) => (if at > start && bytes[at - 1] == b'\r' { at - 1 } else { at }, at + 1),
            None => (bytes.len(), bytes.len()),
        };
        // Both ends are at ASCII bytes (`\r`, `\n`) or the ends of the text.
        let line = ascii_bounded(text, start, line_end);
        start = next;
        Some(line)
    })
}

/// Position of the first `\n` at or after `from`: eight bytes per step (a
/// word has a zero byte where it equals eight newlines; the lowest flagged
/// byte is the first one), then byte by byte for the tail.
fn find_newline(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut at = from;
    while let Some(word) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*word) ^ NEWLINES;
        let zero_bytes = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero_bytes != 0 {
            return Some(at + (zero_bytes.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes.get(at..)?.iter().position(|&b| b == b'\n').map(|k| at + k)
}

/// Whether a comment (`!` or `//`) starts at `pos`.
#[inline(always)]
fn comment_at(bytes: &[u8], pos: usize) -> bool {
    match bytes.get(pos) {
        Some(b'!') => true,
        Some(b'/') => bytes.get(pos + 1) == Some(&b'/'),
        _ => false,
    }
}

/// `line[start..end]` where both ends are known to sit next to ASCII bytes
/// (or at the ends of the line), so no UTF-8 boundary test is needed.
#[inline(always)]
fn ascii_bounded(line: &str, start: usize, end: usize) -> &str {
    debug_assert!(line.is_char_boundary(start) && line.is_char_boundary(end) && start <= end);
    // SAFETY: callers pass `start` just after an ASCII byte or at 0 and `end`
    // at an ASCII byte or at the length: both are character boundaries of
    // valid UTF-8 (checked in debug builds), and start ≤ end ≤ len.
    unsafe { line.get_unchecked(start..end) }
}

/// The token starting at `start` (a byte that is not blank, `,`, `=` or `!`)
/// and the index just after it: a quoted value without its quotes, or a run
/// of bytes up to the next blank, `,`, `=` or `!`.
#[inline(always)]
fn token_at(line: &str, start: usize) -> Result<(Token<'_>, usize), String> {
    let bytes = line.as_bytes();
    let open = bytes[start];
    if BYTE_CLASS[open as usize] & QUOTE != 0 {
        let close = closing_quote(open).unwrap_or(open);
        let inner_start = start + 1;
        return match bytes[inner_start..].iter().position(|&b| b == close) {
            Some(len) => Ok((
                Token {
                    text: ascii_bounded(line, inner_start, inner_start + len),
                    quoted: true,
                },
                inner_start + len + 1,
            )),
            None => Err(format!(
                "unterminated quote: `{}` has no closing `{}`",
                open as char, close as char
            )),
        };
    }
    // The first byte is known not to stop the token.
    let mut end = start + 1;
    while let Some(&b) = bytes.get(end) {
        if BYTE_CLASS[b as usize] & LINE_STOP != 0 {
            break;
        }
        end += 1;
    }
    // `start` follows an ASCII byte (a separator, `=` or a closing quote) or
    // is 0; `end` is at an ASCII stop byte or at the end.
    Ok((
        Token {
            text: ascii_bounded(line, start, end),
            quoted: false,
        },
        end,
    ))
}

/// [`split_line`] into a buffer the caller reuses from line to line (cleared
/// first), so that reading a script does not allocate a vector per statement.
/// One forward pass over the bytes with plain indices (every statement of a
/// script goes through here: a dozen tokens each).
pub(crate) fn split_line_into<'a>(line: &'a str, params: &mut Vec<Param<'a>>) -> Result<(), String> {
    params.clear();
    let bytes = line.as_bytes();
    let mut pos = 0;
    loop {
        // Blanks and commas separate parameters (a run of them counts once).
        pos = skip_class(bytes, pos, SEPARATOR);
        match bytes.get(pos) {
            None | Some(b'!') => break,
            Some(b'/') if bytes.get(pos + 1) == Some(&b'/') => break,
            Some(b'=') => return Err("`=` without a property name".to_string()),
            Some(_) => {}
        }
        let (first, end) = token_at(line, pos)?;
        pos = end;
        let after_blanks = skip_class(bytes, end, BLANK);
        if first.quoted || bytes.get(after_blanks) != Some(&b'=') {
            params.push(Param { name: None, value: first });
            continue;
        }
        // `name = value`: the value may be empty (end of line, a comment or a comma next).
        let value_start = skip_class(bytes, after_blanks + 1, BLANK);
        pos = value_start;
        let value = match bytes.get(value_start) {
            None | Some(b',') => Token { text: "", quoted: false },
            Some(b'=') => return Err(format!("`{}==`: doubled `=`", first.text)),
            Some(_) if comment_at(bytes, value_start) => Token { text: "", quoted: false },
            Some(_) => {
                let (value, end) = token_at(line, value_start)?;
                pos = end;
                value
            }
        };
        params.push(Param {
            name: Some(first.text),
            value,
        });
    }
    Ok(())
}

/// Splits the inside of an array value (`1 2, 3 | 4`) into its items: blanks
/// and commas separate, `|` is an item of its own, quoted items keep their
/// quotes' meaning (a parenthesised item is RPN math).
pub(crate) fn split_items(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut cursor = Cursor {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut items = Vec::new();
    loop {
        cursor.skip_blanks();
        while cursor.pos < cursor.bytes.len() && cursor.bytes[cursor.pos] == b',' {
            cursor.pos += 1;
            cursor.skip_blanks();
        }
        if cursor.pos >= cursor.bytes.len() {
            break;
        }
        if cursor.bytes[cursor.pos] == b'|' {
            cursor.pos += 1;
            items.push(Token {
                text: "|",
                quoted: false,
            });
            continue;
        }
        let start = cursor.pos;
        if closing_quote(cursor.bytes[start]).is_some() {
            items.push(cursor.token()?);
            continue;
        }
        cursor.pos += count_until(&cursor.bytes[cursor.pos..], ITEM_STOP);
        items.push(Token {
            text: &text[start..cursor.pos],
            quoted: false,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(line: &str) -> Vec<(Option<String>, String, bool)> {
        split_line(line)
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.name.map(str::to_string),
                    p.value.text.to_string(),
                    p.value.quoted,
                )
            })
            .collect()
    }

    #[test]
    fn names_values_quotes_and_comments() {
        let got = show("New Load.671 Bus1=671.1.2.3  kV= 4.16 rmatrix = (1 | 2 3) conns='wye wye' ! comment kW=1");
        assert_eq!(got[0], (None, "New".into(), false));
        assert_eq!(got[1], (None, "Load.671".into(), false));
        assert_eq!(got[2], (Some("Bus1".into()), "671.1.2.3".into(), false));
        assert_eq!(got[3], (Some("kV".into()), "4.16".into(), false));
        assert_eq!(got[4], (Some("rmatrix".into()), "1 | 2 3".into(), true));
        assert_eq!(got[5], (Some("conns".into()), "wye wye".into(), true));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn commas_separate_and_slashes_comment() {
        let got = show("a=1,b=2 , c // d=4");
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (Some("b".into()), "2".into(), false));
        assert_eq!(got[2], (None, "c".into(), false));
    }

    #[test]
    fn empty_values_errors_and_non_ascii_text() {
        let got = show("kw= ! c");
        assert_eq!(got, [(Some("kw".into()), "".into(), false)]);
        let got = show("a=,b=2 c = // d");
        assert_eq!(got[0], (Some("a".into()), "".into(), false));
        assert_eq!(got[1], (Some("b".into()), "2".into(), false));
        assert_eq!(got[2], (Some("c".into()), "".into(), false));
        assert_eq!(got.len(), 3);
        let got = show("Bus1=Größe.1 n=é (1 2)x a=/b");
        assert_eq!(got[0], (Some("Bus1".into()), "Größe.1".into(), false));
        assert_eq!(got[1], (Some("n".into()), "é".into(), false));
        assert_eq!(got[2], (None, "1 2".into(), true));
        assert_eq!(got[3], (None, "x".into(), false));
        assert_eq!(got[4], (Some("a".into()), "/b".into(), false));
        assert!(split_line("x==1").unwrap_err().contains("doubled"));
        assert!(split_line("= 3").unwrap_err().contains("without a property name"));
        // A quoted word is never a property name.
        assert!(split_line("'q'=3").unwrap_err().contains("without a property name"));
    }

    #[test]
    fn lines_are_the_standard_librarys() {
        let texts = [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb",
            "a\r\n\r\nb\r",
            "\r\n",
            "x\ry\n",
            "one line that is longer than eight bytes\nand another, also longer\r\n\nlast",
            "ünïcödé\nlines\n",
            "\n\n\n",
            "exactly8\nexactly8\n",
        ];
        for text in texts {
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
        // Newlines at every offset within and across words.
        for len in 0..40 {
            for nl in 0..len {
                let text: String = (0..len).map(|i| if i == nl || i % 11 == 10 { '\n' } else { 'a' }).collect();
                assert_eq!(lines(&text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
            }
        }
    }

    #[test]
    fn padded_lines_split_as_single_spaced_ones() {
        let padded = "New Line.a    bus1=x.1                    bus2=y  ,  ,   length=0.1\t\t units=km                          ! c";
        let single = "New Line.a bus1=x.1 bus2=y length=0.1 units=km ! c";
        assert_eq!(show(padded), show(single));
        let got = show("a =                     1    b=                                    ");
        assert_eq!(got, [(Some("a".into()), "1".into(), false), (Some("b".into()), "".into(), false)]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(split_line("kvs=[1 2").unwrap_err().contains("unterminated"));
    }

    #[test]
    fn items_split_on_blanks_commas_and_bars() {
        let items: Vec<&str> = split_items("1, 2 |3 (4 5 +)")
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(items, ["1", "2", "|", "3", "4 5 +"]);
    }
}
