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
//! The stages, one file each: `lexing` (tokens; `#` comments and `>>>`
//! prompts), `syntax` (tensor printouts, module reprs), `prompts` (what a
//! comment or prompt says), `reading` (which printout is which tensor),
//! `matching` (one tensor printed both ways), `rounding` (what a rounded
//! printout can stand for), `applying` (onto a scenario), `ordering` (two
//! unlabelled uint8 tensors), `checking` and `diagnosis` (the pasted output
//! against the engine, and which rounded values explain a difference).
//!
//! # Which tensor is which
//!
//! A comment (`# input`, `# output`, `# weight`, `# bias`) right before a
//! printout names it: the first of those words decides. A `>>>` / `In [n]:`
//! prompt names it by its expression: `net.conv1.weight()`, `m.bias()`,
//! `activations[1]['input'][0].int_repr()`; `print(qx)` and `qx.int_repr()` are
//! the same tensor `qx`, so once one of them is known the other is too; an
//! assignment `qy = net.conv1(qx)` makes qy the output and qx the input.
//! Without a name, the structure decides:
//!
//! - a `torch.uint8` tensor (`int_repr()`) and a `torch.quint8` printout of the
//!   same activation are paired by their values (codes x scale within the
//!   printout's rounding); otherwise the first activation is the input and the
//!   second the output ([`Paste::expected_output`], used to check the
//!   computation); when two uint8 tensors are told apart by order alone,
//!   [`apply`] takes the order the engine reproduces (and says so if it is
//!   not the paste's);
//! - a `torch.int8` tensor is the weight codes (`weight().int_repr()`);
//! - a `torch.qint8` printout (`quantization_scheme=...`) is the weight: its
//!   scale(s), zero point(s), per-channel or per-tensor, and its dequantized
//!   values (codes are read off those, a channel at a time, when its shared
//!   scale leaves one code per value; otherwise the ambiguity is said);
//! - a quint8 printout's scale and zero point are exact (Python floats);
//! - a 1-D float tensor is the bias; `None` is the bias of a conv without one;
//!   a 4-D float tensor with `requires_grad` or `Parameter containing:` is a
//!   float weight (shown, not used);
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
use crate::scenario::Scenario;
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
    /// Why the codes could not be read off the dequantized values.
    pub ambiguity: Option<String>,
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
    /// Output values that differ from the pasted output with the printed
    /// value and with the candidate, as the engine computed them (None: not
    /// checked, e.g. no output was pasted).
    pub mismatches_before: Option<usize>,
    pub mismatches_after: Option<usize>,
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
    /// The input and output codes are two uint8 tensors that nothing but
    /// their order tells apart (`apply` takes the order the engine reproduces).
    pub unlabelled_activations: bool,
    /// The line where the bias printed as `None` (a conv without bias).
    pub no_bias: Option<usize>,
    pub fields: Vec<Field>,
    /// From [`parse`]: the reader's estimates for rounded values (unchecked).
    /// From [`import`]: only values the engine checked to reduce the mismatch
    /// with the pasted output.
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

mod applying;
mod checking;
mod diagnosis;
mod exact;
mod lexing;
mod matching;
mod ordering;
mod prompts;
mod reading;
mod rounding;
mod syntax;

pub use applying::apply;
pub use checking::{check_output, Difference, OutputCheck};
pub use diagnosis::Culprit;

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
    let (toks, lex_err) = lexing::lex(text);
    let mut r = reading::Reader {
        p: syntax::Parser {
            text,
            toks,
            i: 0,
            depth: 0,
            hit_end: std::cell::Cell::new(false),
        },
        out: Paste::default(),
        float_weight: None,
        vars: vec![],
        acts: Default::default(),
        last_role: None,
        by_order: [false; 2],
        exact: Default::default(),
    };
    match (reading::read_all(&mut r), lex_err) {
        // The parser stopped before the bad character: its error comes first.
        (Err(e), Some(_)) if !r.p.hit_end.get() => return Err(e),
        (_, Some(le)) => return Err(le),
        (Err(e), None) => return Err(e),
        (Ok(()), None) => {}
    }
    let mut out = r.out;
    // Only uint8 codes, told apart by nothing but order: the engine may settle it.
    out.unlabelled_activations = r.by_order == [true, true]
        && r.acts
            .iter()
            .all(|a| a.printed.is_none() && a.codes.is_some());
    if out.found.is_empty() {
        return Err(PasteError {
            line: None,
            kind: PasteErrorKind::Empty,
            message: "no PyTorch printout found in the paste".into(),
        });
    }
    reading::finish(&mut out);
    Ok(out)
}

/// `parse` then `apply`; the paste's suggestions are then only those the
/// engine checked to reduce the mismatch with the pasted output (none when no
/// output was pasted: nothing to check them against).
pub fn import(text: &str, base: &Scenario) -> Result<(Paste, Scenario, Vec<Note>), PasteError> {
    let (p, sc, notes, _) = import_checked(text, base)?;
    Ok((p, sc, notes))
}

/// `import`, with the output check it made.
pub fn import_checked(
    text: &str,
    base: &Scenario,
) -> Result<(Paste, Scenario, Vec<Note>, Option<OutputCheck>), PasteError> {
    let mut p = parse(text)?;
    let (sc, notes, check) = match ordering::settle(&p, base) {
        Some(swapped) => {
            let r = applying::apply_checked(&swapped, base)?;
            p = swapped;
            r
        }
        None => applying::apply_checked(&p, base)?,
    };
    p.suggestions = check
        .as_ref()
        .map_or_else(Vec::new, |c| c.suggestions.clone());
    Ok((p, sc, notes, check))
}
