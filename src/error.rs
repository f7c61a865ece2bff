//! One error type for the whole engine: every failure is a value with a message,
//! never a panic, so the CLI and the wasm boundary can report it as text.
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A scale that is zero, negative, NaN or infinite (or becomes so in float32).
    BadScale { what: String, value: f64 },
    /// A zero point outside the range of its dtype.
    BadZeroPoint {
        what: String,
        value: i64,
        min: i64,
        max: i64,
    },
    /// Shapes that are empty, inconsistent or too large.
    BadShape(String),
    /// A quantized value outside its dtype's range.
    BadValue(String),
    /// The exact int32 accumulator would overflow.
    AccumulatorOverflow { channel: usize, value: i64 },
    /// A golden file or other input that cannot be read.
    Input(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadScale { what, value } => {
                write!(f, "{what} must be a positive finite number (float32 > 0), got {value}")
            }
            Error::BadZeroPoint { what, value, min, max } => {
                write!(f, "{what} must be an integer in {min}..={max}, got {value}")
            }
            Error::BadShape(m) => write!(f, "bad shape: {m}"),
            Error::BadValue(m) => write!(f, "bad value: {m}"),
            Error::AccumulatorOverflow { channel, value } => write!(
                f,
                "int32 accumulator overflows in output channel {channel} (value {value}); PyTorch would wrap silently"
            ),
            Error::Input(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
