//! The vocabulary the page, links and the CLI share, in one table handed to
//! the page once (`Lens.schema()`): engines grouped by runtime, hand switches
//! (with link token, label, default and cause code), CPU variants and named
//! platforms, shape limits, control groups, input kinds, heatmap kinds and
//! presets. The page builds its pickers, bounds and labels from it and holds
//! no copy of a default, a bound or a label.
use crate::engine::hand::{Switch, SWITCHES};
use crate::engine::{platform, Cpu, Os, ENGINES};
use crate::quant::DType;
use crate::scenario::{limits, InputSource, PRESETS};
use serde::Serialize;

/// Control groups a classroom link may hide (`hide=`), by stable name: the
/// page's `data-group` attributes.
pub const GROUPS: &[(&str, &str)] = &[
    ("presets", "presets"),
    ("link", "link"),
    ("computations", "computations and CPU"),
    ("scales", "scales"),
    ("zero_points", "zero points"),
    ("bias", "bias"),
    ("weights", "weights"),
    ("input", "input"),
    ("shape", "shape"),
    ("heatmap", "heatmap"),
    ("inspector", "inspector"),
    ("calibrate", "calibrate like PyTorch"),
    ("paste", "paste from PyTorch"),
    ("export", "reproduce in PyTorch"),
];

/// Input kinds (`InputSource`), with their labels.
pub const INPUTS: &[(&str, &str)] = &[
    ("ramp", "ramp: arange(n) / 255 (the forum's input)"),
    ("random", "random image (seeded)"),
    ("checkerboard", "checkerboard"),
    ("gradient", "gradient"),
    ("constant", "constant"),
    ("codes", "typed activation codes"),
];

/// Heatmap kinds (`MapKind`).
pub const MAPS: &[(&str, &str)] = &[
    ("diff", "A − B per pixel"),
    ("tie", "closeness of A to a .5 tie"),
    ("saturation", "accumulators that saturated (int16 pairs)"),
];

/// Shape fields: (path in the Scenario JSON, label, min, max).
pub fn shape_fields() -> Vec<(&'static str, &'static str, usize, usize)> {
    vec![
        ("in_channels", "input channels", 1, limits::CHANNELS),
        ("out_channels", "output channels", 1, limits::CHANNELS),
        ("height", "height", 1, limits::SIDE),
        ("width", "width", 1, limits::SIDE),
        ("kernel.0", "kernel height", 1, limits::KERNEL),
        ("kernel.1", "kernel width", 1, limits::KERNEL),
        ("stride.0", "stride (rows)", 1, limits::STRIDE),
        ("stride.1", "stride (cols)", 1, limits::STRIDE),
        ("padding.0", "padding (rows)", 0, limits::PADDING),
        ("padding.1", "padding (cols)", 0, limits::PADDING),
        ("dilation.0", "dilation (rows)", 1, limits::DILATION),
        ("dilation.1", "dilation (cols)", 1, limits::DILATION),
        ("groups", "groups", 1, limits::CHANNELS),
    ]
}

#[derive(Serialize)]
pub struct Named {
    pub id: &'static str,
    pub title: &'static str,
}

#[derive(Serialize)]
pub struct EngineInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub family: &'static str,
    pub family_title: &'static str,
    pub uses_platform: bool,
    pub evidence: crate::engine::Evidence,
    pub activations: Vec<&'static str>,
    pub weights: Vec<&'static str>,
    /// The hand calculation takes switches.
    pub hand: bool,
}

#[derive(Serialize)]
pub struct PlatformInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub cpu: Cpu,
    pub os: Os,
}

#[derive(Serialize)]
pub struct ShapeField {
    pub path: &'static str,
    pub label: &'static str,
    pub min: usize,
    pub max: usize,
}

/// An input kind and the source a picker switching to it starts from
/// (typed codes start from the codes on screen).
#[derive(Serialize)]
pub struct InputInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub default: InputSource,
}

/// The code range of a dtype (zero points and codes are bounded by it).
#[derive(Serialize)]
pub struct DtypeInfo {
    pub id: &'static str,
    pub min: i64,
    pub max: i64,
}

#[derive(Serialize)]
pub struct Schema {
    pub engines: Vec<EngineInfo>,
    pub hand: &'static [Switch],
    pub cpus: Vec<Named>,
    pub oses: Vec<Named>,
    pub platforms: Vec<PlatformInfo>,
    pub shape: Vec<ShapeField>,
    pub output_limit: usize,
    pub groups: Vec<Named>,
    pub inputs: Vec<InputInfo>,
    /// Activation dtypes (quint8, qint8) and the weight dtype (qint8), with ranges.
    pub dtypes: Vec<DtypeInfo>,
    /// Largest seed of the random input.
    pub seed_max: u32,
    pub maps: Vec<Named>,
    /// Label of the switch of the clamp marks (`View::clamp_marks`).
    pub clamp_marks: &'static str,
    pub presets: Vec<PresetInfo>,
}

fn named(v: &'static [(&'static str, &'static str)]) -> Vec<Named> {
    v.iter().map(|&(id, title)| Named { id, title }).collect()
}

/// A preset in the picker: its story line, and a link for the forum's.
#[derive(Debug, Clone, Serialize)]
pub struct PresetInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub story: &'static str,
    pub thread: Option<&'static str>,
}

fn presets() -> Vec<PresetInfo> {
    PRESETS
        .iter()
        .map(|&(id, title)| PresetInfo {
            id,
            title,
            story: crate::scenario::story(id),
            thread: (id == "forum").then_some(crate::scenario::FORUM_THREAD),
        })
        .collect()
}

fn dtypes(v: &[DType]) -> Vec<&'static str> {
    v.iter().map(|d| d.name()).collect()
}

/// What switching the input picker to `id` starts from.
fn input_default(id: &str) -> InputSource {
    match id {
        "random" => InputSource::Random { seed: 7 },
        "checkerboard" => InputSource::Checkerboard,
        "gradient" => InputSource::Gradient,
        "constant" => InputSource::Constant { value: 0.5 },
        "codes" => InputSource::Codes { codes: vec![] },
        _ => InputSource::Ramp,
    }
}

pub fn schema() -> Schema {
    Schema {
        engines: ENGINES
            .iter()
            .map(|r| EngineInfo {
                id: r.id,
                title: r.title,
                family: match r.family {
                    crate::engine::Family::PyTorch => "pytorch",
                    crate::engine::Family::OnnxRuntime => "onnxruntime",
                    crate::engine::Family::LiteRt => "litert",
                    crate::engine::Family::Reference => "reference",
                },
                family_title: r.family.title(),
                uses_platform: r.uses_platform,
                evidence: r.evidence,
                activations: dtypes(r.activations),
                weights: dtypes(r.weights),
                hand: r.id == crate::engine::hand::ID,
            })
            .collect(),
        hand: SWITCHES,
        cpus: Cpu::ALL
            .iter()
            .map(|c| Named {
                id: c.id(),
                title: c.title(),
            })
            .collect(),
        oses: Os::ALL
            .iter()
            .map(|o| Named {
                id: o.id(),
                title: o.title(),
            })
            .collect(),
        platforms: platform::NAMED
            .iter()
            .map(|&(id, title, p)| PlatformInfo {
                id,
                title,
                cpu: p.cpu,
                os: p.os,
            })
            .collect(),
        shape: shape_fields()
            .into_iter()
            .map(|(path, label, min, max)| ShapeField {
                path,
                label,
                min,
                max,
            })
            .collect(),
        output_limit: limits::OUTPUT,
        groups: named(GROUPS),
        inputs: INPUTS
            .iter()
            .map(|&(id, title)| InputInfo {
                id,
                title,
                default: input_default(id),
            })
            .collect(),
        dtypes: [DType::QUInt8, DType::QInt8]
            .into_iter()
            .map(|d| DtypeInfo {
                id: d.name(),
                min: d.range().0,
                max: d.range().1,
            })
            .collect(),
        seed_max: u32::MAX,
        maps: named(MAPS),
        clamp_marks: "mark pixels where A is clamped",
        presets: presets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_and_switch_is_in_the_schema() {
        let s = schema();
        assert_eq!(s.engines.len(), ENGINES.len());
        assert!(s.engines.iter().any(|e| e.id == "x86" && e.uses_platform));
        // Defaults reproduce HandAssumptions::default().
        let mut h = crate::engine::HandAssumptions::faithful();
        for sw in s.hand {
            (sw.set)(&mut h, sw.default);
        }
        assert_eq!(h, crate::engine::HandAssumptions::default());
        for sw in s.hand {
            assert!(sw.default < sw.options.len(), "{}", sw.key);
        }
        // Every input kind has a default of its own kind.
        for i in &s.inputs {
            assert_eq!(i.default.name(), i.id);
        }
    }
}
