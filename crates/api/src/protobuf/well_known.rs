//! The apimachinery types whose JSON form is not an object of their proto fields: times,
//! durations, quantities, int-or-strings, and the embedded documents of `FieldsV1` and
//! `RawExtension`.

use chrono::{DateTime, Datelike};
use serde_json::Value;

use super::decode::DecodeError;
use super::schema::Shape;
use super::wire::{self, Reader, WireValue};

/// Seconds from the Unix epoch to Go's zero `time.Time` (year 1), which JSON prints as null.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The JSON form of a well-known message.
pub(crate) fn decode(shape: Shape, bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    match shape {
        Shape::Time => time(bytes, false),
        Shape::MicroTime => time(bytes, true),
        Shape::Duration => {
            let nanos = varint_field(bytes, 1)?.unwrap_or(0) as i64;
            Ok(Value::String(go_duration(nanos)))
        }
        Shape::FieldsV1 => match bytes_field(bytes, 1)? {
            None => Ok(Value::Null),
            Some(raw) => serde_json::from_slice(raw)
                .map_err(|e| DecodeError::new(format!("fieldsV1 is not JSON: {e}"))),
        },
        Shape::GroupVersion => {
            let group = bytes_field(bytes, 1)?.map(wire::string).unwrap_or_default();
            let version = bytes_field(bytes, 2)?.map(wire::string).unwrap_or_default();
            Ok(Value::String(if group.is_empty() {
                version
            } else {
                format!("{group}/{version}")
            }))
        }
        Shape::Quantity => Ok(Value::String(
            bytes_field(bytes, 1)?.map_or_else(|| "0".to_string(), wire::string),
        )),
        Shape::IntOrString => int_or_string(bytes),
        Shape::RawExtension => raw_extension(bytes, depth),
        Shape::Object | Shape::List => unreachable!("{shape:?} is not a well-known message"),
    }
}

/// `meta/v1.Time` and `MicroTime`: {seconds = 1, nanos = 2}, empty for the zero time.
fn time(bytes: &[u8], micro: bool) -> Result<Value, DecodeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let seconds = varint_field(bytes, 1)?.unwrap_or(0) as i64;
    // Go's time.Unix normalises nanoseconds outside [0, 1e9).
    let nanos = i64::from(varint_field(bytes, 2)?.unwrap_or(0) as i32);
    let seconds = seconds
        .checked_add(nanos.div_euclid(NANOS_PER_SECOND))
        .ok_or_else(|| DecodeError::new("timestamp is out of range"))?;
    let nanos = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    if seconds == GO_ZERO_TIME_SECONDS && nanos == 0 {
        return Ok(Value::Null);
    }
    let t = DateTime::from_timestamp(seconds, nanos)
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| DecodeError::new(format!("timestamp {seconds}s is out of range")))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(t.format(format).to_string()))
}

/// `intstr.IntOrString`: {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}.
fn int_or_string(bytes: &[u8]) -> Result<Value, DecodeError> {
    match varint_field(bytes, 1)?.unwrap_or(0) {
        0 => Ok(Value::from(varint_field(bytes, 2)?.unwrap_or(0) as i32)),
        1 => Ok(Value::String(
            bytes_field(bytes, 3)?.map(wire::string).unwrap_or_default(),
        )),
        other => Err(DecodeError::new(format!(
            "int-or-string has type {other}; only 0 (int) and 1 (string) exist"
        ))),
    }
}

/// `runtime.RawExtension`: {raw = 1}, holding JSON or a nested protobuf object.
fn raw_extension(bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let Some(raw) = bytes_field(bytes, 1)? else {
        return Ok(Value::Null);
    };
    if raw.starts_with(super::MAGIC) {
        return super::decode_at_depth(raw, depth + 1);
    }
    serde_json::from_slice(raw).map_err(|e| {
        DecodeError::new(format!(
            "an embedded object is neither JSON nor kubernetes protobuf: {e}"
        ))
    })
}

/// The last varint of field `number`, as proto2 reads a singular field.
fn varint_field(bytes: &[u8], number: u32) -> Result<Option<u64>, DecodeError> {
    let mut found = None;
    let mut reader = Reader::new(bytes);
    while let Some((n, value)) = reader.next_field()? {
        match (n == number, value) {
            (true, WireValue::Varint(v)) => found = Some(v),
            (true, other) => {
                return Err(DecodeError::new(format!(
                    "field {number}: expected a varint, found {}",
                    other.describe()
                )))
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The last length-delimited value of field `number`.
fn bytes_field(bytes: &[u8], number: u32) -> Result<Option<&[u8]>, DecodeError> {
    let mut found = None;
    let mut reader = Reader::new(bytes);
    while let Some((n, value)) = reader.next_field()? {
        match (n == number, value) {
            (true, WireValue::Bytes(b)) => found = Some(b),
            (true, other) => {
                return Err(DecodeError::new(format!(
                    "field {number}: expected a length-delimited value, found {}",
                    other.describe()
                )))
            }
            _ => {}
        }
    }
    Ok(found)
}

/// A duration in nanoseconds as Go's `time.Duration.String` prints it: "1h0m0s", "1.5s",
/// "100ms", "0s".
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let body = if u < NANOS_PER_SECOND as u64 {
        let (precision, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (whole, fraction) = split_fraction(u, precision);
        format!("{whole}{fraction}{unit}")
    } else {
        let (seconds, fraction) = split_fraction(u, 9);
        let (minutes, seconds) = (seconds / 60, seconds % 60);
        let (hours, minutes) = (minutes / 60, minutes % 60);
        if hours > 0 {
            format!("{hours}h{minutes}m{seconds}{fraction}s")
        } else if minutes > 0 {
            format!("{minutes}m{seconds}{fraction}s")
        } else {
            format!("{seconds}{fraction}s")
        }
    };
    format!("{sign}{body}")
}

/// `v / 10^precision`, and the remainder as ".ddd" without trailing zeros ("" when zero).
fn split_fraction(v: u64, precision: u32) -> (u64, String) {
    let scale = 10u64.pow(precision);
    let (whole, rest) = (v / scale, v % scale);
    if rest == 0 {
        return (whole, String::new());
    }
    let digits = format!("{rest:0width$}", width = precision as usize);
    (whole, format!(".{}", digits.trim_end_matches('0')))
}
