//! OpenDSS's in-line RPN calculator (`XHL=(8 1000 /)`), reproduced with its
//! quirks: a fixed 10-register stack pre-filled with zeros (so an operator on a
//! short stack uses zeros instead of failing), trigonometry in degrees with
//! OpenDSS's own π approximation for the conversion, and the result is the X
//! register.

const STACK_SIZE: usize = 10;
/// OpenDSS converts degrees with this literal rather than `std::f64::consts::PI`.
#[allow(clippy::approx_constant)]
const DEG_TO_RAD: f64 = 3.14159265359 / 180.0;

struct Calculator {
    /// `stack[0]` is X, `stack[1]` is Y.
    stack: [f64; STACK_SIZE],
}

impl Calculator {
    fn roll_up(&mut self) {
        for i in (1..STACK_SIZE).rev() {
            self.stack[i] = self.stack[i - 1];
        }
    }

    /// Drops X; the bottom register keeps its value (as OpenDSS's RollDn).
    fn roll_down(&mut self) {
        for i in 1..STACK_SIZE {
            self.stack[i - 1] = self.stack[i];
        }
    }

    fn enter(&mut self, value: f64) {
        self.roll_up();
        self.stack[0] = value;
    }

    /// Y := f(Y, X), then drop X.
    fn binary(&mut self, f: impl Fn(f64, f64) -> f64) {
        self.stack[1] = f(self.stack[1], self.stack[0]);
        self.roll_down();
    }

    fn unary(&mut self, f: impl Fn(f64) -> f64) {
        self.stack[0] = f(self.stack[0]);
    }
}

/// Evaluates an RPN expression such as `0.00625 12 * 1 +`.
pub(crate) fn evaluate(expression: &str) -> Result<f64, String> {
    let mut calc = Calculator {
        stack: [0.0; STACK_SIZE],
    };
    let items = expression
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|s| !s.is_empty());
    let mut any = false;
    for item in items {
        any = true;
        if let Some(number) = parse_number(item) {
            calc.enter(number);
            continue;
        }
        match item.to_ascii_lowercase().as_str() {
            "+" => calc.binary(|y, x| y + x),
            "-" => calc.binary(|y, x| y - x),
            "*" => calc.binary(|y, x| y * x),
            "/" => calc.binary(|y, x| y / x),
            "^" => calc.binary(f64::powf),
            "sqrt" => calc.unary(f64::sqrt),
            "sqr" => calc.unary(|x| x * x),
            "inv" => calc.unary(|x| 1.0 / x),
            "ln" => calc.unary(f64::ln),
            "exp" => calc.unary(f64::exp),
            "log10" => calc.unary(f64::log10),
            "sin" => calc.unary(|x| (x * DEG_TO_RAD).sin()),
            "cos" => calc.unary(|x| (x * DEG_TO_RAD).cos()),
            "tan" => calc.unary(|x| (x * DEG_TO_RAD).tan()),
            "asin" => calc.unary(|x| x.asin() / DEG_TO_RAD),
            "acos" => calc.unary(|x| x.acos() / DEG_TO_RAD),
            "atan" => calc.unary(|x| x.atan() / DEG_TO_RAD),
            "atan2" => calc.binary(|y, x| y.atan2(x) / DEG_TO_RAD),
            "swap" => calc.stack.swap(0, 1),
            "rollup" => calc.roll_up(),
            "rolldn" => calc.roll_down(),
            "pi" => calc.enter(std::f64::consts::PI),
            _ => {
                return Err(format!(
                    "invalid in-line math entry `{item}` in `({expression})`"
                ))
            }
        }
    }
    if !any {
        return Err("empty value".to_string());
    }
    Ok(calc.stack[0])
}

/// A plain decimal number as OpenDSS's `Val` accepts it (`.85`, `1e-4`, `-3`,
/// `24.900`); no `inf`/`nan` words.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    if let Some(value) = short_decimal(text) {
        return Some(value);
    }
    let bytes = text.as_bytes();
    if bytes.is_empty()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
        || !bytes.iter().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Fast path for the usual script number, `[-+]digits[.digits]` with at most
/// 15 digits: the digits as an integer (exact in an f64) divided by a power of
/// ten (exact up to 10²²) is one correctly rounded operation, so the same bits
/// as `str::parse` (tested below), at a fraction of its cost.
fn short_decimal(text: &str) -> Option<f64> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut count = 0;
    let mut fraction_digits = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if fraction_digits.is_none() => fraction_digits = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    if count == 0 || count > 15 {
        return None;
    }
    let value = mantissa as f64 / POW10[fraction_digits.unwrap_or(0)];
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_decimals_match_the_standard_parser_bit_for_bit() {
        let mut texts: Vec<String> = [
            "0", "-0", "+0", "1.", ".85", "-.5", "0.032175613", "24.900", "115", "12.47", "0.1", "0.3",
            "123456789012345", "1.23456789012345", "0.00000000000001", "-99999.9999999999", "7.2", "0.208",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A pseudo-random sweep of lengths and decimal-point positions.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15 + 1) as usize;
            let number = format!("{:015}", x % 1_000_000_000_000_000);
            let number = &number[15 - digits..];
            let point = (x >> 40) as usize % (digits + 1);
            texts.push(format!("{}.{}", &number[..point], &number[point..]));
        }
        for text in &texts {
            let fast = short_decimal(text).unwrap_or_else(|| panic!("`{text}` takes the fast path"));
            let standard: f64 = text.parse().unwrap();
            assert_eq!(fast.to_bits(), standard.to_bits(), "`{text}`");
        }
        for slow in ["1e3", "1234567890123456", "1..2", "-", ".", "1-2", "0x1"] {
            assert_eq!(short_decimal(slow), None, "`{slow}`");
        }
    }

    #[test]
    fn feeder_expressions() {
        assert_eq!(evaluate("8 1000 /").unwrap(), 0.008);
        assert!((evaluate("0.00625 12 * 1 +").unwrap() - 1.075).abs() < 1e-15);
        assert_eq!(evaluate("1.73 2 /").unwrap(), 0.865);
    }

    #[test]
    fn operators() {
        assert_eq!(evaluate("2 3 ^").unwrap(), 8.0);
        assert_eq!(evaluate("16 sqrt").unwrap(), 4.0);
        assert_eq!(evaluate("3 sqr").unwrap(), 9.0);
        assert_eq!(evaluate("4 inv").unwrap(), 0.25);
        assert_eq!(evaluate("5 3 -").unwrap(), 2.0);
        assert_eq!(evaluate("1 2 swap -").unwrap(), 1.0);
        assert!((evaluate("30 sin").unwrap() - 0.5).abs() < 1e-9);
        assert!((evaluate("1 1 atan2").unwrap() - 45.0).abs() < 1e-9);
        assert!((evaluate("pi").unwrap() - std::f64::consts::PI).abs() < 1e-15);
        assert!((evaluate("100 log10").unwrap() - 2.0).abs() < 1e-15);
        assert!((evaluate("1 exp ln").unwrap() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn short_stack_uses_zeros_like_opendss() {
        assert_eq!(evaluate("5 -").unwrap(), -5.0);
        assert_eq!(evaluate("7").unwrap(), 7.0);
    }

    #[test]
    fn bad_entries_fail() {
        assert!(evaluate("1 2 foo").is_err());
        assert!(evaluate("").is_err());
        assert!(parse_number("inf").is_none());
        assert!(parse_number("abc").is_none());
        assert_eq!(parse_number(".85"), Some(0.85));
    }
}
