//! Syntax: tokens into printouts: nested lists, `tensor(...)` with its
//! keywords (dtype, quantization_scheme, scale, zero_point, axis, size), module
//! reprs with `(name): Module(...)` children.
use super::lexing::{Tok, T};
use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) struct NumTok {
    pub(super) v: f64,
    pub(super) s: u32,
    pub(super) e: u32,
    pub(super) line: u32,
}

#[derive(Debug)]
pub(super) struct Array {
    pub(super) shape: Vec<usize>,
    pub(super) nums: Vec<NumTok>,
    pub(super) first: usize,
    pub(super) last: usize,
}

#[derive(Debug)]
pub(super) enum Expr {
    Num(NumTok),
    Name(String, usize),
    Str(String, usize),
    Array(Array),
    Tuple(Vec<Expr>, usize),
    Call(Call),
}

impl Expr {
    pub(super) fn line(&self) -> usize {
        match self {
            Expr::Num(n) => n.line as usize,
            Expr::Name(_, l) | Expr::Str(_, l) | Expr::Tuple(_, l) => *l,
            Expr::Array(a) => a.first,
            Expr::Call(c) => c.first,
        }
    }
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) name: String,
    pub(super) first: usize,
    pub(super) last: usize,
    pub(super) args: Vec<Expr>,
    pub(super) kwargs: Vec<(String, Expr)>,
    pub(super) children: Vec<(String, Call)>,
}

impl Call {
    pub(super) fn lines(&self) -> Lines {
        Lines {
            first: self.first,
            last: self.last,
        }
    }
    pub(super) fn kw(&self, k: &str) -> Option<&Expr> {
        self.kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }
}

pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) toks: Vec<Tok>,
    pub(super) i: usize,
    pub(super) depth: usize,
    /// The parser looked past the last token.
    pub(super) hit_end: std::cell::Cell<bool>,
}

pub(super) fn tok_name(t: T) -> &'static str {
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

pub(super) const SUMMARIZED: &str = "the printout is summarized ('...'): values are missing; print it in full with torch.set_printoptions(profile=\"full\")";

impl<'a> Parser<'a> {
    pub(super) fn peek(&self, k: usize) -> Option<Tok> {
        let t = self.toks.get(self.i + k).copied();
        if t.is_none() {
            self.hit_end.set(true);
        }
        t
    }
    pub(super) fn text(&self, t: Tok) -> &'a str {
        &self.text[t.s as usize..t.e as usize]
    }
    pub(super) fn last_line(&self) -> usize {
        self.toks.last().map_or(1, |t| t.line as usize)
    }
    pub(super) fn show(&self, t: Tok) -> String {
        match t.t {
            T::Ident | T::Num => format!("{:?}", self.text(t)),
            T::Str => format!("the string {:?}", self.text(t)),
            other => tok_name(other).to_string(),
        }
    }
    pub(super) fn deeper(&mut self, line: usize) -> Result<(), PasteError> {
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
    pub(super) fn unclosed<T2>(&self, open: Tok, what: &str) -> Result<T2, PasteError> {
        err(
            open.line as usize,
            PasteErrorKind::Unbalanced,
            format!(
                "'{what}' opened here is never closed (the paste ends at line {}: truncated?)",
                self.last_line()
            ),
        )
    }
    pub(super) fn mismatched<T2>(
        &self,
        open: Tok,
        found: Tok,
        want: &str,
    ) -> Result<T2, PasteError> {
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

    pub(super) fn value(&mut self) -> Result<Expr, PasteError> {
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

    pub(super) fn num(&self, t: Tok) -> Result<NumTok, PasteError> {
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
    pub(super) fn array(&mut self, out: &mut Vec<NumTok>) -> Result<Vec<usize>, PasteError> {
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
    pub(super) fn call(&mut self) -> Result<Call, PasteError> {
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

pub(super) fn dims(s: &[usize]) -> String {
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
pub(super) fn half_width_of(text: &str) -> f64 {
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
    pub(super) fn number(&self, n: NumTok, exact: bool) -> Number {
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

/// What a `tensor(...)` printout is.
pub(super) enum Tensor {
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

pub(super) fn name_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n, _) | Expr::Str(n, _) => Some(n.trim_start_matches("torch.")),
        _ => None,
    }
}

impl Parser<'_> {
    pub(super) fn int(&self, e: &Expr, what: &str) -> Result<i64, PasteError> {
        match e {
            Expr::Num(n) if half_width_of(&self.text[n.s as usize..n.e as usize]) == 0.0 => {
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

    pub(super) fn pair(&self, e: &Expr, what: &str) -> Result<[usize; 2], PasteError> {
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

    pub(super) fn usize_arg(&self, e: &Expr, what: &str) -> Result<usize, PasteError> {
        self.bounded(e, what, 1)
    }

    /// An integer argument in `min..=1_000_000`.
    pub(super) fn bounded(&self, e: &Expr, what: &str, min: i64) -> Result<usize, PasteError> {
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
    pub(super) fn tensor(&self, c: &Call, param: bool) -> Result<Tensor, PasteError> {
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
                    Expr::Num(n) => self.number(*n, true),
                    e => return err(e.line(), PasteErrorKind::Value, "scale= must be a number"),
                };
                (vec![s], vec![self.int(zp, "zero_point")?])
            };
            let axis = match c.kw("axis") {
                Some(e) => Some(self.int(e, "axis")?),
                None => None,
            };
            let values = nums.iter().map(|&n| self.number(n, false)).collect();
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
            .all(|n| !self.text[n.s as usize..n.e as usize].contains(['.', 'e', 'E', 'n', 'i']));
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
                let t = &self.text[n.s as usize..n.e as usize];
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
        let values = nums.iter().map(|&n| self.number(n, false)).collect();
        Ok(Tensor::Float {
            shape,
            values,
            grad,
        })
    }

    pub(super) fn int_list(&self, e: &Expr, what: &str) -> Result<Vec<i64>, PasteError> {
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
}
