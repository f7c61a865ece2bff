//! Paste import: read what people print in PyTorch and fill a [`Scenario`] from it.
//!
//! [`parse`] reads the text (module reprs, `int_repr()` tensors, quantized and
//! float tensor printouts, `Parameter containing:`, `# comments`) into a
//! [`Paste`]: what was found, on which lines, and for every number whether it
//! is exact (a Python float repr such as `scale=0.004018464591354132`) or
//! rounded by the printout (a tensor element such as `tensor([0.0078])`,
//! 4 decimals). [`apply`] turns a paste into a scenario, keeping whatever the
//! paste does not mention from a starting scenario, and validates it (the
//! scenario must run). Either the whole paste applies or nothing does: every
//! failure is a [`PasteError`] naming the line (1-based) and the reason.
//!
//! # Which tensor is which
//!
//! A comment (`# input`, `# output`, `# weight`, `# bias`, `# int repr`) or a
//! `>>>` command line (`>>> net.conv1.weight().int_repr()`) right before a
//! printout names it: the first of the words input, output, weight, bias in the
//! comment decides. Without one, the structure decides:
//!
//! - a `torch.uint8` tensor is the conv's input codes; the second one is the
//!   output codes ([`Paste::expected_output`], used to check the computation);
//!   a third is an error;
//! - a `torch.int8` tensor is the weight codes (`weight().int_repr()`);
//! - a `torch.qint8` printout (`quantization_scheme=...`) is the weight: its
//!   scale(s), zero point(s), per-channel or per-tensor, and its dequantized
//!   values (codes are read off those when only one integer fits);
//! - a `torch.quint8` printout is the input (first) or the output (second): its
//!   scale and zero point are exact (Python floats), codes are read off when
//!   they are unambiguous;
//! - a 1-D float tensor is the bias; a 4-D float tensor with `requires_grad`
//!   or `Parameter containing:` is a float weight (shown, not used);
//! - an integer tensor without a dtype (int64) needs a comment.
//!
//! Module reprs: `QuantizedConv2d(...)` / `QuantizedConvReLU2d(...)` give the
//! conv's shape, output scale (exact) and zero point, ReLU and `bias=False`;
//! `Quantize(...)` gives the input scale (rounded: it is printed as a tensor)
//! and zero point; `DeQuantize()`, `QuantStub()`, `DeQuantStub()`,
//! `Identity()` are ignored; any other name wrapping `(name): Module(...)`
//! children is a model and its children are read.
//!
//! Bounds: at most [`MAX_TEXT`] bytes, nesting at most [`MAX_DEPTH`] deep;
//! parsing is linear in the text.
use crate::conv::ConvShape;
use crate::engine::Computation;
use crate::scenario::{InputSource, Scenario};
use serde::Serialize;
use std::fmt;

/// Longest paste accepted (bytes).
pub const MAX_TEXT: usize = 4 << 20;
/// Deepest bracket nesting accepted.
pub const MAX_DEPTH: usize = 32;

// ------------------------------------------------------------------ results

/// Lines of the paste (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lines {
    pub first: usize,
    pub last: usize,
}

impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "line {}", self.first)
        } else {
            write!(f, "lines {}-{}", self.first, self.last)
        }
    }
}

/// A number as it was printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Number {
    pub value: f64,
    pub text: String,
    /// Exact: a Python float repr (round-trips) or an integer. Otherwise the
    /// printout rounded it and the true value lies within `half_width`.
    pub exact: bool,
    pub half_width: f64,
}

impl Number {
    /// The values the printed text may stand for.
    pub fn interval(&self) -> (f64, f64) {
        (self.value - self.half_width, self.value + self.half_width)
    }
}

/// Integer codes (an `int_repr()`, or read off a quantized printout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Codes {
    pub shape: Vec<usize>,
    pub values: Vec<i64>,
    pub lines: Lines,
    /// Read off dequantized values rather than printed as integers.
    pub recovered: bool,
}

/// Scale and zero point of an activation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActQParams {
    pub scale: Number,
    pub zero_point: i64,
    pub lines: Lines,
    /// Where they came from ("Quantize module", "quint8 printout", "conv module").
    pub source: String,
}

/// What the conv module repr says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvFound {
    pub relu: bool,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
    pub lines: Lines,
}

/// Weight quantization parameters from a qint8 printout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightQParams {
    pub per_channel: bool,
    pub scales: Vec<Number>,
    pub zero_points: Vec<i64>,
    pub lines: Lines,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightFound {
    /// OIHW.
    pub shape: Vec<usize>,
    pub codes: Option<Codes>,
    pub qparams: Option<WeightQParams>,
    /// The dequantized values of a qint8 printout (rounded), flat OIHW.
    pub dequantized: Option<Vec<Number>>,
    pub dequantized_lines: Option<Lines>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BiasFound {
    pub values: Vec<Number>,
    pub lines: Lines,
}

/// One printout recognised, and how it was told apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub lines: Lines,
    /// What it is taken to be ("input codes 1x1x4x16 (uint8)").
    pub what: String,
    /// Why ("comment '# input' on line 3", "the first uint8 tensor").
    pub why: String,
}

/// One value the paste sets, with whether it is exact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// `input_scale`, `weight_scale[0]`, `bias[2]`, ...
    pub name: String,
    pub value: Number,
    pub lines: Lines,
}

/// A value that a printout rounded, with a better estimate the data supports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The field (`weight_scale[0]`).
    pub field: String,
    pub printed: Number,
    /// The interval the evidence allows.
    pub low: f64,
    pub high: f64,
    /// The shortest decimal in that interval.
    pub candidate: f64,
    /// The assumption the interval rests on.
    pub assumption: String,
    pub reasoning: String,
}

/// Everything a paste contains.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Paste {
    pub found: Vec<Found>,
    pub conv: Option<ConvFound>,
    pub input_qparams: Option<ActQParams>,
    pub output_qparams: Option<ActQParams>,
    pub input_codes: Option<Codes>,
    /// The conv's output codes as printed: the UI compares them with fbgemm.
    pub expected_output: Option<Codes>,
    pub weight: Option<WeightFound>,
    pub bias: Option<BiasFound>,
    pub fields: Vec<Field>,
    pub suggestions: Vec<Suggestion>,
    /// Observations made while reading (e.g. an int repr that disagrees with
    /// a dequantized printout beyond its rounding).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasteErrorKind {
    /// Not a printout this reader knows (a stray word, a bad character).
    Syntax,
    /// A bracket opened and never closed, or closed by the wrong one.
    Unbalanced,
    /// A summarized printout (`...`): values are missing.
    Summarized,
    /// Rows of different lengths, or shapes that do not fit together.
    Shape,
    /// A value outside its type's range, or not a number where one is needed.
    Value,
    /// Something PyTorch prints that a quantized conv scenario cannot use.
    Unsupported,
    /// Two printouts that say different things about the same field, or a
    /// tensor whose role is unclear.
    Ambiguous,
    /// Nothing usable in the paste.
    Empty,
    /// Too long or too deep.
    TooLarge,
    /// The resulting scenario does not run.
    Scenario,
}

/// Why a paste cannot be read or applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PasteError {
    /// 1-based line the problem is on (None: the paste as a whole).
    pub line: Option<usize>,
    pub kind: PasteErrorKind,
    pub message: String,
}

impl fmt::Display for PasteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for PasteError {}

impl From<PasteError> for crate::Error {
    fn from(e: PasteError) -> Self {
        crate::Error::Input(e.to_string())
    }
}

fn err<T>(line: usize, kind: PasteErrorKind, message: impl Into<String>) -> Result<T, PasteError> {
    Err(PasteError {
        line: Some(line),
        kind,
        message: message.into(),
    })
}

/// What `apply` says about the result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub kind: NoteKind,
    pub field: Option<String>,
    pub lines: Option<Lines>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// The value was printed rounded; the scenario uses the printed value.
    Rounded,
    /// A better value is suggested (not applied).
    Suggestion,
    /// Taken from the starting scenario.
    Kept,
    /// Changed to make the scenario consistent (e.g. the selected pixel).
    Adjusted,
    /// The pasted output compared with an engine.
    Check,
    /// Anything else worth knowing.
    Warning,
}

// ------------------------------------------------------------------ lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Ident,
    Num,
    Str,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    Eq,
    Colon,
    Ellipsis,
    /// `# ...` or a `>>>` command line: a hint for the next printout.
    Hint,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    t: T,
    s: u32,
    e: u32,
    line: u32,
}

fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("control character U+{:04X}", c as u32)
    } else {
        format!("character {c:?}")
    }
}

/// Tokens, and the first character-level error (tokens stop there): it is
/// reported only if the parser gets that far, so errors come in text order.
fn lex(text: &str) -> (Vec<Tok>, Option<PasteError>) {
    let mut toks = Vec::new();
    let e = lex_into(text, &mut toks).err();
    (toks, e)
}

fn lex_into(text: &str, toks: &mut Vec<Tok>) -> Result<(), PasteError> {
    let b = text.as_bytes();
    let (mut i, mut line, mut line_start) = (0usize, 1u32, true);
    let to_eol = |mut j: usize| {
        while j < b.len() && b[j] != b'\n' {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            line_start = true;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' || c == 0x0c {
            i += 1;
            continue;
        }
        let first = std::mem::replace(&mut line_start, false);
        let push = |toks: &mut Vec<Tok>, t, s: usize, e: usize| {
            toks.push(Tok {
                t,
                s: s as u32,
                e: e as u32,
                line,
            })
        };
        if first && b[i..].starts_with(b"```") {
            i = to_eol(i);
            continue;
        }
        if first && (b[i..].starts_with(b">>>") || b[i..].starts_with(b"In [")) {
            let e = to_eol(i);
            push(toks, T::Hint, i, e);
            i = e;
            continue;
        }
        if first && b[i..].starts_with(b"Out[") {
            // Jupyter's `Out[3]:` prefix.
            if let Some(k) = b[i..to_eol(i)].iter().position(|&c| c == b':') {
                i += k + 1;
                continue;
            }
        }
        match c {
            b'#' => {
                let e = to_eol(i);
                push(toks, T::Hint, i, e);
                i = e;
            }
            b'(' | b')' | b'[' | b']' | b',' | b'=' | b':' => {
                let t = match c {
                    b'(' => T::LParen,
                    b')' => T::RParen,
                    b'[' => T::LBrack,
                    b']' => T::RBrack,
                    b',' => T::Comma,
                    b'=' => T::Eq,
                    _ => T::Colon,
                };
                push(toks, t, i, i + 1);
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                push(toks, T::Ellipsis, i, i + 3);
                i += 3;
            }
            b'\'' | b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c && b[j] != b'\n' {
                    j += 1;
                }
                if j >= b.len() || b[j] != c {
                    return err(line as usize, PasteErrorKind::Syntax, "unterminated string");
                }
                push(toks, T::Str, i + 1, j);
                i = j + 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                let word = &text[i..j];
                let t = if matches!(word, "nan" | "inf") {
                    T::Num
                } else {
                    T::Ident
                };
                push(toks, t, i, j);
                i = j;
            }
            _ if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.') => {
                let mut j = i;
                if matches!(b[j], b'-' | b'+') {
                    j += 1;
                }
                if b[j..].starts_with(b"inf") || b[j..].starts_with(b"nan") {
                    j += 3;
                } else {
                    let d0 = j;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'.' {
                        j += 1;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                    if j == d0 || &text[d0..j] == "." {
                        let ch = text[i..].chars().next().unwrap_or(' ');
                        return err(
                            line as usize,
                            PasteErrorKind::Syntax,
                            format!("unexpected {}", describe_char(ch)),
                        );
                    }
                    if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                        let mut k = j + 1;
                        if k < b.len() && matches!(b[k], b'-' | b'+') {
                            k += 1;
                        }
                        let k0 = k;
                        while k < b.len() && b[k].is_ascii_digit() {
                            k += 1;
                        }
                        if k > k0 {
                            j = k;
                        }
                    }
                }
                if j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
                    let mut k = j;
                    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                        k += 1;
                    }
                    return err(
                        line as usize,
                        PasteErrorKind::Syntax,
                        format!("{:?} is not a number", &text[i..k]),
                    );
                }
                push(toks, T::Num, i, j);
                i = j;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                return err(
                    line as usize,
                    PasteErrorKind::Syntax,
                    format!(
                        "unexpected {} (not part of a PyTorch printout)",
                        describe_char(ch)
                    ),
                );
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ syntax tree

#[derive(Debug, Clone, Copy)]
struct NumTok {
    v: f64,
    s: u32,
    e: u32,
    line: u32,
}

#[derive(Debug)]
struct Array {
    shape: Vec<usize>,
    nums: Vec<NumTok>,
    first: usize,
    last: usize,
}

#[derive(Debug)]
enum Expr {
    Num(NumTok),
    Name(String, usize),
    Str(String, usize),
    Array(Array),
    Tuple(Vec<Expr>, usize),
    Call(Call),
}

impl Expr {
    fn line(&self) -> usize {
        match self {
            Expr::Num(n) => n.line as usize,
            Expr::Name(_, l) | Expr::Str(_, l) | Expr::Tuple(_, l) => *l,
            Expr::Array(a) => a.first,
            Expr::Call(c) => c.first,
        }
    }
}

#[derive(Debug)]
struct Call {
    name: String,
    first: usize,
    last: usize,
    args: Vec<Expr>,
    kwargs: Vec<(String, Expr)>,
    children: Vec<(String, Call)>,
}

impl Call {
    fn lines(&self) -> Lines {
        Lines {
            first: self.first,
            last: self.last,
        }
    }
    fn kw(&self, k: &str) -> Option<&Expr> {
        self.kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Tok>,
    i: usize,
    depth: usize,
    /// The parser looked past the last token.
    hit_end: std::cell::Cell<bool>,
}

fn tok_name(t: T) -> &'static str {
    match t {
        T::Ident => "a name",
        T::Num => "a number",
        T::Str => "a string",
        T::LParen => "'('",
        T::RParen => "')'",
        T::LBrack => "'['",
        T::RBrack => "']'",
        T::Comma => "','",
        T::Eq => "'='",
        T::Colon => "':'",
        T::Ellipsis => "'...'",
        T::Hint => "a comment",
    }
}

const SUMMARIZED: &str = "the printout is summarized ('...'): values are missing; print it in full with torch.set_printoptions(profile=\"full\")";

impl<'a> Parser<'a> {
    fn peek(&self, k: usize) -> Option<Tok> {
        let t = self.toks.get(self.i + k).copied();
        if t.is_none() {
            self.hit_end.set(true);
        }
        t
    }
    fn text(&self, t: Tok) -> &'a str {
        &self.text[t.s as usize..t.e as usize]
    }
    fn last_line(&self) -> usize {
        self.toks.last().map_or(1, |t| t.line as usize)
    }
    fn show(&self, t: Tok) -> String {
        match t.t {
            T::Ident | T::Num => format!("{:?}", self.text(t)),
            T::Str => format!("the string {:?}", self.text(t)),
            other => tok_name(other).to_string(),
        }
    }
    fn deeper(&mut self, line: usize) -> Result<(), PasteError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                line,
                PasteErrorKind::TooLarge,
                format!("brackets nested more than {MAX_DEPTH} deep"),
            );
        }
        Ok(())
    }
    fn unclosed<T2>(&self, open: Tok, what: &str) -> Result<T2, PasteError> {
        err(
            open.line as usize,
            PasteErrorKind::Unbalanced,
            format!(
                "'{what}' opened here is never closed (the paste ends at line {}: truncated?)",
                self.last_line()
            ),
        )
    }
    fn mismatched<T2>(&self, open: Tok, found: Tok, want: &str) -> Result<T2, PasteError> {
        err(
            found.line as usize,
            PasteErrorKind::Unbalanced,
            format!(
                "expected '{want}' to close the '{}' opened on line {}, found {}",
                self.text(open),
                open.line,
                self.show(found)
            ),
        )
    }

    fn value(&mut self) -> Result<Expr, PasteError> {
        let Some(t) = self.peek(0) else {
            return err(
                self.last_line(),
                PasteErrorKind::Unbalanced,
                "the paste ends where a value was expected (truncated?)",
            );
        };
        match t.t {
            T::Num => {
                self.i += 1;
                Ok(Expr::Num(self.num(t)?))
            }
            T::Ident => {
                if matches!(self.peek(1), Some(Tok { t: T::LParen, .. })) {
                    Ok(Expr::Call(self.call()?))
                } else {
                    self.i += 1;
                    Ok(Expr::Name(self.text(t).to_string(), t.line as usize))
                }
            }
            T::Str => {
                self.i += 1;
                Ok(Expr::Str(self.text(t).to_string(), t.line as usize))
            }
            T::LBrack => {
                let mut nums = Vec::new();
                let shape = self.array(&mut nums)?;
                let last = self.toks[self.i - 1].line as usize;
                Ok(Expr::Array(Array {
                    shape,
                    nums,
                    first: t.line as usize,
                    last,
                }))
            }
            T::LParen => {
                self.i += 1;
                self.deeper(t.line as usize)?;
                let mut items = vec![];
                loop {
                    match self.peek(0) {
                        None => return self.unclosed(t, "("),
                        Some(Tok { t: T::RParen, .. }) => {
                            self.i += 1;
                            break;
                        }
                        Some(Tok { t: T::Comma, .. }) => self.i += 1,
                        Some(c @ Tok { t: T::RBrack, .. }) => return self.mismatched(t, c, ")"),
                        _ => items.push(self.value()?),
                    }
                }
                self.depth -= 1;
                Ok(Expr::Tuple(items, t.line as usize))
            }
            T::Ellipsis => err(t.line as usize, PasteErrorKind::Summarized, SUMMARIZED),
            _ => err(
                t.line as usize,
                PasteErrorKind::Syntax,
                format!("expected a value, found {}", self.show(t)),
            ),
        }
    }

    fn num(&self, t: Tok) -> Result<NumTok, PasteError> {
        let s = self.text(t);
        let v: f64 = s.parse().map_err(|_| PasteError {
            line: Some(t.line as usize),
            kind: PasteErrorKind::Value,
            message: format!("{s:?} is not a number"),
        })?;
        Ok(NumTok {
            v,
            s: t.s,
            e: t.e,
            line: t.line,
        })
    }

    /// A nested list of numbers; returns its shape and appends the values.
    fn array(&mut self, out: &mut Vec<NumTok>) -> Result<Vec<usize>, PasteError> {
        let open = self.toks[self.i];
        self.i += 1;
        self.deeper(open.line as usize)?;
        let mut count = 0usize;
        let mut sub: Option<(Vec<usize>, usize)> = None;
        let mut scalars = false;
        loop {
            let Some(t) = self.peek(0) else {
                return self.unclosed(open, "[");
            };
            match t.t {
                T::RBrack => {
                    self.i += 1;
                    break;
                }
                T::Comma => self.i += 1,
                T::Num => {
                    if sub.is_some() {
                        return err(
                            t.line as usize,
                            PasteErrorKind::Shape,
                            "a number among rows: the brackets do not nest evenly",
                        );
                    }
                    scalars = true;
                    out.push(self.num(t)?);
                    self.i += 1;
                    count += 1;
                }
                T::LBrack => {
                    if scalars {
                        return err(
                            t.line as usize,
                            PasteErrorKind::Shape,
                            "a row among numbers: the brackets do not nest evenly",
                        );
                    }
                    let shape = self.array(out)?;
                    match &sub {
                        None => sub = Some((shape, t.line as usize)),
                        Some((s0, l0)) if *s0 != shape => {
                            return err(
                                t.line as usize,
                                PasteErrorKind::Shape,
                                format!(
                                    "this block has shape {} but the one on line {l0} has shape {} (a value or line missing?)",
                                    dims(&shape),
                                    dims(s0)
                                ),
                            )
                        }
                        _ => {}
                    }
                    count += 1;
                }
                T::Ellipsis => return err(t.line as usize, PasteErrorKind::Summarized, SUMMARIZED),
                T::RParen => return self.mismatched(open, t, "]"),
                _ => {
                    return err(
                        t.line as usize,
                        PasteErrorKind::Syntax,
                        format!("expected a number in the tensor, found {}", self.show(t)),
                    )
                }
            }
        }
        self.depth -= 1;
        let mut shape = vec![count];
        if let Some((s, _)) = sub {
            shape.extend(s);
        }
        Ok(shape)
    }

    /// `Name(args, key=value, (child): Module(...))`.
    fn call(&mut self) -> Result<Call, PasteError> {
        let name_tok = self.toks[self.i];
        let open = self.toks[self.i + 1];
        self.i += 2;
        self.deeper(open.line as usize)?;
        let mut c = Call {
            name: self.text(name_tok).to_string(),
            first: name_tok.line as usize,
            last: name_tok.line as usize,
            args: vec![],
            kwargs: vec![],
            children: vec![],
        };
        loop {
            let Some(t) = self.peek(0) else {
                return self.unclosed(open, "(");
            };
            match t.t {
                T::RParen => {
                    self.i += 1;
                    c.last = t.line as usize;
                    break;
                }
                T::Comma | T::Hint => self.i += 1,
                T::RBrack => return self.mismatched(open, t, ")"),
                T::LParen
                    if matches!(
                        (self.peek(1), self.peek(2), self.peek(3)),
                        (
                            Some(Tok { t: T::Ident, .. }),
                            Some(Tok { t: T::RParen, .. }),
                            Some(Tok { t: T::Colon, .. })
                        )
                    ) =>
                {
                    let child = self.text(self.toks[self.i + 1]).to_string();
                    self.i += 4;
                    match (self.peek(0), self.peek(1)) {
                        (Some(Tok { t: T::Ident, .. }), Some(Tok { t: T::LParen, .. })) => {
                            let m = self.call()?;
                            c.children.push((child, m));
                        }
                        (Some(x), _) => {
                            return err(
                                x.line as usize,
                                PasteErrorKind::Syntax,
                                format!(
                                    "expected a module after ({child}):, found {}",
                                    self.show(x)
                                ),
                            )
                        }
                        (None, _) => return self.unclosed(open, "("),
                    }
                }
                T::Ident if matches!(self.peek(1), Some(Tok { t: T::Eq, .. })) => {
                    let k = self.text(t).to_string();
                    self.i += 2;
                    let v = self.value()?;
                    c.kwargs.push((k, v));
                }
                _ => {
                    let v = self.value()?;
                    c.args.push(v);
                }
            }
        }
        self.depth -= 1;
        Ok(c)
    }
}

fn dims(s: &[usize]) -> String {
    if s.is_empty() {
        return "scalar".into();
    }
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

// ------------------------------------------------------------------ numbers

/// Half the last printed digit: 0 for integers and whole-number floats (`1.`).
fn half_width_of(text: &str) -> f64 {
    let t = text.trim_start_matches(['-', '+']);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(k) => (&t[..k], t[k + 1..].parse::<i32>().unwrap_or(0)),
        None => (t, 0),
    };
    let decimals = mant.find('.').map_or(0, |k| mant.len() - k - 1) as i32;
    if decimals == 0 && exp == 0 {
        return 0.0;
    }
    0.5 * 10f64.powi(exp - decimals)
}

impl Parser<'_> {
    fn number(&self, n: NumTok, exact: bool) -> Number {
        let text = self.text[n.s as usize..n.e as usize].to_string();
        let hw = if exact { 0.0 } else { half_width_of(&text) };
        Number {
            value: n.v,
            exact: hw == 0.0,
            half_width: hw,
            text,
        }
    }
}

// ------------------------------------------------------------------ reading

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Input,
    Output,
    Weight,
    Bias,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
            Role::Weight => "weight",
            Role::Bias => "bias",
        }
    }
}

struct Hint {
    role: Option<Role>,
    text: String,
    line: usize,
}

fn hint_of(text: &str, line: usize) -> Hint {
    let low = text.to_ascii_lowercase();
    let role = [Role::Input, Role::Output, Role::Weight, Role::Bias]
        .into_iter()
        .filter_map(|r| low.find(r.word()).map(|p| (p, r)))
        .min_by_key(|(p, _)| *p)
        .map(|(_, r)| r);
    Hint {
        role,
        text: text.trim().to_string(),
        line,
    }
}

/// What a `tensor(...)` printout is.
enum Tensor {
    Int {
        dtype: Option<String>,
        shape: Vec<usize>,
        values: Vec<i64>,
    },
    Float {
        shape: Vec<usize>,
        values: Vec<Number>,
        grad: bool,
    },
    Quantized {
        dtype: String,
        shape: Vec<usize>,
        values: Vec<Number>,
        per_channel: bool,
        scales: Vec<Number>,
        zero_points: Vec<i64>,
        axis: Option<i64>,
    },
}

struct Reader<'a> {
    p: Parser<'a>,
    out: Paste,
    float_weight: Option<Lines>,
}

fn name_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n, _) | Expr::Str(n, _) => Some(n.trim_start_matches("torch.")),
        _ => None,
    }
}

impl<'a> Reader<'a> {
    fn int(&self, e: &Expr, what: &str) -> Result<i64, PasteError> {
        match e {
            Expr::Num(n) if half_width_of(&self.p.text[n.s as usize..n.e as usize]) == 0.0 => {
                if n.v.abs() > 1e15 {
                    return err(
                        n.line as usize,
                        PasteErrorKind::Value,
                        format!("{what} is too large"),
                    );
                }
                Ok(n.v as i64)
            }
            _ => err(
                e.line(),
                PasteErrorKind::Value,
                format!("{what} must be an integer"),
            ),
        }
    }

    fn pair(&self, e: &Expr, what: &str) -> Result<[usize; 2], PasteError> {
        let one = |e: &Expr| self.bounded(e, what, 0);
        match e {
            Expr::Tuple(v, l) => match v.as_slice() {
                [a] => Ok([one(a)?; 2]),
                [a, b] => Ok([one(a)?, one(b)?]),
                _ => err(
                    *l,
                    PasteErrorKind::Unsupported,
                    format!("{what} must have two values (a 2-d conv)"),
                ),
            },
            _ => Ok([one(e)?; 2]),
        }
    }

    fn usize_arg(&self, e: &Expr, what: &str) -> Result<usize, PasteError> {
        self.bounded(e, what, 1)
    }

    /// An integer argument in `min..=1_000_000`.
    fn bounded(&self, e: &Expr, what: &str, min: i64) -> Result<usize, PasteError> {
        let v = self.int(e, what)?;
        if !(min..=1_000_000).contains(&v) {
            return err(
                e.line(),
                PasteErrorKind::Value,
                format!("{what} {v} is out of range"),
            );
        }
        Ok(v as usize)
    }

    /// A `tensor(...)` call, read.
    fn tensor(&self, c: &Call, param: bool) -> Result<Tensor, PasteError> {
        let (shape, nums): (Vec<usize>, Vec<NumTok>) = match c.args.first() {
            Some(Expr::Array(a)) => (a.shape.clone(), a.nums.clone()),
            Some(Expr::Num(n)) => (vec![], vec![*n]),
            Some(e) => {
                return err(
                    e.line(),
                    PasteErrorKind::Syntax,
                    "tensor(...) must start with its values",
                )
            }
            None => return err(c.first, PasteErrorKind::Syntax, "tensor() without values"),
        };
        if c.args.len() > 1 {
            return err(
                c.args[1].line(),
                PasteErrorKind::Syntax,
                "tensor(...) has one list of values",
            );
        }
        let dtype = c.kw("dtype").and_then(name_of).map(str::to_string);
        let grad = param
            || matches!(c.kw("requires_grad").and_then(name_of), Some("True"))
            || c.kw("grad_fn").is_some();
        if let Some(Expr::Array(a)) = c.args.first() {
            if let Some(size) = c.kw("size") {
                let want: Vec<usize> = match size {
                    Expr::Tuple(v, _) => v
                        .iter()
                        .map(|e| self.usize_arg(e, "size"))
                        .collect::<Result<_, _>>()?,
                    e => vec![self.usize_arg(e, "size")?],
                };
                if want != a.shape {
                    return err(
                        size.line(),
                        PasteErrorKind::Shape,
                        format!(
                            "size={} but the values printed above (lines {}-{}) have shape {}",
                            dims(&want),
                            a.first,
                            a.last,
                            dims(&a.shape)
                        ),
                    );
                }
            }
        }
        if let Some(scheme) = c.kw("quantization_scheme") {
            let scheme = name_of(scheme).unwrap_or("");
            let per_channel = match scheme {
                "per_tensor_affine" | "per_tensor_symmetric" => false,
                "per_channel_affine" | "per_channel_symmetric" => true,
                other => {
                    return err(
                        c.kw("quantization_scheme").map_or(c.first, Expr::line),
                        PasteErrorKind::Unsupported,
                        format!("quantization scheme {other:?} is not supported"),
                    )
                }
            };
            let dtype = dtype.clone().unwrap_or_default();
            let scale = c.kw("scale").ok_or_else(|| PasteError {
                line: Some(c.last),
                kind: PasteErrorKind::Syntax,
                message: "quantized printout without scale=".into(),
            })?;
            let zp = c.kw("zero_point").ok_or_else(|| PasteError {
                line: Some(c.last),
                kind: PasteErrorKind::Syntax,
                message: "quantized printout without zero_point=".into(),
            })?;
            let (scales, zero_points) = if per_channel {
                let s = match scale {
                    Expr::Call(sc) if sc.name == "tensor" => match self.tensor(sc, false)? {
                        Tensor::Float { values, .. } => values,
                        Tensor::Int { values, .. } => values
                            .iter()
                            .map(|&v| Number {
                                value: v as f64,
                                text: v.to_string(),
                                exact: true,
                                half_width: 0.0,
                            })
                            .collect(),
                        _ => {
                            return err(
                                scale.line(),
                                PasteErrorKind::Syntax,
                                "scale=tensor(...) expected",
                            )
                        }
                    },
                    e => {
                        return err(
                            e.line(),
                            PasteErrorKind::Syntax,
                            "per-channel scale= must be a tensor",
                        )
                    }
                };
                let z = self.int_list(zp, "zero_point")?;
                (s, z)
            } else {
                let s = match scale {
                    Expr::Num(n) => self.p.number(*n, true),
                    e => return err(e.line(), PasteErrorKind::Value, "scale= must be a number"),
                };
                (vec![s], vec![self.int(zp, "zero_point")?])
            };
            let axis = match c.kw("axis") {
                Some(e) => Some(self.int(e, "axis")?),
                None => None,
            };
            let values = nums.iter().map(|&n| self.p.number(n, false)).collect();
            return Ok(Tensor::Quantized {
                dtype,
                shape,
                values,
                per_channel,
                scales,
                zero_points,
                axis,
            });
        }
        let float_dtype = matches!(
            dtype.as_deref(),
            Some("float32" | "float64" | "float16" | "bfloat16" | "float" | "double" | "half")
        );
        let all_int = nums
            .iter()
            .all(|n| !self.p.text[n.s as usize..n.e as usize].contains(['.', 'e', 'E', 'n', 'i']));
        if !float_dtype && (dtype.is_some() || all_int) {
            if let Some(d) = &dtype {
                if !matches!(
                    d.as_str(),
                    "uint8" | "int8" | "int16" | "int32" | "int64" | "long" | "int"
                ) {
                    return err(
                        c.kw("dtype").map_or(c.first, Expr::line),
                        PasteErrorKind::Unsupported,
                        format!("dtype torch.{d} is not used by a quantized conv"),
                    );
                }
            }
            let mut values = Vec::with_capacity(nums.len());
            for n in &nums {
                let t = &self.p.text[n.s as usize..n.e as usize];
                if t.contains(['.', 'e', 'E', 'n', 'i']) || n.v.abs() > 1e15 {
                    return err(
                        n.line as usize,
                        PasteErrorKind::Value,
                        format!("{t:?} in an integer tensor"),
                    );
                }
                values.push(n.v as i64);
            }
            return Ok(Tensor::Int {
                dtype,
                shape,
                values,
            });
        }
        let values = nums.iter().map(|&n| self.p.number(n, false)).collect();
        Ok(Tensor::Float {
            shape,
            values,
            grad,
        })
    }

    fn int_list(&self, e: &Expr, what: &str) -> Result<Vec<i64>, PasteError> {
        match e {
            Expr::Call(c) if c.name == "tensor" => match self.tensor(c, false)? {
                Tensor::Int { values, .. } => Ok(values),
                _ => err(
                    e.line(),
                    PasteErrorKind::Value,
                    format!("{what} must be integers"),
                ),
            },
            _ => Ok(vec![self.int(e, what)?]),
        }
    }

    fn found(&mut self, lines: Lines, what: String, why: String) {
        self.out.found.push(Found { lines, what, why });
    }

    fn item(&mut self, c: Call, hint: Option<Hint>, param: bool) -> Result<(), PasteError> {
        if c.name == "tensor" {
            return self.tensor_item(&c, hint, param);
        }
        // A module repr names itself; a comment before it is only informative.
        drop(hint);
        self.module(&c)
    }

    fn module(&mut self, c: &Call) -> Result<(), PasteError> {
        let lines = c.lines();
        match c.name.as_str() {
            "QuantizedConv2d" | "QuantizedConvReLU2d" => self.conv(c),
            "Quantize" => {
                let scale = match c.kw("scale") {
                    Some(Expr::Call(t)) if t.name == "tensor" => match self.tensor(t, false)? {
                        Tensor::Float { values, .. } if values.len() == 1 => values[0].clone(),
                        Tensor::Int { values, .. } if values.len() == 1 => Number {
                            value: values[0] as f64,
                            text: values[0].to_string(),
                            exact: true,
                            half_width: 0.0,
                        },
                        _ => return err(t.first, PasteErrorKind::Value, "Quantize scale must be one number"),
                    },
                    Some(Expr::Num(n)) => self.p.number(*n, true),
                    _ => return err(c.first, PasteErrorKind::Syntax, "Quantize(...) without scale="),
                };
                let zp = match c.kw("zero_point") {
                    Some(e) => {
                        let v = self.int_list(e, "zero_point")?;
                        if v.len() != 1 {
                            return err(e.line(), PasteErrorKind::Value, "Quantize zero_point must be one integer");
                        }
                        v[0]
                    }
                    None => return err(c.first, PasteErrorKind::Syntax, "Quantize(...) without zero_point="),
                };
                if let Some(d) = c.kw("dtype").and_then(name_of) {
                    if d != "quint8" {
                        return err(
                            c.kw("dtype").map_or(c.first, Expr::line),
                            PasteErrorKind::Unsupported,
                            format!("the quantized conv takes quint8 input, this Quantize makes {d}"),
                        );
                    }
                }
                self.set_act(
                    true,
                    ActQParams {
                        scale,
                        zero_point: zp,
                        lines,
                        source: "Quantize module".into(),
                    },
                )?;
                self.found(lines, "input scale and zero point (Quantize module)".into(), "module repr".into());
                Ok(())
            }
            "DeQuantize" | "QuantStub" | "DeQuantStub" | "Identity" | "Dropout" => {
                self.found(lines, format!("{} (ignored)", c.name), "module repr".into());
                Ok(())
            }
            "Conv2d" | "ConvReLU2d" | "ConvBn2d" | "ConvBnReLU2d" => err(
                c.first,
                PasteErrorKind::Unsupported,
                format!(
                    "{} is a float module: print the model after torch.ao.quantization.convert (it shows QuantizedConv2d)",
                    c.name
                ),
            ),
            _ if c.args.is_empty() && c.kwargs.is_empty() && !c.children.is_empty() => {
                self.found(lines, format!("model {}", c.name), "a module with children".into());
                for (_, m) in &c.children {
                    self.module(m)?;
                }
                Ok(())
            }
            other => err(
                c.first,
                PasteErrorKind::Unsupported,
                format!("{other}(...) is not a module this import knows (QuantizedConv2d, QuantizedConvReLU2d, Quantize, DeQuantize, or a model containing them)"),
            ),
        }
    }

    fn conv(&mut self, c: &Call) -> Result<(), PasteError> {
        if let Some(prev) = &self.out.conv {
            return err(
                c.first,
                PasteErrorKind::Ambiguous,
                format!(
                    "a second conv module ({} has one already): paste one conv at a time",
                    prev.lines
                ),
            );
        }
        let relu = c.name == "QuantizedConvReLU2d";
        if c.args.len() != 2 {
            return err(
                c.first,
                PasteErrorKind::Syntax,
                format!(
                    "{}(...) should start with in_channels, out_channels",
                    c.name
                ),
            );
        }
        let in_channels = self.usize_arg(&c.args[0], "in_channels")?;
        let out_channels = self.usize_arg(&c.args[1], "out_channels")?;
        let pair = |k: &str, d: usize| -> Result<[usize; 2], PasteError> {
            c.kw(k).map_or(Ok([d, d]), |e| self.pair(e, k))
        };
        let kernel = match c.kw("kernel_size") {
            Some(e) => self.pair(e, "kernel_size")?,
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without kernel_size=",
                )
            }
        };
        let stride = pair("stride", 1)?;
        let padding = pair("padding", 0)?;
        let dilation = pair("dilation", 1)?;
        let groups = match c.kw("groups") {
            Some(e) => self.usize_arg(e, "groups")?,
            None => 1,
        };
        let bias = !matches!(c.kw("bias").and_then(name_of), Some("False"));
        if let Some(m) = c.kw("padding_mode").and_then(name_of) {
            if m != "zeros" {
                return err(
                    c.kw("padding_mode").map_or(c.first, Expr::line),
                    PasteErrorKind::Unsupported,
                    format!("padding_mode={m}: only zero padding is modelled"),
                );
            }
        }
        let scale = match c.kw("scale") {
            Some(Expr::Num(n)) => self.p.number(*n, true),
            Some(e) => return err(e.line(), PasteErrorKind::Value, "scale= must be a number"),
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without scale=",
                )
            }
        };
        let zp = match c.kw("zero_point") {
            Some(e) => self.int(e, "zero_point")?,
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without zero_point=",
                )
            }
        };
        let lines = c.lines();
        self.set_act(
            false,
            ActQParams {
                scale,
                zero_point: zp,
                lines,
                source: "conv module".into(),
            },
        )?;
        self.out.conv = Some(ConvFound {
            relu,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            lines,
        });
        self.found(
            lines,
            format!(
                "{} {in_channels} -> {out_channels}, kernel {}x{}{}",
                c.name,
                kernel[0],
                kernel[1],
                if relu { ", fused ReLU" } else { "" }
            ),
            "module repr".into(),
        );
        Ok(())
    }

    /// Input (`input = true`) or output scale and zero point. An exact value
    /// wins over a rounded one if they agree; disagreeing values are an error.
    fn set_act(&mut self, input: bool, q: ActQParams) -> Result<(), PasteError> {
        let what = if input { "input" } else { "output" };
        if !(q.scale.value > 0.0) || !q.scale.value.is_finite() || !((q.scale.value as f32) > 0.0) {
            return err(
                q.lines.first,
                PasteErrorKind::Value,
                format!(
                    "{what} scale {} is not a positive finite number",
                    q.scale.text
                ),
            );
        }
        if !(0..=255).contains(&q.zero_point) {
            return err(
                q.lines.first,
                PasteErrorKind::Value,
                format!(
                    "{what} zero point {} is not in 0..255 (quint8)",
                    q.zero_point
                ),
            );
        }
        let slot = if input {
            &mut self.out.input_qparams
        } else {
            &mut self.out.output_qparams
        };
        if let Some(prev) = slot {
            let (lo, hi) = prev.scale.interval();
            let (lo2, hi2) = q.scale.interval();
            let overlap = lo.max(lo2) <= hi.min(hi2) * (1.0 + 1e-12);
            if !overlap || prev.zero_point != q.zero_point {
                return err(
                    q.lines.first,
                    PasteErrorKind::Ambiguous,
                    format!(
                        "{what} scale {} / zero point {} disagrees with {} / {} on {} ({})",
                        q.scale.text,
                        q.zero_point,
                        prev.scale.text,
                        prev.zero_point,
                        prev.lines,
                        prev.source
                    ),
                );
            }
            if prev.scale.exact || !q.scale.exact {
                return Ok(());
            }
        }
        *slot = Some(q);
        Ok(())
    }

    fn tensor_item(&mut self, c: &Call, hint: Option<Hint>, param: bool) -> Result<(), PasteError> {
        let lines = c.lines();
        let t = self.tensor(c, param)?;
        let role = hint.as_ref().and_then(|h| h.role);
        let by_hint = |h: &Option<Hint>| {
            h.as_ref()
                .map(|h| format!("comment {:?} on line {}", h.text, h.line))
        };
        match t {
            Tensor::Int {
                dtype,
                shape,
                values,
            } => {
                let d = dtype.clone().unwrap_or_else(|| "int64".into());
                let role = match (role, d.as_str()) {
                    (Some(Role::Bias), _) => {
                        return err(lines.first, PasteErrorKind::Ambiguous, "the comment says bias, but this is an integer tensor (the conv's bias is float: print net.conv1.bias())")
                    }
                    (Some(r), "uint8" | "int8" | "int64" | "long" | "int") => r,
                    (Some(_), _) | (None, "int16" | "int32") => {
                        return err(lines.first, PasteErrorKind::Unsupported, format!("a torch.{d} tensor: a quantized conv's codes are uint8 (activations) or int8 (weights)"))
                    }
                    (None, "uint8") => {
                        if self.out.input_codes.is_none() {
                            Role::Input
                        } else if self.out.expected_output.is_none() {
                            Role::Output
                        } else {
                            return err(lines.first, PasteErrorKind::Ambiguous, "a third uint8 tensor: the input and output codes were already given; mark which is which with '# input' / '# output'");
                        }
                    }
                    (None, "int8") => Role::Weight,
                    (None, _) => {
                        return err(lines.first, PasteErrorKind::Ambiguous, "an integer tensor without a dtype (int64): say what it is with a comment on the line before, such as '# input' or '# weight int repr'")
                    }
                };
                let why = by_hint(&hint).unwrap_or_else(|| match role {
                    Role::Input => "the first uint8 tensor".into(),
                    Role::Output => "the second uint8 tensor".into(),
                    _ => "an int8 tensor".into(),
                });
                let (lo, hi, kind) = match role {
                    Role::Weight => (-128, 127, "int8"),
                    _ => (0, 255, "uint8"),
                };
                if let Some(k) = values.iter().position(|&v| v < lo || v > hi) {
                    return err(
                        lines.first,
                        PasteErrorKind::Value,
                        format!(
                            "{} is not a {kind} code ({} codes are {lo}..{hi}; element {k})",
                            values[k],
                            role.word()
                        ),
                    );
                }
                let codes = Codes {
                    shape: shape.clone(),
                    values,
                    lines,
                    recovered: false,
                };
                self.found(
                    lines,
                    format!("{} codes {} ({d})", role.word(), dims(&shape)),
                    why,
                );
                self.put_codes(role, codes)
            }
            Tensor::Quantized {
                dtype,
                shape,
                values,
                per_channel,
                scales,
                zero_points,
                axis,
            } => {
                let why = by_hint(&hint).unwrap_or_else(|| format!("a {dtype} printout"));
                if let Some(s) = scales
                    .iter()
                    .find(|s| !(s.value > 0.0) || !s.value.is_finite() || !((s.value as f32) > 0.0))
                {
                    return err(
                        lines.last,
                        PasteErrorKind::Value,
                        format!(
                            "scale {} is not a positive finite number (in float32)",
                            s.text
                        ),
                    );
                }
                match dtype.as_str() {
                    "qint8" => {
                        if matches!(role, Some(Role::Input | Role::Output | Role::Bias)) {
                            return err(lines.first, PasteErrorKind::Ambiguous, format!("the comment says {}, but a qint8 printout is a weight (activations are quint8)", role.map_or("", Role::word)));
                        }
                        if per_channel && axis.unwrap_or(0) != 0 {
                            return err(lines.last, PasteErrorKind::Unsupported, "per-channel weights along axis 0 (output channels) only");
                        }
                        let n = if per_channel { shape.first().copied().unwrap_or(0) } else { 1 };
                        if scales.len() != n || zero_points.len() != n {
                            return err(lines.last, PasteErrorKind::Shape, format!("{} scales and {} zero points for {n} channels", scales.len(), zero_points.len()));
                        }
                        if let Some(z) = zero_points.iter().find(|z| !(-128..=127).contains(*z)) {
                            return err(lines.last, PasteErrorKind::Value, format!("weight zero point {z} is not in -128..127"));
                        }
                        self.found(
                            lines,
                            format!("weight {} (qint8, {}, dequantized values, scale{})", dims(&shape), if per_channel { "per-channel" } else { "per-tensor" }, if per_channel { "s" } else { "" }),
                            why,
                        );
                        let q = WeightQParams { per_channel, scales, zero_points, lines };
                        let w = self.weight_slot(&shape, lines)?;
                        if w.qparams.is_some() {
                            return err(lines.first, PasteErrorKind::Ambiguous, "a second qint8 weight printout");
                        }
                        w.qparams = Some(q);
                        w.dequantized = Some(values);
                        w.dequantized_lines = Some(lines);
                        Ok(())
                    }
                    "quint8" => {
                        let role = match role {
                            Some(r @ (Role::Input | Role::Output)) => r,
                            Some(r) => return err(lines.first, PasteErrorKind::Ambiguous, format!("the comment says {}, but a quint8 printout is an activation", r.word())),
                            None if self.out.input_codes.is_none() && self.out.input_qparams.as_ref().map_or(true, |q| !q.scale.exact) => Role::Input,
                            None => Role::Output,
                        };
                        let scale = scales[0].clone();
                        let zp = zero_points[0];
                        if !(0..=255).contains(&zp) {
                            return err(lines.last, PasteErrorKind::Value, format!("zero point {zp} is not in 0..255"));
                        }
                        self.set_act(role == Role::Input, ActQParams { scale: scale.clone(), zero_point: zp, lines, source: "quint8 printout".into() })?;
                        // Codes, when only one integer fits each printed value.
                        let mut codes = Vec::with_capacity(values.len());
                        for v in &values {
                            match unique_code(v, &scale, zp, 0, 255) {
                                Some(q) => codes.push(q),
                                None => break,
                            }
                        }
                        let readable = codes.len() == values.len();
                        self.found(
                            lines,
                            format!("{} {} (quint8 printout: scale, zero point{})", role.word(), dims(&shape), if readable { ", codes read off the values" } else { "; codes not readable at 4 decimals" }),
                            by_hint(&hint).unwrap_or_else(|| "a quint8 printout".into()),
                        );
                        if readable {
                            self.put_codes(role, Codes { shape, values: codes, lines, recovered: true })?;
                        }
                        Ok(())
                    }
                    other => err(lines.first, PasteErrorKind::Unsupported, format!("a {other} quantized tensor: the conv uses quint8 activations and qint8 weights")),
                }
            }
            Tensor::Float {
                shape,
                values,
                grad,
            } => {
                let role = match role {
                    Some(r) => r,
                    None if shape.len() == 1 => Role::Bias,
                    None if shape.len() == 4 && grad => Role::Weight,
                    None => {
                        return err(lines.first, PasteErrorKind::Ambiguous, format!("cannot tell what this float tensor ({}) is: a 1-d tensor is the bias; put a comment such as '# bias' on the line before", dims(&shape)))
                    }
                };
                let why = by_hint(&hint).unwrap_or_else(|| {
                    if role == Role::Bias {
                        "a 1-d float tensor".into()
                    } else {
                        "a 4-d float tensor with requires_grad".into()
                    }
                });
                match role {
                    Role::Bias => {
                        if shape.len() != 1 {
                            return err(lines.first, PasteErrorKind::Shape, format!("the bias is 1-d (one value per output channel), this tensor is {}", dims(&shape)));
                        }
                        if let Some(v) = values.iter().find(|v| !v.value.is_finite()) {
                            return err(lines.first, PasteErrorKind::Value, format!("bias value {} is not finite", v.text));
                        }
                        if let Some(prev) = &self.out.bias {
                            return err(lines.first, PasteErrorKind::Ambiguous, format!("a second bias (the first is on {})", prev.lines));
                        }
                        self.found(lines, format!("bias, {} value{}", values.len(), if values.len() == 1 { "" } else { "s" }), why);
                        self.out.bias = Some(BiasFound { values, lines });
                        Ok(())
                    }
                    Role::Weight => {
                        self.found(lines, format!("float weight {} (not used: the quantized conv uses the qint8 weight)", dims(&shape)), why);
                        self.float_weight = Some(lines);
                        Ok(())
                    }
                    r => err(
                        lines.first,
                        PasteErrorKind::Unsupported,
                        format!("a float {} tensor: its printout is rounded to 4 decimals, so the codes cannot be recovered; print its .int_repr() (the quantized tensor's codes) instead", r.word()),
                    ),
                }
            }
        }
    }

    fn weight_slot(
        &mut self,
        shape: &[usize],
        lines: Lines,
    ) -> Result<&mut WeightFound, PasteError> {
        if shape.len() != 4 {
            return err(
                lines.first,
                PasteErrorKind::Shape,
                format!(
                    "a conv weight is 4-d (out, in/groups, kh, kw), this one is {}",
                    dims(shape)
                ),
            );
        }
        let w = self.out.weight.get_or_insert_with(|| WeightFound {
            shape: shape.to_vec(),
            codes: None,
            qparams: None,
            dequantized: None,
            dequantized_lines: None,
        });
        if w.shape != shape {
            return err(
                lines.first,
                PasteErrorKind::Shape,
                format!(
                    "this weight is {} but the weight printed earlier is {}",
                    dims(shape),
                    dims(&w.shape)
                ),
            );
        }
        Ok(w)
    }

    fn put_codes(&mut self, role: Role, codes: Codes) -> Result<(), PasteError> {
        let lines = codes.lines;
        let slot = match role {
            Role::Input => &mut self.out.input_codes,
            Role::Output => &mut self.out.expected_output,
            Role::Weight => {
                let shape = codes.shape.clone();
                let w = self.weight_slot(&shape, lines)?;
                if let Some(prev) = &w.codes {
                    return err(
                        lines.first,
                        PasteErrorKind::Ambiguous,
                        format!("a second weight int repr (the first is on {})", prev.lines),
                    );
                }
                w.codes = Some(codes);
                return Ok(());
            }
            Role::Bias => unreachable!("bias is never integer codes"),
        };
        if let Some(prev) = slot {
            if !(prev.recovered || codes.recovered) || prev.values != codes.values {
                return err(
                    lines.first,
                    PasteErrorKind::Ambiguous,
                    format!("{} codes were already given on {}", role.word(), prev.lines),
                );
            }
            if !prev.recovered {
                return Ok(());
            }
        }
        *slot = Some(codes);
        Ok(())
    }
}

/// The one integer code whose dequantized value prints as `v`, if only one fits.
fn unique_code(v: &Number, scale: &Number, zp: i64, lo: i64, hi: i64) -> Option<i64> {
    let (vl, vh) = v.interval();
    let (sl, sh) = scale.interval();
    if !(sl > 0.0) {
        return None;
    }
    // q - zp = v / s over the box of possible (v, s).
    let cands = [vl / sl, vl / sh, vh / sl, vh / sh];
    let a = cands.iter().copied().fold(f64::INFINITY, f64::min);
    let b = cands.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (qa, qb) = (a.ceil(), b.floor());
    if qa != qb || !qa.is_finite() {
        return None;
    }
    let q = qa as i64 + zp;
    (lo..=hi).contains(&q).then_some(q)
}

/// The shortest decimal in [lo, hi] (fewest significant digits).
fn shortest_in(lo: f64, hi: f64) -> f64 {
    let mid = 0.5 * (lo + hi);
    for d in 1..=17 {
        let s = format!("{:.*e}", d - 1, mid);
        if let Ok(v) = s.parse::<f64>() {
            if v >= lo && v <= hi {
                return v;
            }
        }
    }
    mid
}

/// Read a paste.
pub fn parse(text: &str) -> Result<Paste, PasteError> {
    if text.len() > MAX_TEXT {
        return Err(PasteError {
            line: None,
            kind: PasteErrorKind::TooLarge,
            message: format!(
                "the paste is {} bytes; at most {MAX_TEXT} are read",
                text.len()
            ),
        });
    }
    let (toks, lex_err) = lex(text);
    let mut r = Reader {
        p: Parser {
            text,
            toks,
            i: 0,
            depth: 0,
            hit_end: std::cell::Cell::new(false),
        },
        out: Paste::default(),
        float_weight: None,
    };
    match (read_all(&mut r), lex_err) {
        // The parser stopped before the bad character: its error comes first.
        (Err(e), Some(_)) if !r.p.hit_end.get() => return Err(e),
        (_, Some(le)) => return Err(le),
        (Err(e), None) => return Err(e),
        (Ok(()), None) => {}
    }
    let mut out = r.out;
    if out.found.is_empty() {
        return Err(PasteError {
            line: None,
            kind: PasteErrorKind::Empty,
            message: "no PyTorch printout found in the paste".into(),
        });
    }
    finish(&mut out);
    Ok(out)
}

fn read_all(r: &mut Reader<'_>) -> Result<(), PasteError> {
    let mut hint: Option<Hint> = None;
    let mut param = false;
    while let Some(t) = r.p.peek(0) {
        match t.t {
            T::Hint => {
                let text = r.p.text(t).trim_start_matches(['#', '>', ' ']).to_string();
                hint = Some(hint_of(&text, t.line as usize));
                r.p.i += 1;
            }
            T::Ident
                if r.p.text(t) == "Parameter"
                    && matches!(r.p.peek(1), Some(n) if r.p.text(n) == "containing")
                    && matches!(r.p.peek(2), Some(Tok { t: T::Colon, .. })) =>
            {
                param = true;
                r.p.i += 3;
            }
            T::Ident if matches!(r.p.peek(1), Some(Tok { t: T::LParen, .. })) => {
                let c = r.p.call()?;
                r.item(c, hint.take(), std::mem::take(&mut param))?;
            }
            _ => {
                return err(
                    t.line as usize,
                    PasteErrorKind::Syntax,
                    format!(
                        "expected a PyTorch printout (tensor(...), a module repr such as QuantizedConv2d(...), or 'Parameter containing:'), found {}",
                        r.p.show(t)
                    ),
                )
            }
        }
    }
    Ok(())
}

/// Codes from dequantized weights, fields, suggestions.
fn finish(p: &mut Paste) {
    if let Some(w) = &mut p.weight {
        if let (Some(q), Some(deq)) = (&w.qparams, &w.dequantized) {
            let per = w.shape[1..].iter().product::<usize>().max(1);
            let ch = |i: usize| if q.per_channel { i / per } else { 0 };
            let read: Vec<Option<i64>> = deq
                .iter()
                .enumerate()
                .map(|(i, v)| unique_code(v, &q.scales[ch(i)], q.zero_points[ch(i)], -128, 127))
                .collect();
            match &w.codes {
                None => {
                    if read.iter().all(Option::is_some) {
                        w.codes = Some(Codes {
                            shape: w.shape.clone(),
                            values: read.into_iter().flatten().collect(),
                            lines: q.lines,
                            recovered: true,
                        });
                    }
                }
                Some(codes) => {
                    // Does the int repr fit the dequantized printout?
                    for (i, (&c, v)) in codes.values.iter().zip(deq).enumerate() {
                        let (s, z) = (&q.scales[ch(i)], q.zero_points[ch(i)]);
                        let (sl, sh) = s.interval();
                        let (vl, vh) = v.interval();
                        let k = (c - z) as f64;
                        let (a, b) = if k >= 0.0 {
                            (k * sl, k * sh)
                        } else {
                            (k * sh, k * sl)
                        };
                        if b < vl - 1e-12 || a > vh + 1e-12 {
                            p.warnings.push(format!(
                                "weight element {i}: the int repr says {c}, which dequantizes to {a:.6}..{b:.6} with scale {}, but the printout shows {} (is the weight printout from a different PyTorch version or layer?)",
                                s.text, v.text
                            ));
                            break;
                        }
                    }
                }
            }
        }
    }
    // Fields.
    let mut fields = vec![];
    let int_num = |v: i64| Number {
        value: v as f64,
        text: v.to_string(),
        exact: true,
        half_width: 0.0,
    };
    for (name, q) in [("input", &p.input_qparams), ("output", &p.output_qparams)] {
        if let Some(q) = q {
            fields.push(Field {
                name: format!("{name}_scale"),
                value: q.scale.clone(),
                lines: q.lines,
            });
            fields.push(Field {
                name: format!("{name}_zero_point"),
                value: int_num(q.zero_point),
                lines: q.lines,
            });
        }
    }
    if let Some(q) = p.weight.as_ref().and_then(|w| w.qparams.as_ref()) {
        for (c, (s, z)) in q.scales.iter().zip(&q.zero_points).enumerate() {
            fields.push(Field {
                name: format!("weight_scale[{c}]"),
                value: s.clone(),
                lines: q.lines,
            });
            fields.push(Field {
                name: format!("weight_zero_point[{c}]"),
                value: int_num(*z),
                lines: q.lines,
            });
        }
    }
    if let Some(b) = &p.bias {
        for (c, v) in b.values.iter().enumerate() {
            fields.push(Field {
                name: format!("bias[{c}]"),
                value: v.clone(),
                lines: b.lines,
            });
        }
    }
    p.fields = fields;
    p.suggestions = weight_scale_suggestions(p);
}

/// Rounded weight scales narrowed by the dequantized weights (and, for the
/// largest code of a symmetric channel, by the observer's `max|w| / 127.5`).
fn weight_scale_suggestions(p: &Paste) -> Vec<Suggestion> {
    let mut out = vec![];
    let Some(w) = &p.weight else { return out };
    let (Some(q), Some(deq), Some(codes)) = (&w.qparams, &w.dequantized, &w.codes) else {
        return out;
    };
    let per = w.shape[1..].iter().product::<usize>().max(1);
    for (c, s) in q.scales.iter().enumerate() {
        if s.exact {
            continue;
        }
        let range = if q.per_channel {
            c * per..(c + 1) * per
        } else {
            0..deq.len()
        };
        let z = q.zero_points[c];
        let (mut lo, mut hi) = s.interval();
        let (plo, phi) = (lo, hi);
        let mut best: Option<(i64, &Number)> = None;
        for i in range.clone() {
            let k = codes.values[i] - z;
            if k == 0 {
                continue;
            }
            let (vl, vh) = deq[i].interval();
            let (a, b) = if k > 0 {
                (vl / k as f64, vh / k as f64)
            } else {
                (vh / k as f64, vl / k as f64)
            };
            lo = lo.max(a);
            hi = hi.min(b);
            if best.map_or(true, |(bk, _)| k.abs() > bk.abs()) {
                best = Some((k, &deq[i]));
            }
        }
        let field = format!("weight_scale[{c}]");
        let Some((k, v)) = best else { continue };
        if lo <= hi && (lo > plo || hi < phi) {
            let cand = shortest_in(lo, hi);
            out.push(Suggestion {
                field: field.clone(),
                printed: s.clone(),
                low: lo,
                high: hi,
                candidate: cand,
                assumption: "the printout shows the dequantized weights, code x scale (what torch 2.x prints)".into(),
                reasoning: format!(
                    "weight scale {} was printed with {} decimals ({:.6}..{:.6}); the dequantized weight {} = {} x scale (itself rounded, +-{}) puts it in {lo:.8}..{hi:.8}, so {cand} (the shortest decimal there); this cannot tell apart values inside that interval",
                    s.text, decimals(&s.text), plo, phi, v.text, k, fmt_hw(v.half_width)
                ),
            });
        }
        // Per-channel symmetric observer: the largest |w| lands on +-127.5
        // (then 127 after the clamp, or -128). If the printed value is that
        // float weight rather than the dequantized code, scale = max|w|/127.5.
        if z == 0 && (k == 127 || k == -128) && q.per_channel {
            let m = (
                v.interval().0.abs().min(v.interval().1.abs()),
                v.interval().0.abs().max(v.interval().1.abs()),
            );
            let (a, b) = (m.0 / 127.5, m.1 / 127.5);
            let (a, b) = (a.max(plo), b.min(phi));
            if a <= b {
                let cand = shortest_in(a, b);
                out.push(Suggestion {
                    field,
                    printed: s.clone(),
                    low: a,
                    high: b,
                    candidate: cand,
                    assumption: format!(
                        "{} is the float weight the per-channel symmetric observer saw (its largest |w|), not code x scale: the observer sets scale = max|w| / 127.5 and that weight quantizes to 127.5, clamped to 127",
                        v.text
                    ),
                    reasoning: format!(
                        "if {} is max|w|, scale = {}/127.5 is in {a:.8}..{b:.8}, so {cand}; a dequantized printout would then show {:.4}, not {}",
                        v.text,
                        v.text,
                        k as f64 * cand,
                        v.text
                    ),
                });
            }
        }
    }
    out
}

fn decimals(text: &str) -> usize {
    let m = text.split(['e', 'E']).next().unwrap_or("");
    m.find('.').map_or(0, |k| m.len() - k - 1)
}

fn fmt_hw(h: f64) -> String {
    format!("{}", crate::printed::printed(h).max(h))
}

// ------------------------------------------------------------------ apply

fn scenario_err(e: crate::Error, line: Option<usize>) -> PasteError {
    PasteError {
        line,
        kind: PasteErrorKind::Scenario,
        message: e.to_string(),
    }
}

/// Fill a scenario from a paste, keeping what the paste does not mention from
/// `base`. The result runs; notes say what was rounded, kept and adjusted.
pub fn apply(paste: &Paste, base: &Scenario) -> Result<(Scenario, Vec<Note>), PasteError> {
    let mut notes = vec![];
    let mut sc = base.clone();
    let mut s: ConvShape = base.shape;
    let note =
        |notes: &mut Vec<Note>, kind, field: Option<&str>, lines: Option<Lines>, m: String| {
            notes.push(Note {
                kind,
                field: field.map(str::to_string),
                lines,
                message: m,
            })
        };
    // Where each part of the shape came from, for messages.
    let mut channels_from = "the starting scenario".to_string();
    if let Some(c) = &paste.conv {
        s.in_channels = c.in_channels;
        s.out_channels = c.out_channels;
        s.kernel = c.kernel;
        s.stride = c.stride;
        s.padding = c.padding;
        s.dilation = c.dilation;
        s.groups = c.groups;
        sc.params.relu = c.relu;
        channels_from = format!("the conv module on {}", c.lines);
    }
    if let Some(w) = &paste.weight {
        let lines = w
            .codes
            .as_ref()
            .map_or_else(|| w.qparams.as_ref().map(|q| q.lines).unwrap(), |c| c.lines);
        let (o, ig, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        if let Some(c) = &paste.conv {
            if o != c.out_channels || [kh, kw] != c.kernel || ig * c.groups != c.in_channels {
                return err(
                    lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "the weight is {} but {} needs {}x{}x{}x{}",
                        dims(&w.shape),
                        channels_from,
                        c.out_channels,
                        c.in_channels / c.groups.max(1),
                        c.kernel[0],
                        c.kernel[1]
                    ),
                );
            }
        } else {
            s.out_channels = o;
            s.kernel = [kh, kw];
            let cin = paste
                .input_codes
                .as_ref()
                .and_then(|i| i.shape.get(i.shape.len().wrapping_sub(3)).copied());
            let cin = cin.unwrap_or(ig * base.shape.groups);
            if ig == 0 || cin % ig != 0 {
                return err(lines.first, PasteErrorKind::Shape, format!("the weight takes {ig} input channels per group, which does not divide the {cin} input channels"));
            }
            s.in_channels = cin;
            s.groups = cin / ig;
            channels_from = format!("the weight on {lines}");
        }
    }
    if let Some(i) = &paste.input_codes {
        let sh = &i.shape;
        let (n, c, h, w) = match sh.len() {
            4 => (sh[0], sh[1], sh[2], sh[3]),
            3 => {
                note(
                    &mut notes,
                    NoteKind::Adjusted,
                    Some("input"),
                    Some(i.lines),
                    format!("the input is 3-d ({}): read as a batch of one", dims(sh)),
                );
                (1, sh[0], sh[1], sh[2])
            }
            _ => {
                return err(
                    i.lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "the conv input is 4-d (N, C, H, W), this tensor is {}",
                        dims(sh)
                    ),
                )
            }
        };
        if c != s.in_channels {
            return err(
                i.lines.first,
                PasteErrorKind::Shape,
                format!(
                    "the input has {c} channels but {channels_from} takes {}",
                    s.in_channels
                ),
            );
        }
        s.batch = n;
        s.height = h;
        s.width = w;
        sc.input = InputSource::Codes {
            codes: i.values.iter().map(|&v| v as u8).collect(),
        };
    } else {
        note(
            &mut notes,
            NoteKind::Kept,
            Some("input"),
            None,
            format!(
                "input kept from the starting scenario ({})",
                base.input.name()
            ),
        );
        if let InputSource::Codes { codes } = &base.input {
            if codes.len() != s.input_len() {
                return Err(PasteError { line: None, kind: PasteErrorKind::Shape, message: format!("the starting scenario's {} input codes do not fit the pasted conv ({}x{}x{}x{} input): paste the input's int_repr() too", codes.len(), s.batch, s.in_channels, s.height, s.width) });
            }
        }
    }
    s.validate()
        .map_err(|e| scenario_err(e, paste.conv.as_ref().map(|c| c.lines.first)))?;
    // Weights.
    match paste.weight.as_ref().and_then(|w| w.codes.as_ref()) {
        Some(c) => {
            sc.weights = c.values.iter().map(|&v| v as i8).collect();
            if c.recovered {
                note(&mut notes, NoteKind::Adjusted, Some("weights"), Some(c.lines), "weight codes read off the dequantized printout (only one integer fits each value)".into());
            }
        }
        None => {
            if base.weights.len() != s.weight_len() {
                let (line, why) = match paste.weight.as_ref().and_then(|w| w.dequantized_lines) {
                    Some(l) => (Some(l.first), "the dequantized printout is too rounded to read the codes off (more than one integer fits): paste net.conv1.weight().int_repr() too"),
                    None => (paste.conv.as_ref().map(|c| c.lines.first), "paste the weight's int_repr() (net.conv1.weight().int_repr())"),
                };
                return Err(PasteError { line, kind: PasteErrorKind::Shape, message: format!("the starting scenario's {} weights do not fit the pasted conv, which needs {}: {why}", base.weights.len(), s.weight_len()) });
            }
            note(
                &mut notes,
                NoteKind::Kept,
                Some("weights"),
                None,
                "weight codes kept from the starting scenario".into(),
            );
        }
    }
    // Weight quantization parameters.
    let p = &mut sc.params;
    match paste.weight.as_ref().and_then(|w| w.qparams.as_ref()) {
        Some(q) => {
            p.per_channel = q.per_channel;
            p.weight_scales = q.scales.iter().map(|n| n.value).collect();
            p.weight_zero_points = q.zero_points.clone();
            for (c, n) in q.scales.iter().enumerate() {
                if !n.exact {
                    note(&mut notes, NoteKind::Rounded, Some(&format!("weight_scale[{c}]")), Some(q.lines), format!("weight scale {} was printed with {} decimals: the true value is within +-{} of it; the scenario uses {}", n.text, decimals(&n.text), fmt_hw(n.half_width), n.value));
                }
            }
        }
        None => {
            let need = if p.per_channel { s.out_channels } else { 1 };
            if p.weight_scales.len() != need {
                let line = paste
                    .weight
                    .as_ref()
                    .and_then(|w| w.codes.as_ref())
                    .map(|c| c.lines.first);
                return Err(PasteError { line, kind: PasteErrorKind::Shape, message: format!("the starting scenario has {} weight scale(s), the pasted conv has {} output channels: paste the weight printout (print(net.conv1.weight())) for its scales", p.weight_scales.len(), s.out_channels) });
            }
            note(
                &mut notes,
                NoteKind::Kept,
                Some("weight_scale"),
                None,
                "weight scales and zero points kept from the starting scenario".into(),
            );
        }
    }
    for (input, q) in [(true, &paste.input_qparams), (false, &paste.output_qparams)] {
        let name = if input { "input" } else { "output" };
        match q {
            Some(q) => {
                if input {
                    p.input_scale = q.scale.value;
                    p.input_zero_point = q.zero_point;
                } else {
                    p.output_scale = q.scale.value;
                    p.output_zero_point = q.zero_point;
                }
                if !q.scale.exact {
                    note(&mut notes, NoteKind::Rounded, Some(&format!("{name}_scale")), Some(q.lines), format!("{name} scale {} ({}) was printed with {} decimals: the true value is within +-{} of it; the scenario uses {}", q.scale.text, q.source, decimals(&q.scale.text), fmt_hw(q.scale.half_width), q.scale.value));
                }
            }
            None => note(
                &mut notes,
                NoteKind::Kept,
                Some(&format!("{name}_scale")),
                None,
                format!("{name} scale and zero point kept from the starting scenario"),
            ),
        }
    }
    // Bias.
    let conv_no_bias = paste.conv.as_ref().is_some_and(|c| !c.bias);
    match (&paste.bias, conv_no_bias) {
        (Some(b), true) => {
            return err(
                b.lines.first,
                PasteErrorKind::Ambiguous,
                format!(
                    "a bias is pasted but the conv module on {} says bias=False",
                    paste.conv.as_ref().unwrap().lines
                ),
            );
        }
        (Some(b), false) => {
            if b.values.len() != s.out_channels {
                return err(
                    b.lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "{} bias values but {channels_from} has {} output channels",
                        b.values.len(),
                        s.out_channels
                    ),
                );
            }
            p.bias = Some(b.values.iter().map(|v| v.value as f32).collect());
            if b.values.iter().any(|v| !v.exact) {
                let hw = b.values.iter().map(|v| v.half_width).fold(0.0, f64::max);
                note(&mut notes, NoteKind::Rounded, Some("bias"), Some(b.lines), format!("the bias was printed with {} decimals: each value is within +-{} of the printed one; the scenario uses the printed values as float32", b.values.iter().map(|v| decimals(&v.text)).max().unwrap_or(0), fmt_hw(hw)));
            }
        }
        (None, true) => p.bias = None,
        (None, false) => {
            if let Some(b) = &p.bias {
                if b.len() != s.out_channels {
                    return Err(PasteError { line: paste.conv.as_ref().map(|c| c.lines.first), kind: PasteErrorKind::Shape, message: format!("the starting scenario's bias has {} values, the pasted conv has {} output channels: paste the bias (print(net.conv1.bias()))", b.len(), s.out_channels) });
                }
                note(
                    &mut notes,
                    NoteKind::Kept,
                    Some("bias"),
                    None,
                    "bias kept from the starting scenario".into(),
                );
            }
        }
    }
    for sug in &paste.suggestions {
        note(
            &mut notes,
            NoteKind::Suggestion,
            Some(&sug.field),
            Some(
                paste
                    .weight
                    .as_ref()
                    .and_then(|w| w.qparams.as_ref())
                    .map_or(Lines { first: 1, last: 1 }, |q| q.lines),
            ),
            format!("{} (assuming {})", sug.reasoning, sug.assumption),
        );
    }
    for w in &paste.warnings {
        note(&mut notes, NoteKind::Warning, None, None, w.clone());
    }
    sc.shape = s;
    // The view must point inside the new output.
    let (oh, ow) = s.output_hw();
    if sc.view.channel >= s.out_channels || sc.view.pixel.is_some_and(|(y, x)| y >= oh || x >= ow) {
        sc.view.channel = sc.view.channel.min(s.out_channels - 1);
        sc.view.pixel = None;
        note(
            &mut notes,
            NoteKind::Adjusted,
            Some("view"),
            None,
            "the selected pixel was outside the new output and is cleared".into(),
        );
    }
    // Expected output shape.
    if let Some(o) = &paste.expected_output {
        let want = [s.batch, s.out_channels, oh, ow];
        let got: Vec<usize> = if o.shape.len() == 3 {
            std::iter::once(1).chain(o.shape.iter().copied()).collect()
        } else {
            o.shape.clone()
        };
        if got != want {
            return err(o.lines.first, PasteErrorKind::Shape, format!("the output printout is {} but the conv gives {} (stride, padding or dilation differ? paste the conv module)", dims(&o.shape), dims(&want)));
        }
    }
    let run = sc.run().map_err(|e| scenario_err(e, None))?;
    if let Err(e) = sc.check_limits() {
        note(
            &mut notes,
            NoteKind::Warning,
            None,
            None,
            format!("beyond the page's bounds: {e}"),
        );
    }
    if let Some(chk) = check_output_run(paste, &sc, &run) {
        note(
            &mut notes,
            NoteKind::Check,
            Some("output"),
            paste.expected_output.as_ref().map(|o| o.lines),
            chk.message.clone(),
        );
    }
    Ok((sc, notes))
}

/// The pasted output compared with an engine's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputCheck {
    pub engine: String,
    pub total: usize,
    pub agree: usize,
    /// First disagreement: flat index, (channel, row, col), pasted, engine.
    pub first_difference: Option<Difference>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub index: usize,
    pub channel: usize,
    pub row: usize,
    pub col: usize,
    pub pasted: i64,
    pub engine: i64,
}

/// Compare the pasted output with fbgemm (or `sc.a` when it is qnnpack) on
/// the scenario `apply` built.
pub fn check_output(paste: &Paste, sc: &Scenario) -> Option<OutputCheck> {
    let run = sc.run().ok()?;
    check_output_run(paste, sc, &run)
}

fn check_output_run(
    paste: &Paste,
    sc: &Scenario,
    run: &crate::scenario::Run,
) -> Option<OutputCheck> {
    let o = paste.expected_output.as_ref()?;
    let engine = if sc.a == Computation::QNNPACK {
        Computation::QNNPACK
    } else {
        Computation::FBGEMM
    };
    let out: Vec<i32> = if sc.a == engine {
        run.out_a.clone()
    } else if sc.b == engine {
        run.out_b.clone()
    } else {
        let mut s2 = sc.clone();
        s2.a = engine;
        s2.run().ok()?.out_a
    };
    if out.len() != o.values.len() {
        return None;
    }
    let diffs: Vec<usize> = (0..out.len())
        .filter(|&i| out[i] as i64 != o.values[i])
        .collect();
    let first_difference = diffs.first().map(|&i| {
        let (_, c, y, x) = run.position(i);
        Difference {
            index: i,
            channel: c,
            row: y,
            col: x,
            pasted: o.values[i],
            engine: out[i] as i64,
        }
    });
    let total = out.len();
    let message = match &first_difference {
        None => format!("the pasted output agrees with {} on all {total} values", engine.name()),
        Some(d) => format!(
            "the pasted output differs from {} on {} of {total} values (first at channel {}, row {}, col {}: pasted {}, {} {}){}",
            engine.name(),
            diffs.len(),
            d.channel,
            d.row,
            d.col,
            d.pasted,
            engine.name(),
            d.engine,
            if paste.fields.iter().any(|f| !f.value.exact) { "; some pasted values are rounded printouts (see the notes), which can explain it" } else { "" }
        ),
    };
    Some(OutputCheck {
        engine: engine.name().into(),
        total,
        agree: total - diffs.len(),
        first_difference,
        message,
    })
}

/// `parse` then `apply`.
pub fn import(text: &str, base: &Scenario) -> Result<(Paste, Scenario, Vec<Note>), PasteError> {
    let p = parse(text)?;
    let (sc, notes) = apply(&p, base)?;
    Ok((p, sc, notes))
}
