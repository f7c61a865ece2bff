//! The conv a runtime script rebuilds: codes in the runtime's own dtypes
//! (uint8 or int8 activations, int8 or uint8 weights), the parameters, and
//! what each engine of this crate computes for it — the codes the script
//! compares the real runtime's output with.
use crate::conv::{Activations, ConvShape, IntConv};
use crate::engine::{Computation, ConvQParams, Family, Platform, Requant};
use crate::error::{Error, Result};
use crate::quant::{to_qint8, to_quint8, DType};
use crate::scenario::Scenario;

/// One quantized conv as a runtime model holds it. Codes are flat: input
/// NCHW in `params.input_dtype`, weights OIHW in `params.weight_dtype`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeModel {
    pub shape: ConvShape,
    pub params: ConvQParams,
    pub input: Vec<i64>,
    pub weights: Vec<i64>,
    /// The CPU the engines model (ONNX Runtime's kernels depend on it).
    pub platform: Platform,
    /// What the script should say about how the scenario became this model.
    pub notes: Vec<String>,
    /// Added to the model's output codes to get the codes the page shows
    /// (128 when a uint8 scenario became an int8 LiteRT model).
    pub output_offset: i64,
}

impl RuntimeModel {
    /// The model engine `c` runs for a scenario: the scenario's own
    /// parameters, or, when A and B come from different runtimes and `c` is
    /// on the later one's side, the scenario converted the way the export
    /// path converts it (`crate::convert`), as the page computes `c`.
    pub fn from_scenario(sc: &Scenario, c: Computation) -> Result<RuntimeModel> {
        sc.validate()?;
        let s = &sc.shape;
        let q = &sc.params;
        let mut notes = vec![];
        if q.weight_dtype != DType::QInt8 {
            // The scenario keeps qint8 weight codes; uint8 weights come in
            // through runtime models built directly (or golden cases).
            return Err(Error::Input(format!(
                "the scenario's weights are qint8 codes; {} weights cannot be exported from it",
                q.weight_dtype.name()
            )));
        }
        let mut p = q.clone();
        let mut output_offset = 0;
        if let Some(cv) = crate::convert::across(q, sc.a, sc.b).filter(|cv| cv.applies_to(c)) {
            for k in crate::convert::conversions(q, sc.a, sc.b) {
                let ch = k.channel.map_or(String::new(), |c| format!("[{c}]"));
                notes.push(format!(
                    "Converted for {}: {}{ch} {:?} -> {:?} ({}; {}).",
                    cv.family.title(),
                    k.field,
                    k.from,
                    k.to,
                    k.rule,
                    k.source
                ));
            }
            p = cv.params.clone();
            if cv.int8_output {
                // The int8 model's codes + 128 are the uint8 codes the page shows.
                p.output_dtype = DType::QInt8;
                p.output_zero_point -= 128;
                output_offset = 128;
                notes.push(
                    "The model's output is int8: the page shows its codes + 128 (the scenario's uint8 codes)."
                        .into(),
                );
            }
        }
        if p.bias.is_some() && p.bias_i32.is_none() {
            notes.push(format!(
                "The scenario's bias is a float (PyTorch's); {} takes an int32 bias in accumulator \
                 units and the scenario has none: the model has no bias, as qconv-lens's {} computes it.",
                c.row().family.title(),
                c.name()
            ));
        }
        let mut input: Vec<i64> =
            match sc
                .input
                .activations(s, q.input_scale, q.input_zero_point, q.input_dtype)?
            {
                Activations::QUInt8(v) => v.into_iter().map(i64::from).collect(),
                Activations::QInt8(v) => v.into_iter().map(i64::from).collect(),
            };
        if q.input_dtype == DType::QUInt8 && p.input_dtype == DType::QInt8 {
            // uint8 -> int8: codes and zero point move down by 128 together.
            input.iter_mut().for_each(|v| *v -= 128);
        }
        if sc.input.floats(s).is_some() {
            notes.push(format!(
                "The scenario's input is the {:?} generator: qconv-lens quantized its float32 values \
                 with the input scale and zero point; the codes are written out here.",
                sc.input.name()
            ));
        }
        let weights = sc.weights.iter().map(|&v| i64::from(v)).collect();
        if p.bias_i32.is_none() {
            p.bias = None;
        }
        Ok(RuntimeModel {
            shape: *s,
            params: p,
            input,
            weights,
            platform: sc.platform,
            notes,
            output_offset,
        })
    }

    pub fn validate(&self) -> Result<()> {
        self.shape.validate()?;
        self.params.validate(self.shape.out_channels)?;
        if self.input.len() != self.shape.input_len() {
            return Err(Error::BadShape(format!(
                "{} input codes, the shape needs {}",
                self.input.len(),
                self.shape.input_len()
            )));
        }
        if self.weights.len() != self.shape.weight_len() {
            return Err(Error::BadShape(format!(
                "{} weight codes, the shape needs {}",
                self.weights.len(),
                self.shape.weight_len()
            )));
        }
        let (lo, hi) = self.params.input_dtype.range();
        if let Some(v) = self.input.iter().find(|v| !(lo..=hi).contains(*v)) {
            return Err(Error::BadValue(format!(
                "input code {v} is outside {}'s {lo}..{hi}",
                self.params.input_dtype.name()
            )));
        }
        let (lo, hi) = self.params.weight_dtype.range();
        if let Some(v) = self.weights.iter().find(|v| !(lo..=hi).contains(*v)) {
            return Err(Error::BadValue(format!(
                "weight code {v} is outside {}'s {lo}..{hi}",
                self.params.weight_dtype.name()
            )));
        }
        Ok(())
    }

    /// The output codes engine `c` computes, flat NCHW; the engine's refusal
    /// (the runtime's) as an error.
    pub fn expected(&self, c: Computation) -> Result<Vec<i64>> {
        self.validate()?;
        let p = &self.params;
        let shape = &self.shape;
        let input = match p.input_dtype {
            DType::QInt8 => Activations::QInt8(to_qint8("input", &self.input)?),
            _ => Activations::QUInt8(to_quint8("input", &self.input)?),
        };
        // uint8 weights: codes and zero points both shifted by 128 give the
        // same sum of (qw - zw), in the int8 codes the accumulation takes.
        let shift = if p.weight_dtype == DType::QUInt8 {
            128
        } else {
            0
        };
        let wq: Vec<i64> = self.weights.iter().map(|&v| v - shift).collect();
        let wz: Vec<i64> = p.weight_zero_points.iter().map(|&v| v - shift).collect();
        let weight = to_qint8("weight", &wq)?;
        let conv = IntConv {
            shape,
            input: input.codes(),
            input_zero_point: p.input_zero_point,
            weight: &weight,
            weight_zero_points: &wz,
        };
        let rq = Requant::new(c, p, shape, &self.platform)?;
        let mut acc = vec![];
        rq.kernel
            .accumulation
            .run_with(&conv, p, 0, &mut Default::default(), &mut acc)?;
        let (oh, ow) = shape.output_hw();
        let plane = (oh * ow).max(1);
        let mut out = vec![0i32; acc.len()];
        for (i, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
            rq.plane(i % shape.out_channels, a, o);
        }
        Ok(out.into_iter().map(i64::from).collect())
    }
}

/// The line on which a runtime script prints engine `id`'s output codes
/// (flat NCHW, space-separated), labelled as that runtime's.
pub fn codes_prefix(id: &str) -> String {
    format!("{id} codes:")
}

/// Python shared by the runtime scripts: prints one runtime's codes on its
/// `codes_prefix` line and whether they agree with qconv-lens's (count and the
/// first differing positions).
pub(crate) const COMPARE_PY: &str = r#"def compare(engine, runtime, got, expected, nchw):
    """Print the runtime's codes (flat NCHW) and compare them with qconv-lens's."""
    got = [int(v) for v in np.asarray(got).reshape(-1)]
    print(f"{engine} codes:", *got)
    if len(got) != len(expected):
        print(f"{engine}: DIFFER - {runtime} gave {len(got)} codes, qconv-lens expects {len(expected)}")
        return False
    differ = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    if not differ:
        print(f"{engine}: AGREE - {runtime} and qconv-lens give the same {len(got)} codes")
        return True
    N, C, H, W = nchw
    print(f"{engine}: DIFFER - {len(differ)} of {len(got)} codes differ; first at (n, c, row, col):")
    for i in differ[:8]:
        n, c, y, x = i // (C * H * W), i // (H * W) % C, i // W % H, i % W
        print(f"    ({n}, {c}, {y}, {x}): {runtime} {got[i]}, qconv-lens {expected[i]}")
    return False
"#;

/// The engines a runtime script runs, each with the codes qconv-lens expects
/// from it, and those left out with the reason (the runtime refuses the model).
pub(crate) struct Plan {
    pub run: Vec<(Computation, Vec<i64>)>,
    pub refused: Vec<(Computation, String)>,
}

/// Plans `engines` (all of `family`) on `m`; `refuse` states what the runtime's
/// model format or kernels cannot take beyond what the engine itself refuses.
/// Fails, saying why for each, when no engine can run.
pub(crate) fn plan(
    m: &RuntimeModel,
    engines: &[Computation],
    family: Family,
    refuse: impl Fn(&RuntimeModel, Computation) -> Result<()>,
) -> Result<Plan> {
    m.validate()?;
    let mut plan = Plan {
        run: vec![],
        refused: vec![],
    };
    for &c in engines {
        let row = c.row();
        if row.family != family {
            return Err(Error::Input(format!(
                "{} is not a {} engine",
                row.title,
                family.title()
            )));
        }
        if plan.run.iter().any(|(e, _)| *e == c) || plan.refused.iter().any(|(e, _)| *e == c) {
            continue;
        }
        let expected = if row.weights.contains(&m.params.weight_dtype) {
            refuse(m, c).and_then(|_| m.expected(c))
        } else {
            Err(Error::Input(format!(
                "{} takes no {} weights",
                row.title,
                m.params.weight_dtype.name()
            )))
        };
        match expected {
            Ok(v) => plan.run.push((c, v)),
            Err(e) => plan.refused.push((c, e.to_string())),
        }
    }
    if plan.run.is_empty() {
        // One reason said once, whichever engines share it.
        let mut why: Vec<String> = vec![];
        for (_, e) in &plan.refused {
            if !why.contains(e) {
                why.push(e.clone());
            }
        }
        let engines: Vec<&str> = plan.refused.iter().map(|(c, _)| c.name()).collect();
        let why: Vec<String> = if why.len() == 1 {
            vec![format!("{}: {}", engines.join(", "), why[0])]
        } else {
            plan.refused
                .iter()
                .map(|(c, e)| format!("{}: {e}", c.name()))
                .collect()
        };
        return Err(Error::Input(format!(
            "{} cannot run this scenario, so there is no script to write ({})",
            family.title(),
            if why.is_empty() {
                "no engine of it was chosen".to_string()
            } else {
                why.join("; ")
            }
        )));
    }
    Ok(plan)
}
