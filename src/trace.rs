//! The step vocabulary of a requantization trace, and where two traces part.
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A value as the arithmetic held it: an exact integer, a float32 (shown with
/// its bits) or a float64.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "v", rename_all = "lowercase")]
pub enum Value {
    Int(i64),
    F32(f32),
    F64(f64),
}

impl Value {
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::F32(f) => f as f64,
            Value::F64(f) => f,
        }
    }
    /// Shortest decimal that reads back to the same value (Rust's Display is
    /// round-trip exact, like Python's repr).
    pub fn decimal(self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::F32(f) => fmt_float(f as f64, f.to_string(), format!("{f:e}")),
            Value::F64(f) => fmt_float(f, f.to_string(), format!("{f:e}")),
        }
    }
    /// The IEEE bits of a float value, as hex.
    pub fn bits(self) -> Option<String> {
        match self {
            Value::Int(_) => None,
            Value::F32(f) => Some(format!("0x{:08x}", f.to_bits())),
            Value::F64(f) => Some(format!("0x{:016x}", f.to_bits())),
        }
    }
    pub fn kind(self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
        }
    }
}

/// Keeps tiny or huge numbers readable: exponent form below 1e-4 or from 1e16, like Python.
fn fmt_float(v: f64, plain: String, exponent: String) -> String {
    if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e16) {
        exponent
    } else {
        plain
    }
}

/// `m · 2^e` as an exact decimal (every power of two has a finite decimal).
/// Not in the page's first-load wasm: its inspector writes the same decimal
/// from the multiplier and shift steps (`www/inspector.js`).
#[cfg(any(not(target_arch = "wasm32"), feature = "link"))]
pub fn exact_pow2_decimal(m: i64, e: i32) -> String {
    let neg = m < 0;
    // Little-endian base-1e9 digits of |m|.
    let mut d: Vec<u64> = vec![
        m.unsigned_abs() % 1_000_000_000,
        m.unsigned_abs() / 1_000_000_000 % 1_000_000_000,
        m.unsigned_abs() / 1_000_000_000_000_000_000,
    ];
    let mul = |d: &mut Vec<u64>, k: u64| {
        let mut carry = 0;
        for x in d.iter_mut() {
            let v = *x * k + carry;
            *x = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            d.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    };
    // m · 2^-k = m · 5^k / 10^k: multiply by 5 k times, then place the point.
    let frac = (-e).max(0) as usize;
    for _ in 0..e.max(0) {
        mul(&mut d, 2);
    }
    for _ in 0..frac {
        mul(&mut d, 5);
    }
    let mut digits: String = d
        .iter()
        .rev()
        .map(|x| format!("{x:09}"))
        .collect::<String>()
        .trim_start_matches('0')
        .to_string();
    if digits.len() <= frac {
        digits = "0".repeat(frac + 1 - digits.len()) + &digits;
    }
    let (int, f) = digits.split_at(digits.len() - frac);
    let f = f.trim_end_matches('0');
    let sign = if neg { "-" } else { "" };
    if f.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{f}")
    }
}

/// Stable keys: steps with the same key in two traces are compared.
pub mod key {
    pub const SX: &str = "sx";
    pub const SW: &str = "sw";
    pub const SY: &str = "sy";
    pub const BIAS: &str = "bias";
    pub const ACC: &str = "acc";
    pub const SCALE_PRODUCT: &str = "aw";
    pub const BIAS_TERM: &str = "bias_term";
    pub const SUM: &str = "sum";
    pub const MULTIPLIER: &str = "multiplier";
    /// The real scale `sx·sw/sy` a fixed-point multiplier stands for.
    pub const SCALE: &str = "scale";
    /// The fixed-point multiplier's exponent (`shift`, TFLite's convention).
    pub const SHIFT: &str = "shift";
    /// The first of a fixed-point requantization's two roundings.
    pub const HIGH_MUL: &str = "high_mul";
    /// The upper clamp of a fused ReLU6 (the code of 6.0).
    pub const BOUND6: &str = "bound6";
    pub const PRE_ROUND: &str = "pre_round";
    pub const ROUNDED: &str = "rounded";
    pub const PLUS_ZP: &str = "plus_zp";
    pub const OUTPUT: &str = "output";
    /// Every key, to read traces back (the page's lazily loaded diagnosis).
    pub const ALL: &[&str] = &[
        SX,
        SW,
        SY,
        BIAS,
        ACC,
        SCALE_PRODUCT,
        BIAS_TERM,
        SUM,
        MULTIPLIER,
        SCALE,
        SHIFT,
        HIGH_MUL,
        BOUND6,
        PRE_ROUND,
        ROUNDED,
        PLUS_ZP,
        OUTPUT,
    ];
}

/// A step read back (its key one of [`key::ALL`], unknown keys kept as "other").
impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        #[derive(Deserialize)]
        struct S {
            key: String,
            label: String,
            formula: String,
            value: Value,
        }
        let s = S::deserialize(d)?;
        let k = key::ALL.iter().find(|&&x| x == s.key).copied();
        Ok(Step::new(k.unwrap_or("other"), s.label, s.formula, s.value))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub key: &'static str,
    /// What the step is, in words.
    pub label: String,
    /// How it was computed, with the numbers.
    pub formula: String,
    pub value: Value,
    pub decimal: String,
    pub bits: Option<String>,
}

impl Step {
    pub fn new(
        key: &'static str,
        label: impl Into<String>,
        formula: impl Into<String>,
        value: Value,
    ) -> Step {
        Step {
            key,
            label: label.into(),
            formula: formula.into(),
            decimal: value.decimal(),
            bits: value.bits(),
            value,
        }
    }
}

/// Words of a step: its label and its formula, made only when a trace wants them.
pub type Text = (Cow<'static, str>, Cow<'static, str>);

/// Receives each step of a computation. The text is a closure so that the fast
/// path (`NoTrace`) and value probes (`Probe`) never format strings.
pub trait Recorder {
    fn step(&mut self, key: &'static str, value: Value, text: impl FnOnce() -> Text);
}

/// The fast path: records nothing.
pub struct NoTrace;
impl Recorder for NoTrace {
    #[inline(always)]
    fn step(&mut self, _key: &'static str, _value: Value, _text: impl FnOnce() -> Text) {}
}

/// Keeps the value of one step (e.g. the value before rounding, for the tie map).
pub struct Probe {
    pub key: &'static str,
    pub value: Option<Value>,
}
impl Recorder for Probe {
    #[inline(always)]
    fn step(&mut self, key: &'static str, value: Value, _text: impl FnOnce() -> Text) {
        if key == self.key {
            self.value = Some(value);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub computation: String,
    /// Which kernel ran, and why (PyTorch's dispatch, fbgemm's path on this CPU).
    pub kernel: String,
    pub steps: Vec<Step>,
}

impl Recorder for Trace {
    fn step(&mut self, key: &'static str, value: Value, text: impl FnOnce() -> Text) {
        let (label, formula) = text();
        self.steps.push(Step::new(key, label, formula, value));
    }
}

impl Trace {
    pub fn get(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.key == key)
    }
    pub fn output(&self) -> Option<i64> {
        match self.get(key::OUTPUT)?.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}

/// The first step, in `a`'s order, present in both traces with different values.
pub fn first_divergence<'a>(a: &'a Trace, b: &Trace) -> Option<&'a Step> {
    a.steps.iter().find(|s| match b.get(s.key) {
        Some(t) => !same_value(s.value, t.value),
        None => false,
    })
}

fn same_value(a: Value, b: Value) -> bool {
    let (x, y) = (a.as_f64(), b.as_f64());
    x == y || (x.is_nan() && y.is_nan())
}

/// Distance in float32 units in the last place (for "last-bit" diagnoses).
pub fn ulps_f32(a: f32, b: f32) -> u64 {
    let ord = |f: f32| {
        let i = f.to_bits() as i32;
        if i < 0 {
            i32::MIN as i64 - i as i64
        } else {
            i as i64
        }
    };
    (ord(a) - ord(b)).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_show_decimal_and_bits() {
        let v = Value::F32(0.0078);
        assert_eq!(v.decimal(), "0.0078");
        assert_eq!(v.bits().unwrap(), format!("0x{:08x}", 0.0078f32.to_bits()));
        assert_eq!(
            Value::F64(30.514379999999996).decimal(),
            "30.514379999999996"
        );
        assert_eq!(Value::F64(2.964e-5).decimal(), "2.964e-5");
        assert_eq!(Value::F32(2.9559667e-5).decimal(), "2.9559667e-5");
        assert_eq!(Value::Int(-3).bits(), None);
    }

    #[test]
    fn powers_of_two_as_exact_decimals() {
        // 2^30 · 2^-31 = 0.5; 3 · 2^-2 = 0.75; 5 · 2^3 = 40.
        assert_eq!(exact_pow2_decimal(1 << 30, -31), "0.5");
        assert_eq!(exact_pow2_decimal(3, -2), "0.75");
        assert_eq!(exact_pow2_decimal(5, 3), "40");
        assert_eq!(exact_pow2_decimal(-1, -3), "-0.125");
        // 1 · 2^-40 = 5^40 / 10^40: 40 decimals ending in ...0390625.
        let d = exact_pow2_decimal(1, -40);
        assert_eq!(d.len(), 42);
        assert!(d.starts_with("0.000000000000909494701772928"), "{d}");
        assert!(d.ends_with("0390625"), "{d}");
        // 1518500250 · 2^-31 (QuantizeMultiplier(1/√2)): the decimal reads back exactly.
        let d = exact_pow2_decimal(1518500250, -31);
        assert_eq!(d.parse::<f64>().unwrap(), 1518500250.0 / 2f64.powi(31));
        // 1518500250 = 2 · 759250125: 30 decimals.
        assert_eq!(d.len(), 2 + 30, "{d}");
    }

    #[test]
    fn divergence_and_ulps() {
        let mut a = Trace::default();
        let mut b = Trace::default();
        let t = || ("x".into(), "".into());
        a.step(key::ACC, Value::Int(3), t);
        b.step(key::ACC, Value::Int(3), t);
        a.step(key::MULTIPLIER, Value::F32(1.0), t);
        b.step(
            key::MULTIPLIER,
            Value::F32(f32::from_bits(1.0f32.to_bits() + 1)),
            t,
        );
        assert_eq!(first_divergence(&a, &b).unwrap().key, key::MULTIPLIER);
        assert_eq!(ulps_f32(1.0, f32::from_bits(1.0f32.to_bits() + 1)), 1);
        assert_eq!(ulps_f32(-0.0, 0.0), 0);
        assert!(first_divergence(&a, &a).is_none());
    }
}
