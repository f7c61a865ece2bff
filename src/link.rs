//! Permalinks: the whole scenario in a URL fragment.
//!
//! One schema table (`FIELDS`) drives both directions, as TF Playground's
//! `state.ts` does, with stable key names and enumerations by name (never by
//! index). Every key is written, also at its default (a missing key is
//! noted); only an empty `hide` is left out.
//!
//! Versions. `v=` comes first. Each field records the version that
//! introduced it, so the schema of version N is the fields with `since <= N`.
//! A link is read with the schema of the version it was written with (keys
//! that version did not have are noted and ignored), then migrated one step at
//! a time (`migrate_v1_to_v2`, …, in the style of Compiler Explorer's state
//! migrations) until it is a current link, and only then are the values set.
//! Old links are never reinterpreted by a changed default: a step writes out
//! what the old pages computed. `tests/fixtures/links/vN.json` holds links of
//! each version with the scenario they decode to; new versions add a file and
//! never edit the old ones.
//!
//! - v1 (2026-11-27): shape `ci co h w k s pd dl g`, `in`, quantization
//!   `sx zx pc sw zw wq bias sy zy relu`, computations `a b` (`fbgemm`,
//!   `qnnpack`, `float`, `hand:…`), view `ch px map hide` (`map=diff|tie`).
//! - v2: the platform, `cpu` (`avx2|avx512|avx512_vnni`), `os`
//!   (`linux|other`), `emu` (0/1, FBGEMM_ENABLE_INSTRUCTIONS on a VNNI host);
//!   `map=saturation`; engine ids `x86` and `onednn` in `a`/`b`. A v1 link
//!   gets the platform v1 pages computed on (AVX512-VNNI Linux, native).
//!   Values new in v2 are also read in a v1 link (no v1 page wrote them; a
//!   hand-edited one loses nothing).
//! - v3: `clamp` (0/1), whether the map marks pixels where A is clamped (an
//!   overlay that can be switched off). A v2 link gets `clamp=1`, as v2
//!   pages drew the marks.
//!
//! Floats are written as the shortest decimal that reads back to the same
//! value (Rust's `Display`, like Python's `repr`); the decoder also takes
//! IEEE bits (`0x` + 16 or 8 hex digits). Integer tensors (weights,
//! typed input codes) are a decimal list or base64url bytes, whichever is
//! shorter, and raw-deflate compressed only when that saves at least a fifth.
//!
//! The decoder is tolerant and strict at once: it never fails and never
//! panics. Unknown keys are ignored, missing keys take the forum case's value,
//! every value is validated and clamped to the page's bounds, and every such
//! event is a `Note` for the page's banner. A link from a newer version is
//! read as far as this version understands it, with a note.
use crate::engine::{Computation, Cpu, HandAssumptions, Os};
use crate::quant::DType;
use crate::scenario::{limits, preset, InputSource, MapKind, Scenario};
use serde::Serialize;

/// The version this build writes.
pub const VERSION: u32 = 3;

/// Longest fragment read; anything longer is refused as a whole.
pub const MAX_LINK: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The key concerned ("" for the link as a whole).
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoded {
    pub scenario: Scenario,
    /// Version the link was written with (after migration it is current).
    pub version: u32,
    /// What was wrong and what was adjusted, for the banner.
    pub notes: Vec<Note>,
}

type Getter = fn(&Scenario) -> String;
/// A link's keys and values in the order written (each key once).
type Pairs = Vec<(String, String)>;
type Setter = fn(&mut Scenario, &str) -> Result<Option<String>, String>;

/// One key of the link: how to write it and how to read it back. A setter
/// returns Ok(None) when the value was taken as is, Ok(Some(note)) when it was
/// adjusted (clamped, repaired), Err(why) when it was refused (the default stays).
struct Field {
    key: &'static str,
    /// The version that introduced the key.
    since: u32,
    get: Getter,
    set: Setter,
}

const FIELDS: &[Field] = &[
    Field {
        key: "ci",
        since: 1,
        get: |s| s.shape.in_channels.to_string(),
        set: |s, v| count(v, 1, limits::CHANNELS, &mut s.shape.in_channels),
    },
    Field {
        key: "co",
        since: 1,
        get: |s| s.shape.out_channels.to_string(),
        set: |s, v| count(v, 1, limits::CHANNELS, &mut s.shape.out_channels),
    },
    Field {
        key: "h",
        since: 1,
        get: |s| s.shape.height.to_string(),
        set: |s, v| count(v, 1, limits::SIDE, &mut s.shape.height),
    },
    Field {
        key: "w",
        since: 1,
        get: |s| s.shape.width.to_string(),
        set: |s, v| count(v, 1, limits::SIDE, &mut s.shape.width),
    },
    Field {
        key: "k",
        since: 1,
        get: |s| pair(s.shape.kernel),
        set: |s, v| pair_of(v, 1, limits::KERNEL, &mut s.shape.kernel),
    },
    Field {
        key: "s",
        since: 1,
        get: |s| pair(s.shape.stride),
        set: |s, v| pair_of(v, 1, limits::STRIDE, &mut s.shape.stride),
    },
    Field {
        key: "pd",
        since: 1,
        get: |s| pair(s.shape.padding),
        set: |s, v| pair_of(v, 0, limits::PADDING, &mut s.shape.padding),
    },
    Field {
        key: "dl",
        since: 1,
        get: |s| pair(s.shape.dilation),
        set: |s, v| pair_of(v, 1, limits::DILATION, &mut s.shape.dilation),
    },
    Field {
        key: "g",
        since: 1,
        get: |s| s.shape.groups.to_string(),
        set: |s, v| count(v, 1, limits::CHANNELS, &mut s.shape.groups),
    },
    Field {
        key: "in",
        since: 1,
        get: |s| input_text(&s.input),
        set: |s, v| {
            input_of(v).map(|i| {
                s.input = i;
                None
            })
        },
    },
    Field {
        key: "sx",
        since: 1,
        get: |s| f64_text(s.params.input_scale),
        set: |s, v| {
            scale(v).map(|x| {
                s.params.input_scale = x;
                None
            })
        },
    },
    Field {
        key: "zx",
        since: 1,
        get: |s| s.params.input_zero_point.to_string(),
        // Either dtype's range; `decode` checks it against the dtype.
        set: |s, v| int(v, -128, 255, &mut s.params.input_zero_point),
    },
    Field {
        key: "pc",
        since: 1,
        get: |s| flag(s.params.per_channel),
        set: |s, v| {
            flag_of(v).map(|b| {
                s.params.per_channel = b;
                None
            })
        },
    },
    Field {
        key: "sw",
        since: 1,
        get: |s| list(&s.params.weight_scales, |v| f64_text(*v)),
        set: |s, v| {
            scales(v).map(|x| {
                s.params.weight_scales = x;
                None
            })
        },
    },
    Field {
        key: "zw",
        since: 1,
        get: |s| list(&s.params.weight_zero_points, |v| v.to_string()),
        set: |s, v| ints(v, -128, 127, &mut s.params.weight_zero_points),
    },
    Field {
        key: "wq",
        since: 1,
        get: |s| {
            pack(
                &s.weights.iter().map(|&w| w as u8).collect::<Vec<_>>(),
                true,
            )
        },
        set: |s, v| {
            unpack(v, true, limits::WEIGHTS).map(|b| {
                s.weights = b.into_iter().map(|x| x as i8).collect();
                None
            })
        },
    },
    Field {
        key: "bias",
        since: 1,
        get: |s| {
            s.params
                .bias
                .as_ref()
                .map_or("none".into(), |b| list(b, |v| f32_text(*v)))
        },
        set: |s, v| {
            bias_of(v).map(|b| {
                s.params.bias = b;
                None
            })
        },
    },
    Field {
        key: "sy",
        since: 1,
        get: |s| f64_text(s.params.output_scale),
        set: |s, v| {
            scale(v).map(|x| {
                s.params.output_scale = x;
                None
            })
        },
    },
    Field {
        key: "zy",
        since: 1,
        get: |s| s.params.output_zero_point.to_string(),
        // Either dtype's range; `decode` checks it against the dtype.
        set: |s, v| int(v, -128, 255, &mut s.params.output_zero_point),
    },
    Field {
        key: "relu",
        since: 1,
        get: |s| flag(s.params.relu),
        set: |s, v| {
            flag_of(v).map(|b| {
                s.params.relu = b;
                None
            })
        },
    },
    Field {
        key: "a",
        since: 1,
        get: |s| computation_text(&s.a),
        set: |s, v| {
            computation_of(v).map(|c| {
                s.a = c;
                None
            })
        },
    },
    Field {
        key: "b",
        since: 1,
        get: |s| computation_text(&s.b),
        set: |s, v| {
            computation_of(v).map(|c| {
                s.b = c;
                None
            })
        },
    },
    Field {
        key: "cpu",
        since: 2,
        get: |s| s.platform.cpu.id().into(),
        set: |s, v| {
            Cpu::parse(v)
                .map(|c| {
                    s.platform.cpu = c;
                    None
                })
                .ok_or_else(|| {
                    format!(
                        "{:?} is not a CPU ({})",
                        short(v),
                        ids(Cpu::ALL.map(Cpu::id))
                    )
                })
        },
    },
    Field {
        key: "os",
        since: 2,
        get: |s| s.platform.os.id().into(),
        set: |s, v| {
            Os::parse(v)
                .map(|o| {
                    s.platform.os = o;
                    None
                })
                .ok_or_else(|| {
                    format!("{:?} is not an OS ({})", short(v), ids(Os::ALL.map(Os::id)))
                })
        },
    },
    Field {
        key: "emu",
        since: 2,
        get: |s| flag(s.platform.emulated),
        set: |s, v| {
            flag_of(v).map(|b| {
                s.platform.emulated = b;
                None
            })
        },
    },
    Field {
        key: "dx",
        since: 2,
        get: |s| s.params.input_dtype.name().into(),
        set: |s, v| {
            activation_dtype(v).map(|d| {
                s.params.input_dtype = d;
                None
            })
        },
    },
    Field {
        key: "dy",
        since: 2,
        get: |s| s.params.output_dtype.name().into(),
        set: |s, v| {
            activation_dtype(v).map(|d| {
                s.params.output_dtype = d;
                None
            })
        },
    },
    Field {
        key: "ch",
        since: 1,
        get: |s| s.view.channel.to_string(),
        set: |s, v| count(v, 0, limits::CHANNELS - 1, &mut s.view.channel),
    },
    Field {
        key: "px",
        since: 1,
        get: |s| {
            s.view
                .pixel
                .map_or("none".into(), |(r, c)| format!("{r},{c}"))
        },
        set: |s, v| {
            pixel_of(v).map(|p| {
                s.view.pixel = p;
                None
            })
        },
    },
    Field {
        key: "map",
        since: 1,
        get: |s| map_text(s.view.map).into(),
        set: |s, v| {
            map_of(v).map(|m| {
                s.view.map = m;
                None
            })
        },
    },
    Field {
        key: "clamp",
        since: 3,
        get: |s| flag(s.view.clamp_marks),
        set: |s, v| {
            flag_of(v).map(|b| {
                s.view.clamp_marks = b;
                None
            })
        },
    },
    Field {
        key: "hide",
        since: 1,
        get: |s| s.view.hide.join(","),
        set: |s, v| {
            hide_of(v).map(|(h, n)| {
                s.view.hide = h;
                n
            })
        },
    },
];

/// The fragment (without `#`) for a scenario: `v=` first, then every field.
pub fn encode(sc: &Scenario) -> String {
    let mut out = format!("v={VERSION}");
    for f in FIELDS {
        let v = (f.get)(sc);
        if f.key == "hide" && v.is_empty() {
            continue;
        }
        out.push('&');
        out.push_str(f.key);
        out.push('=');
        out.push_str(&v);
    }
    out
}

/// Reads a link (a whole URL, `#fragment` or the bare fragment). Never fails:
/// what cannot be read keeps the forum case's value and is noted.
pub fn decode(link: &str) -> Decoded {
    let mut notes = vec![];
    let mut note = |key: &str, message: String| {
        notes.push(Note {
            key: key.to_string(),
            message,
        })
    };
    let mut sc = default_scenario();
    let frag = link.split_once('#').map_or(link, |(_, f)| f);
    if frag.len() > MAX_LINK {
        note(
            "",
            format!(
                "the link is {} characters long (at most {MAX_LINK}); showing the forum case",
                frag.len()
            ),
        );
        return Decoded {
            scenario: sc,
            version: VERSION,
            notes,
        };
    }
    let mut pairs: Pairs = vec![];
    for part in frag.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match (percent_decode(k), percent_decode(v)) {
            (Some(k), Some(v)) => {
                if pairs.iter().any(|(pk, _)| *pk == k) {
                    note(&k, "appears twice; the first value is used".into());
                } else {
                    pairs.push((k, v));
                }
            }
            _ => note(&short(k), "is not valid percent-encoding; ignored".into()),
        }
    }
    if pairs.is_empty() {
        return Decoded {
            scenario: sc,
            version: VERSION,
            notes,
        };
    }
    let version = match pairs
        .iter()
        .find(|(k, _)| k == "v")
        .map(|(_, v)| v.parse::<u32>())
    {
        Some(Ok(v)) if (1..=VERSION).contains(&v) => v,
        // Best effort: read with this version's schema; what it does not
        // know is noted key by key.
        Some(Ok(v)) if v > VERSION => {
            note("v", format!("version {v} is newer than this page (version {VERSION}); reading what it understands"));
            VERSION
        }
        Some(Ok(v)) => {
            note(
                "v",
                format!("there is no version {v}; read as the current version"),
            );
            VERSION
        }
        Some(Err(_)) => {
            note(
                "v",
                "is not a version number; read as the current version".into(),
            );
            VERSION
        }
        None => {
            note("v", "missing; read as the current version".into());
            VERSION
        }
    };
    // Read with the schema of the link's version: a key that version did not
    // have is ignored (as that version's page ignored it), even if it is one now.
    pairs.retain(|(k, _)| {
        if k == "v" {
            return false;
        }
        match FIELDS.iter().find(|f| f.key == k) {
            Some(f) if f.since <= version => true,
            Some(f) => {
                note(
                    k,
                    format!(
                        "is not a setting of version {version} links (it came in version {}); ignored",
                        f.since
                    ),
                );
                false
            }
            None => {
                note(
                    &short(k),
                    "is not a setting this page knows; ignored".into(),
                );
                false
            }
        }
    });
    migrate(version, &mut pairs);
    let mut missing = vec![];
    for f in FIELDS {
        match pairs.iter().find(|(k, _)| k == f.key) {
            None if f.key == "hide" => {}
            None => missing.push(f.key),
            Some((_, v)) => match (f.set)(&mut sc, v) {
                Ok(None) => {}
                Ok(Some(adjusted)) => note(f.key, adjusted),
                Err(why) => note(f.key, format!("{why}; the forum case's value is used")),
            },
        }
    }
    if !missing.is_empty() {
        note(
            "",
            format!(
                "missing (the forum case's values are used): {}",
                missing.join(", ")
            ),
        );
    }
    // Zero points are read before the dtypes (either range is accepted
    // then); here they meet.
    let p = &mut sc.params;
    for (key, what, z, d) in [
        ("zx", "input", &mut p.input_zero_point, p.input_dtype),
        ("zy", "output", &mut p.output_zero_point, p.output_dtype),
    ] {
        let (lo, hi) = d.range();
        if !(lo..=hi).contains(z) {
            let c = (*z).clamp(lo, hi);
            note(
                key,
                format!(
                    "{what} zero point {z} is outside {} ({lo}..={hi}); {c} used",
                    d.name()
                ),
            );
            *z = c;
        }
    }
    for (key, message) in sc.fit(None) {
        note(key, message);
    }
    Decoded {
        scenario: sc,
        version,
        notes,
    }
}

/// The migration steps: `MIGRATIONS[i]` rewrites the keys and values of a
/// version `i + 1` link into those of version `i + 2`. A released step is never
/// edited; a new version appends one (and a fixture file in
/// tests/fixtures/links/), which the assertion below asks for.
const MIGRATIONS: &[fn(&mut Pairs)] = &[migrate_v1_to_v2, migrate_v2_to_v3];
const _: () = assert!(MIGRATIONS.len() as u32 + 1 == VERSION);

/// Brings the pairs of a version `from` link (keys of that version's schema
/// only) to the current version, one step at a time.
fn migrate(from: u32, pairs: &mut Pairs) {
    debug_assert!((1..=VERSION).contains(&from));
    for step in &MIGRATIONS[from.saturating_sub(1) as usize..] {
        step(pairs);
    }
    debug_assert!(pairs.iter().all(|(k, _)| FIELDS.iter().any(|f| f.key == k)));
}

/// v1 -> v2: the platform. Version 1 links have no platform keys because v1
/// pages had no platform: they computed fbgemm (and everything else) as on an
/// AVX512-VNNI Linux server with its native instructions, the machine of the
/// golden vectors. That is also v2's default platform, but the step writes it
/// out explicitly, so a v1 link keeps opening exactly as before even if the
/// default ever changes. (`map=saturation` and the engine ids `x86`/`onednn`
/// are new values of existing keys: nothing to rewrite.)
fn migrate_v1_to_v2(pairs: &mut Pairs) {
    for (k, v) in [
        ("cpu", Cpu::Avx512Vnni.id()),
        ("os", Os::Linux.id()),
        ("emu", "0"),
        // v1 links carried quint8 activations only.
        ("dx", DType::QUInt8.name()),
        ("dy", DType::QUInt8.name()),
    ] {
        pairs.push((k.into(), v.into()));
    }
}

/// v2 -> v3: the clamp marks became a switch; v2 pages always drew them.
fn migrate_v2_to_v3(pairs: &mut Pairs) {
    pairs.push(("clamp".into(), "1".into()));
}

/// The keys of a current link, in the order they are written (`v` first, not
/// included here).
pub fn keys() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.key)
}

/// An activation dtype by name (quint8 or qint8).
fn activation_dtype(v: &str) -> Result<DType, String> {
    match DType::parse(v) {
        Ok(d @ (DType::QUInt8 | DType::QInt8)) => Ok(d),
        _ => Err(format!(
            "{:?} is not an activation dtype (quint8, qint8)",
            short(v)
        )),
    }
}

fn default_scenario() -> Scenario {
    preset("forum").unwrap_or_else(|_| unreachable!("the forum preset exists"))
}

// ------------------------------------------------------------------ values

fn short(s: &str) -> String {
    // Keys are echoed in notes (as text, never HTML); keep them short.
    let t: String = s.chars().take(24).collect();
    if t.len() < s.len() {
        format!("{t}…")
    } else {
        t
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn count(v: &str, min: usize, max: usize, dst: &mut usize) -> Result<Option<String>, String> {
    let n: u64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a whole number", short(v)))?;
    let c = (n as u128).clamp(min as u128, max as u128) as usize;
    *dst = c;
    Ok((c as u64 != n).then(|| format!("{n} is outside {min}..={max}; {c} used")))
}

fn int(v: &str, min: i64, max: i64, dst: &mut i64) -> Result<Option<String>, String> {
    let n: i128 = v
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not an integer", short(v)))?;
    let c = n.clamp(min as i128, max as i128) as i64;
    *dst = c;
    Ok((c as i128 != n).then(|| format!("{n} is outside {min}..={max}; {c} used")))
}

fn ints(v: &str, min: i64, max: i64, dst: &mut Vec<i64>) -> Result<Option<String>, String> {
    let mut out = vec![];
    let mut adjusted = None;
    for part in v.split(',').take(limits::CHANNELS + 1) {
        let mut x = 0;
        if let Some(n) = int(part, min, max, &mut x)? {
            adjusted = Some(n);
        }
        out.push(x);
    }
    *dst = out;
    Ok(adjusted)
}

fn pair(v: [usize; 2]) -> String {
    if v[0] == v[1] {
        v[0].to_string()
    } else {
        format!("{}x{}", v[0], v[1])
    }
}

fn pair_of(
    v: &str,
    min: usize,
    max: usize,
    dst: &mut [usize; 2],
) -> Result<Option<String>, String> {
    let (a, b) = v.split_once('x').unwrap_or((v, v));
    let mut out = [0; 2];
    let na = count(a, min, max, &mut out[0])?;
    let nb = count(b, min, max, &mut out[1])?;
    *dst = out;
    Ok(na.or(nb))
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

fn flag_of(v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("{:?} is not 0 or 1", short(v))),
    }
}

/// The shortest decimal that reads back to the same float64 (readable, and
/// exact: Rust's `Display` round-trips); the IEEE bits only for a value with
/// no such decimal (none finite — kept for NaN/inf so nothing is lost).
pub fn f64_text(v: f64) -> String {
    if v.is_finite() {
        shorter(v.to_string(), format!("{v:e}"))
    } else {
        format!("0x{:016x}", v.to_bits())
    }
}

fn f32_text(v: f32) -> String {
    if v.is_finite() {
        shorter(v.to_string(), format!("{v:e}"))
    } else {
        format!("0x{:08x}", v.to_bits())
    }
}

/// Plain or exponent form, whichever is shorter (both round-trip).
fn shorter(plain: String, exp: String) -> String {
    if exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

fn f64_of(v: &str) -> Option<f64> {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) if h.len() == 16 => u64::from_str_radix(h, 16).ok().map(f64::from_bits),
        Some(_) => None,
        None if v.len() <= 40 => v.parse().ok(),
        None => None,
    }
}

fn f32_of(v: &str) -> Option<f32> {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) if h.len() == 8 => u32::from_str_radix(h, 16).ok().map(f32::from_bits),
        Some(_) => None,
        None if v.len() <= 40 => v.parse().ok(),
        None => None,
    }
}

/// A scale: finite and positive, also after narrowing to float32.
fn scale(v: &str) -> Result<f64, String> {
    let x = f64_of(v).ok_or_else(|| format!("{:?} is not a number", short(v)))?;
    let f = x as f32;
    if x.is_finite() && x > 0.0 && f > 0.0 && f.is_finite() {
        Ok(x)
    } else {
        Err(format!(
            "{x} is not a usable scale (it must be positive and finite in float32)"
        ))
    }
}

fn scales(v: &str) -> Result<Vec<f64>, String> {
    v.split(',').take(limits::CHANNELS + 1).map(scale).collect()
}

fn ids<const N: usize>(ids: [&str; N]) -> String {
    ids.join(", ")
}

fn list<T>(v: &[T], f: impl Fn(&T) -> String) -> String {
    v.iter().map(f).collect::<Vec<_>>().join(",")
}

fn bias_of(v: &str) -> Result<Option<Vec<f32>>, String> {
    if v == "none" {
        return Ok(None);
    }
    v.split(',')
        .take(limits::CHANNELS + 1)
        .map(|p| match f32_of(p) {
            Some(b) if b.is_finite() => Ok(b),
            _ => Err(format!("{:?} is not a finite number", short(p))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn input_text(i: &InputSource) -> String {
    match i {
        InputSource::Ramp => "ramp".into(),
        InputSource::Random { seed } => format!("random:{seed}"),
        InputSource::Checkerboard => "checkerboard".into(),
        InputSource::Gradient => "gradient".into(),
        InputSource::Constant { value } => format!("constant:{}", f32_text(*value)),
        InputSource::Codes { codes } => format!("codes:{}", pack(codes, false)),
    }
}

fn input_of(v: &str) -> Result<InputSource, String> {
    let (kind, arg) = v.split_once(':').unwrap_or((v, ""));
    match kind {
        "ramp" => Ok(InputSource::Ramp),
        "random" => arg
            .parse()
            .map(|seed| InputSource::Random { seed })
            .map_err(|_| format!("random seed {:?} is not a whole number", short(arg))),
        "checkerboard" => Ok(InputSource::Checkerboard),
        "gradient" => Ok(InputSource::Gradient),
        "constant" => match f32_of(arg) {
            Some(value) if value.is_finite() && value.abs() <= 1e6 => {
                Ok(InputSource::Constant { value })
            }
            _ => Err(format!(
                "constant {:?} is not a number within ±1e6",
                short(arg)
            )),
        },
        "codes" => unpack(arg, false, limits::INPUT).map(|codes| InputSource::Codes { codes }),
        _ => Err(format!(
            "{:?} is not an input (ramp, random:SEED, checkerboard, gradient, constant:X, codes:…)",
            short(kind)
        )),
    }
}

fn map_text(m: MapKind) -> &'static str {
    match m {
        MapKind::Diff => "diff",
        MapKind::Tie => "tie",
        MapKind::Saturation => "saturation",
    }
}

fn map_of(v: &str) -> Result<MapKind, String> {
    match v {
        "diff" => Ok(MapKind::Diff),
        "tie" => Ok(MapKind::Tie),
        "saturation" => Ok(MapKind::Saturation),
        _ => Err(format!(
            "{:?} is not a map (diff, tie, saturation)",
            short(v)
        )),
    }
}

fn pixel_of(v: &str) -> Result<Option<(usize, usize)>, String> {
    if v == "none" {
        return Ok(None);
    }
    let (r, c) = v
        .split_once(',')
        .ok_or_else(|| format!("{:?} is not ROW,COL", short(v)))?;
    match (r.trim().parse::<usize>(), c.trim().parse::<usize>()) {
        (Ok(r), Ok(c)) => Ok(Some((r, c))),
        _ => Err(format!("{:?} is not ROW,COL", short(v))),
    }
}

fn hide_of(v: &str) -> Result<(Vec<String>, Option<String>), String> {
    let mut known = vec![];
    let mut unknown = vec![];
    for g in v
        .split(',')
        .filter(|g| !g.is_empty())
        .take(crate::schema::GROUPS.len() + 8)
    {
        match crate::schema::GROUPS.iter().map(|g| g.0).find(|k| *k == g) {
            Some(k) if !known.contains(&k.to_string()) => known.push(k.to_string()),
            Some(_) => {}
            None => unknown.push(short(g)),
        }
    }
    let note =
        (!unknown.is_empty()).then(|| format!("unknown groups ignored: {}", unknown.join(", ")));
    Ok((known, note))
}

// ------------------------------------------------------------------ computations

/// A computation in a link: its engine id, or `hand:` and the tokens of its
/// switches (the vocabulary in `engine::hand::SWITCHES`).
fn computation_text(c: &Computation) -> String {
    match c.hand {
        Some(h) => format!("hand:{}", h.tokens()),
        None => c.name().to_string(),
    }
}

fn computation_of(v: &str) -> Result<Computation, String> {
    let (name, opts) = v.split_once(':').unwrap_or((v, ""));
    let c = Computation::parse(name).map_err(|_| {
        format!(
            "{:?} is not a computation ({})",
            short(name),
            crate::engine::ENGINES
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    match (c.hand, opts) {
        (Some(_), "") | (None, "") => Ok(c),
        (Some(_), opts) => HandAssumptions::from_tokens(opts).map(Computation::hand),
        (None, _) => Err(format!("{:?} takes no options", short(name))),
    }
}

// ------------------------------------------------------------------ packed integer tensors

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub(crate) fn b64_decode(s: &str, max: usize) -> Result<Vec<u8>, String> {
    if s.len() / 4 * 3 > max + 3 {
        return Err(format!("more than {max} values"));
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for ch in s.bytes() {
        let v = B64
            .iter()
            .position(|&c| c == ch)
            .ok_or_else(|| format!("{:?} is not base64url", ch as char))? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Bytes as the shortest of: a decimal list, `b.`base64url, `z.`base64url of
/// raw deflate (only when it saves at least a fifth of the base64 form).
fn pack(bytes: &[u8], signed: bool) -> String {
    let dec = list(bytes, |&b| {
        if signed {
            (b as i8).to_string()
        } else {
            b.to_string()
        }
    });
    let b64 = format!("b.{}", b64_encode(bytes));
    let z = format!(
        "z.{}",
        b64_encode(&miniz_oxide::deflate::compress_to_vec(bytes, 9))
    );
    let best = if dec.len() <= b64.len() { dec } else { b64 };
    if z.len() * 5 <= best.len() * 4 {
        z
    } else {
        best
    }
}

fn unpack(v: &str, signed: bool, max: usize) -> Result<Vec<u8>, String> {
    if let Some(b) = v.strip_prefix("b.") {
        let out = b64_decode(b, max)?;
        return if out.len() > max {
            Err(format!("more than {max} values"))
        } else {
            Ok(out)
        };
    }
    if let Some(z) = v.strip_prefix("z.") {
        let packed = b64_decode(z, max)?;
        // The limit stops a decompression bomb.
        return miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, max)
            .map_err(|_| format!("compressed data is damaged or has more than {max} values"));
    }
    if v.is_empty() {
        return Ok(vec![]);
    }
    let (lo, hi) = if signed { (-128i64, 127i64) } else { (0, 255) };
    let mut out = vec![];
    for part in v.split(',') {
        if out.len() >= max {
            return Err(format!("more than {max} values"));
        }
        let n: i64 = part
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not an integer", short(part)))?;
        if !(lo..=hi).contains(&n) {
            return Err(format!("{n} is outside {lo}..={hi}"));
        }
        out.push(n as u8);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Arithmetic, Rounding};

    #[test]
    fn base64url_round_trips() {
        for n in 0..20 {
            let b: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64_decode(&b64_encode(&b), 100).unwrap(), b);
        }
        assert!(b64_decode("ab=c", 100).is_err());
    }

    #[test]
    fn packing_picks_the_shortest() {
        assert_eq!(pack(&[1, 2, 3], false), "1,2,3");
        assert!(pack(&[200; 40], false).starts_with("z."));
        let noisy: Vec<u8> = (0..60u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(pack(&noisy, false).starts_with("b."));
        for v in [vec![1u8, 2, 3], vec![200; 40], noisy] {
            assert_eq!(unpack(&pack(&v, false), false, 1000).unwrap(), v);
        }
        assert_eq!(
            unpack(&pack(&[255, 128, 0], true), true, 10).unwrap(),
            vec![255, 128, 0]
        );
    }

    #[test]
    fn decompression_is_bounded() {
        let bomb = format!(
            "z.{}",
            b64_encode(&miniz_oxide::deflate::compress_to_vec(
                &vec![0u8; 1 << 20],
                9
            ))
        );
        assert!(unpack(&bomb, false, 1000).is_err());
    }

    #[test]
    fn floats_round_trip_exactly() {
        for v in [
            0.004018464591354132,
            0.007839367724955082,
            1e-300,
            5e-324,
            0.1 + 0.2,
        ] {
            assert_eq!(f64_of(&f64_text(v)).unwrap().to_bits(), v.to_bits());
        }
        assert_eq!(f64_text(0.004018464591354132), "0.004018464591354132");
        assert_eq!(f64_of("0x3f70624dd2f1a9fc"), Some(0.004));
        assert_eq!(f32_of(&f32_text(0.0317)), Some(0.0317f32));
    }

    #[test]
    fn computations_by_name() {
        for c in [
            Computation::X86,
            Computation::FBGEMM,
            Computation::ONEDNN,
            Computation::QNNPACK,
            Computation::FLOAT,
            Computation::hand(HandAssumptions::default()),
            Computation::hand(HandAssumptions::faithful()),
            Computation::hand(HandAssumptions {
                arithmetic: Arithmetic::F32,
                rounding: Rounding::HalfAway,
                ignore_clamp: true,
                ..Default::default()
            }),
        ] {
            assert_eq!(computation_of(&computation_text(&c)).unwrap(), c);
        }
        assert_eq!(
            computation_text(&Computation::hand(HandAssumptions::default())),
            "hand:px,pw,py,pb,bias-even,f64,even"
        );
    }

    #[test]
    fn every_version_has_a_schema_and_a_way_forward() {
        assert!(FIELDS.iter().all(|f| (1..=VERSION).contains(&f.since)));
        let mut seen = std::collections::HashSet::new();
        assert!(FIELDS.iter().all(|f| seen.insert(f.key)), "a key twice");
        // After the steps from any version, every current key that is not in
        // that version's schema has been supplied by a migration.
        for from in 1..=VERSION {
            let mut pairs = vec![];
            migrate(from, &mut pairs);
            for f in FIELDS.iter().filter(|f| f.since > from) {
                assert!(
                    pairs.iter().any(|(k, _)| k == f.key),
                    "v{from} -> v{VERSION}: no value for {}",
                    f.key
                );
            }
        }
    }

    #[test]
    fn v1_platform_is_written_out() {
        let mut pairs = vec![];
        migrate_v1_to_v2(&mut pairs);
        let mut sc = default_scenario();
        sc.platform = crate::engine::Platform {
            cpu: Cpu::Avx2,
            os: Os::Other,
            emulated: true,
        };
        for (k, v) in &pairs {
            let f = FIELDS.iter().find(|f| f.key == k).unwrap();
            assert_eq!((f.set)(&mut sc, v), Ok(None), "{k}={v}");
        }
        assert_eq!(
            sc.platform,
            crate::engine::Platform {
                cpu: Cpu::Avx512Vnni,
                os: Os::Linux,
                emulated: false
            }
        );
    }
}
