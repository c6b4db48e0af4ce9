//! Kubernetes resource quantities (`500m`, `128Mi`, `1e3`): exact parsing into a comparable
//! fixed-point number, arithmetic, and the canonical form the API server re-emits.
//!
//! A quantity is held as an `i128` count of nano-units, the finest precision upstream keeps
//! (smaller fractions round up, away from zero, as `resource.ParseQuantity` does).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The suffix family a quantity was written in; the canonical form keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `m`, `k`, `M`, ... or no suffix.
    DecimalSI,
    /// `Ki`, `Mi`, `Gi`, ...
    BinarySI,
    /// `e3`, `E-2`.
    DecimalExponent,
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("quantity is too large to be represented")]
    TooLarge,
}

/// A parsed quantity: exact value in nano-units plus the format it was written in.
#[derive(Clone, Copy, Debug)]
pub struct ParsedQuantity {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;
const MAX_DIGITS: usize = 36;

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && ((a > 0) == (b > 0)) {
        q + 1
    } else {
        q
    }
}

/// Round `mantissa * 10^exp` to nano-units, rounding non-zero remainders away from zero.
fn to_nanos(mantissa: i128, exp: i32) -> Result<i128, QuantityError> {
    let shift = exp + 9;
    if shift >= 0 {
        let p = pow10(shift as u32).ok_or(QuantityError::TooLarge)?;
        mantissa.checked_mul(p).ok_or(QuantityError::TooLarge)
    } else {
        let Some(p) = pow10((-shift) as u32) else {
            // Far below a nano: any non-zero value rounds up to one nano.
            return Ok(mantissa.signum());
        };
        let q = mantissa / p;
        let r = mantissa % p;
        Ok(if r == 0 { q } else { q + mantissa.signum() })
    }
}

fn parse_suffix(s: &str) -> Result<(u32, i32, Format), QuantityError> {
    // (base, exponent, format)
    let found = match s {
        "" => (10, 0, Format::DecimalSI),
        "n" => (10, -9, Format::DecimalSI),
        "u" => (10, -6, Format::DecimalSI),
        "m" => (10, -3, Format::DecimalSI),
        "k" => (10, 3, Format::DecimalSI),
        "M" => (10, 6, Format::DecimalSI),
        "G" => (10, 9, Format::DecimalSI),
        "T" => (10, 12, Format::DecimalSI),
        "P" => (10, 15, Format::DecimalSI),
        "E" => (10, 18, Format::DecimalSI),
        "Ki" => (2, 10, Format::BinarySI),
        "Mi" => (2, 20, Format::BinarySI),
        "Gi" => (2, 30, Format::BinarySI),
        "Ti" => (2, 40, Format::BinarySI),
        "Pi" => (2, 50, Format::BinarySI),
        "Ei" => (2, 60, Format::BinarySI),
        _ => {
            let rest = s
                .strip_prefix('e')
                .or_else(|| s.strip_prefix('E'))
                .ok_or(QuantityError::Suffix)?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            let exp: i32 = rest.parse().map_err(|_| QuantityError::TooLarge)?;
            (10, exp, Format::DecimalExponent)
        }
    };
    Ok(found)
}

impl ParsedQuantity {
    /// Parse a quantity string (surrounding whitespace is ignored, as upstream does).
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let s = input.trim();
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(QuantityError::Format);
        }
        let mut pos = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            pos = 1;
        }
        let num_start = pos;
        while pos < bytes.len() && (bytes[pos].is_ascii_digit() || bytes[pos] == b'.') {
            pos += 1;
        }
        let number = &s[num_start..pos];
        let suffix = &s[pos..];
        if number.is_empty() || number.bytes().filter(|b| *b == b'.').count() > 1 {
            return Err(QuantityError::Format);
        }
        if !suffix
            .bytes()
            .all(|b| b"eEinumkKMGTP+-0123456789".contains(&b))
        {
            return Err(QuantityError::Format);
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(QuantityError::Format);
        }
        let (base, suffix_exp, format) = parse_suffix(suffix)?;

        let digits: String = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > MAX_DIGITS {
            return Err(QuantityError::TooLarge);
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| QuantityError::Format)?
        };
        if negative {
            mantissa = -mantissa;
        }
        let mut exp = -(frac_part.len() as i32);
        if base == 10 {
            exp = exp.checked_add(suffix_exp).ok_or(QuantityError::TooLarge)?;
        } else {
            let factor = 1i128 << suffix_exp;
            mantissa = mantissa
                .checked_mul(factor)
                .ok_or(QuantityError::TooLarge)?;
        }
        if mantissa == 0 {
            return Ok(ParsedQuantity { nanos: 0, format });
        }
        if exp > 60 {
            return Err(QuantityError::TooLarge);
        }
        Ok(ParsedQuantity {
            nanos: to_nanos(mantissa, exp)?,
            format,
        })
    }

    /// A quantity of `milli` thousandths of a unit.
    pub fn from_milli(milli: i128, format: Format) -> Self {
        ParsedQuantity {
            nanos: milli.saturating_mul(1_000_000),
            format,
        }
    }

    /// A quantity of whole units.
    pub fn from_units(units: i128, format: Format) -> Self {
        ParsedQuantity {
            nanos: units.saturating_mul(NANO),
            format,
        }
    }

    /// Zero, in the decimal format.
    pub fn zero() -> Self {
        ParsedQuantity {
            nanos: 0,
            format: Format::DecimalSI,
        }
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded up (upstream `MilliValue`).
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded up (upstream `Value`).
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANO)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The sum; a zero left side takes the right side's format, as upstream `Add`.
    pub fn add(&self, other: &ParsedQuantity) -> ParsedQuantity {
        let format = if self.nanos == 0 {
            other.format
        } else {
            self.format
        };
        ParsedQuantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format,
        }
    }

    /// The canonical string (`0.5` → `500m`, `1.5Gi` → `1536Mi`, `1000m` → `1`).
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        if self.format == Format::BinarySI
            && abs >= 1024 * NANO as u128
            && abs.is_multiple_of(NANO as u128)
        {
            let mut v = abs / NANO as u128;
            let mut k = 0;
            while k < 6 && v.is_multiple_of(1024) {
                v /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return format!("{sign}{v}{suffix}");
        }
        // Decimal: strip factors of ten, then lower the exponent to a multiple of three.
        let mut mantissa = abs;
        let mut exp: i32 = -9;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exp += 1;
        }
        let r = exp.rem_euclid(3);
        mantissa *= 10u128.pow(r as u32);
        exp -= r;
        let format = if self.format == Format::BinarySI {
            Format::DecimalSI
        } else {
            self.format
        };
        let suffix = match format {
            Format::DecimalExponent => {
                if exp == 0 {
                    String::new()
                } else {
                    format!("e{exp}")
                }
            }
            _ => {
                if exp > 18 {
                    mantissa *= 10u128.pow((exp - 18) as u32);
                    exp = 18;
                }
                match exp {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    0 => "",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    _ => "E",
                }
                .to_string()
            }
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

impl PartialEq for ParsedQuantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for ParsedQuantity {}

impl PartialOrd for ParsedQuantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ParsedQuantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for ParsedQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl FromStr for ParsedQuantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ParsedQuantity::parse(s)
    }
}

/// Parse a quantity straight to milli-units (rounded up).
pub fn parse_milli(s: &str) -> Result<i128, QuantityError> {
    ParsedQuantity::parse(s).map(|q| q.milli_value())
}

/// The canonical form of a quantity string.
pub fn canonicalize(s: &str) -> Result<String, QuantityError> {
    ParsedQuantity::parse(s).map(|q| q.canonical())
}

/// Parse a k8s-openapi quantity.
pub fn parse_k8s(
    q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Result<ParsedQuantity, QuantityError> {
    ParsedQuantity::parse(&q.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonicalize(s).unwrap()
    }

    #[test]
    fn decimal_fractions_become_milli() {
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1.5"), "1500m");
        assert_eq!(canon(".5"), "500m");
        assert_eq!(canon("5."), "5");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1500m"), "1500m");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("0.1m"), "100u");
    }

    #[test]
    fn binary_suffixes_keep_the_largest_exact_unit() {
        assert_eq!(canon("128Mi"), "128Mi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1024Ki"), "1Mi");
        assert_eq!(canon("1Ei"), "1Ei");
        assert_eq!(canon("1536"), "1536");
        // Below 1Ki, or fractional bytes, binary falls back to decimal.
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("0.1Ki"), "102400m");
    }

    #[test]
    fn decimal_suffixes_and_exponents() {
        assert_eq!(canon("1k"), "1k");
        assert_eq!(canon("1000"), "1k");
        assert_eq!(canon("1200"), "1200");
        assert_eq!(canon("12M"), "12M");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("1E3"), "1e3");
        assert_eq!(canon("12e2"), "1200");
        assert_eq!(canon("1e-3"), "1e-3");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("0Mi"), "0");
        assert_eq!(canon("-5"), "-5");
        assert_eq!(canon("+5m"), "5m");
        assert_eq!(canon("1n"), "1n");
        assert_eq!(canon("1E"), "1E");
    }

    #[test]
    fn tiny_values_round_up_to_a_nano() {
        assert_eq!(canon("0.0000000001"), "1n");
        assert_eq!(ParsedQuantity::parse("1n").unwrap().milli_value(), 1);
        assert_eq!(ParsedQuantity::parse("-1n").unwrap().milli_value(), 0);
    }

    #[test]
    fn milli_values_compare() {
        assert_eq!(parse_milli("0.5").unwrap(), 500);
        assert_eq!(parse_milli("1").unwrap(), 1000);
        assert_eq!(parse_milli("250m").unwrap(), 250);
        assert_eq!(parse_milli("128Mi").unwrap(), 128 * 1024 * 1024 * 1000);
        assert_eq!(parse_milli("1Ei").unwrap(), (1i128 << 60) * 1000);
        let a: ParsedQuantity = "1".parse().unwrap();
        let b: ParsedQuantity = "1000m".parse().unwrap();
        assert_eq!(a, b);
        assert!(ParsedQuantity::parse("2").unwrap() > b);
        assert_eq!(ParsedQuantity::parse("1Gi").unwrap().value(), 1 << 30);
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in [
            "", " ", "abc", "1.2.3", "1kb", "1 Mi", "Mi", "1e", "1ee3", "--1", "1Kii", "1K", "e3",
            ".",
        ] {
            assert!(ParsedQuantity::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            ParsedQuantity::parse("1x").unwrap_err(),
            QuantityError::Format
        );
        assert_eq!(
            ParsedQuantity::parse("1mm").unwrap_err(),
            QuantityError::Suffix
        );
    }

    #[test]
    fn huge_values_are_refused_not_wrapped() {
        assert_eq!(
            ParsedQuantity::parse("1e100").unwrap_err(),
            QuantityError::TooLarge
        );
        assert!(ParsedQuantity::parse("99999999999999999999999999999999999999999").is_err());
        assert!(ParsedQuantity::parse("1e18").is_ok());
    }

    #[test]
    fn addition_keeps_format() {
        let a = ParsedQuantity::parse("1Gi").unwrap();
        let b = ParsedQuantity::parse("1Gi").unwrap();
        assert_eq!(a.add(&b).canonical(), "2Gi");
        let z = ParsedQuantity::zero();
        assert_eq!(z.add(&a).canonical(), "1Gi");
        let m = ParsedQuantity::parse("500m").unwrap();
        assert_eq!(m.add(&m).canonical(), "1");
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(canon(" 100m "), "100m");
    }
}
