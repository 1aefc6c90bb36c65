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

const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let blanks = [b' ', b'\t', b'\r', b'\n', 0x0c];
    let mut i = 0;
    while i < blanks.len() {
        table[blanks[i] as usize] = BLANK | LINE_STOP | ITEM_STOP;
        i += 1;
    }
    table[b',' as usize] = LINE_STOP | ITEM_STOP;
    table[b'=' as usize] = LINE_STOP;
    table[b'!' as usize] = LINE_STOP;
    table[b'|' as usize] = ITEM_STOP;
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

    fn at_comment(&self) -> bool {
        let rest = &self.bytes[self.pos..];
        rest.first() == Some(&b'!') || rest.starts_with(b"//")
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

/// [`split_line`] into a buffer the caller reuses from line to line (cleared
/// first), so that reading a script does not allocate a vector per statement.
pub(crate) fn split_line_into<'a>(line: &'a str, params: &mut Vec<Param<'a>>) -> Result<(), String> {
    params.clear();
    let mut cursor = Cursor {
        text: line,
        bytes: line.as_bytes(),
        pos: 0,
    };
    loop {
        cursor.skip_blanks();
        while cursor.pos < cursor.bytes.len() && cursor.bytes[cursor.pos] == b',' {
            cursor.pos += 1;
            cursor.skip_blanks();
        }
        if cursor.pos >= cursor.bytes.len() || cursor.at_comment() {
            break;
        }
        if cursor.bytes[cursor.pos] == b'=' {
            return Err("`=` without a property name".to_string());
        }
        let first = cursor.token()?;
        let after_token = cursor.pos;
        cursor.skip_blanks();
        if !first.quoted && cursor.bytes.get(cursor.pos) == Some(&b'=') {
            cursor.pos += 1;
            cursor.skip_blanks();
            let value = if cursor.pos >= cursor.bytes.len()
                || cursor.at_comment()
                || cursor.bytes[cursor.pos] == b','
            {
                Token {
                    text: "",
                    quoted: false,
                }
            } else if cursor.bytes[cursor.pos] == b'=' {
                return Err(format!("`{}==`: doubled `=`", first.text));
            } else {
                cursor.token()?
            };
            params.push(Param {
                name: Some(first.text),
                value,
            });
        } else {
            cursor.pos = after_token;
            params.push(Param {
                name: None,
                value: first,
            });
        }
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
