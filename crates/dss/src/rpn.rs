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

#[cfg(test)]
mod tests {
    use super::*;

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
