//! The wasm-bindgen surface of the page: a thin layer over `session::Session`.
//!
//! Every exported function returns a value or `Result<_, JsError>` with a
//! message; data from the page is deserialized with serde-wasm-bindgen and
//! validated by the engine, never unwrapped. One call per frame: `update`
//! runs the engine (when more than the view changed), paints the RGBA buffer
//! in Rust and returns everything the page shows, the pixels included.
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot convert to JavaScript: {e}")))
}

/// Route Rust panics (there should be none) to `console.error` with a message.
fn install_panic_hook() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}

#[cfg(feature = "page")]
pub use page::Lens;

#[cfg(feature = "page")]
mod page {
    use super::{install_panic_hook, to_js};
    use crate::render::f32_info;
    use crate::scenario::{Scenario, View};
    use crate::session::{Frame, Session, Step};
    use js_sys::{Int32Array, Reflect, Uint8ClampedArray};
    use wasm_bindgen::prelude::*;

    fn set(obj: &JsValue, key: &str, v: &JsValue) -> Result<(), JsError> {
        Reflect::set(obj, &JsValue::from_str(key), v)
            .map(|_| ())
            .map_err(|_| JsError::new("cannot set a property of the frame"))
    }

    /// The page's engine: holds the Scenario, the last Run and the pixel buffer.
    #[wasm_bindgen]
    pub struct Lens {
        session: Session,
        /// The JS array the session's scenario took its weights from: the
        /// worker hands the same array back while the weights are unchanged
        /// (www/wire.js), and then they are not read again.
        weights: Option<JsValue>,
    }

    impl Default for Lens {
        fn default() -> Self {
            Lens::new()
        }
    }

    #[wasm_bindgen]
    impl Lens {
        #[wasm_bindgen(constructor)]
        pub fn new() -> Lens {
            install_panic_hook();
            Lens {
                session: Session::new(),
                weights: None,
            }
        }

        /// The landing scenario (the forum preset), as the plain object
        /// `update` takes. The other presets are in the `Links` wasm.
        pub fn landing() -> Result<JsValue, JsError> {
            to_js(&crate::scenario::landing())
        }

        /// `{decimal, bits, exact}`: the float32 a float64 becomes.
        pub fn float32(v: f64) -> Result<JsValue, JsError> {
            to_js(&f32_info(v))
        }

        /// Apply a scenario (a plain object mirroring the serde JSON of
        /// `Scenario`). Returns the frame: the serialized `render::Frame` plus
        /// `rgba` (Uint8ClampedArray, `width*height*4`, ready for ImageData),
        /// `a`/`b` (Int32Array, the codes of the shown channel, row-major) and
        /// `saturated_pairs_text` (the inspected pixel's saturated pairs in words).
        /// On error the previous state is kept and the error says what is wrong.
        pub fn update(&mut self, scenario: JsValue) -> Result<JsValue, JsError> {
            let (s, w) = self.read(&scenario)?;
            let frame = self
                .session
                .update(s)
                .map_err(|e| JsError::new(&e.to_string()))?;
            self.weights = Some(w);
            self.frame_js(&frame)
        }

        /// Worker `part` of `parts`, all given the same scenario
        /// (`Session::update_part`): `{whole: frame}` when it runs whole here,
        /// `{part: {start, end, differing_by_channel, max_abs_diff,
        /// recomputed}}` for this worker's channels, or `{}` when it has none.
        pub fn update_part(
            &mut self,
            scenario: JsValue,
            part: usize,
            parts: usize,
        ) -> Result<JsValue, JsError> {
            let (s, w) = self.read(&scenario)?;
            let step = self
                .session
                .update_part(s, part, parts)
                .map_err(|e| JsError::new(&e.to_string()))?;
            self.weights = Some(w);
            let obj = js_sys::Object::new().into();
            match step {
                Step::Whole(frame) => set(&obj, "whole", &self.frame_js(&frame)?)?,
                Step::Part(p) => set(&obj, "part", &to_js(&p)?)?,
                Step::Idle => {}
            }
            Ok(obj)
        }

        /// The frame of `view` from a split run (`Session::show`), given all
        /// channels' counts, or null when another worker holds the channel.
        pub fn show(
            &mut self,
            view: JsValue,
            counts: Vec<usize>,
            max_abs: f64,
            recomputed: bool,
        ) -> Result<JsValue, JsError> {
            let view: View = serde_wasm_bindgen::from_value(view)
                .map_err(|e| JsError::new(&format!("view: {e}")))?;
            match self
                .session
                .show(view, counts, max_abs as i64, recomputed)
                .map_err(|e| JsError::new(&e.to_string()))?
            {
                Some(frame) => self.frame_js(&frame),
                None => Ok(JsValue::NULL),
            }
        }

        /// The scenario on screen (the last one `update` accepted), or null.
        pub fn scenario(&self) -> Result<JsValue, JsError> {
            match self.session.scenario() {
                Some(s) => to_js(s),
                None => Ok(JsValue::NULL),
            }
        }

        /// The shared vocabulary (`schema::Schema`): engines grouped by
        /// runtime, hand switches, CPUs and platforms, shape bounds, control
        /// groups, input kinds, heatmap kinds, presets. The page asks once and
        /// builds its pickers, bounds and labels from it.
        pub fn schema() -> Result<JsValue, JsError> {
            to_js(&crate::schema::schema())
        }
    }

    impl Lens {
        /// The scenario of a plain object, and its weights' array. Weights
        /// from the same array as the scenario shown are taken from it, not
        /// read again (36,864 weights took ~3 ms to read at ResNet's 64 -> 64).
        fn read(&self, v: &JsValue) -> Result<(Scenario, JsValue), JsError> {
            let key = JsValue::from_str("weights");
            let w = Reflect::get(v, &key).unwrap_or(JsValue::UNDEFINED);
            let kept = match (&self.weights, self.session.scenario()) {
                (Some(last), Some(s)) if w.is_object() && js_sys::Object::is(last, &w) => {
                    Some(s.weights.clone())
                }
                _ => None,
            };
            let read = |v: &JsValue| {
                serde_wasm_bindgen::from_value::<Scenario>(v.clone())
                    .map_err(|e| JsError::new(&format!("scenario: {e}")))
            };
            let Some(weights) = kept else {
                return Ok((read(v)?, w));
            };
            // Read the rest with an empty array there, then put it back.
            let _ = Reflect::set(v, &key, &js_sys::Array::new());
            let s = read(v);
            let _ = Reflect::set(v, &key, &w);
            let mut s = s?;
            s.weights = weights;
            Ok((s, w))
        }

        fn frame_js(&self, frame: &Frame) -> Result<JsValue, JsError> {
            let obj = to_js(frame)?;
            // The inspected pixel's saturated pairs in words, as the CLI says them.
            if let Some(ins) = &frame.inspect {
                let words: Vec<String> = ins
                    .explanation
                    .saturated_pairs
                    .iter()
                    .map(crate::explain::describe_pair)
                    .collect();
                set(&obj, "saturated_pairs_text", &to_js(&words)?)?;
            }
            set(
                &obj,
                "rgba",
                &Uint8ClampedArray::from(&self.session.rgba[..]),
            )?;
            if let Some((a, b)) = self.session.planes() {
                set(&obj, "a", &Int32Array::from(a))?;
                set(&obj, "b", &Int32Array::from(b))?;
            }
            Ok(obj)
        }
    }
}

#[cfg(feature = "link")]
pub use links::Links;

#[cfg(feature = "link")]
mod links {
    use super::{install_panic_hook, to_js};
    use crate::scenario::{preset, Scenario, PRESETS};
    use serde::Serialize;
    use wasm_bindgen::prelude::*;

    /// Permalinks (`src/link.rs` and its deflate), presets, `fit` and the
    /// engine-pair diagnosis (`src/diagnose.rs`): a third wasm build
    /// (`--features link`, `www/pkg/qconv_lens_link*`) that the worker loads
    /// when the page first reads or writes the address bar, so the landing
    /// page's first load carries no compressor.
    #[wasm_bindgen]
    pub struct Links;

    impl Default for Links {
        fn default() -> Self {
            Links::new()
        }
    }

    #[wasm_bindgen]
    impl Links {
        #[wasm_bindgen(constructor)]
        pub fn new() -> Links {
            install_panic_hook();
            Links
        }

        /// The permalink fragment (without `#`) of a scenario.
        pub fn encode_link(scenario: JsValue) -> Result<String, JsError> {
            let s: Scenario = serde_wasm_bindgen::from_value(scenario)
                .map_err(|e| JsError::new(&format!("scenario: {e}")))?;
            Ok(crate::link::encode(&s))
        }

        /// `scenario` reconciled to its (changed) shape by `Scenario::fit`;
        /// `from` is the shape before the edit (or null). Returns
        /// `{scenario, notes: [{key, message}]}`.
        pub fn fit(scenario: JsValue, from: JsValue) -> Result<JsValue, JsError> {
            let mut s: Scenario = serde_wasm_bindgen::from_value(scenario)
                .map_err(|e| JsError::new(&format!("scenario: {e}")))?;
            let old: Option<crate::conv::ConvShape> = if from.is_null() || from.is_undefined() {
                None
            } else {
                Some(
                    serde_wasm_bindgen::from_value(from)
                        .map_err(|e| JsError::new(&format!("shape: {e}")))?,
                )
            };
            #[derive(Serialize)]
            struct Note {
                key: &'static str,
                message: String,
            }
            #[derive(Serialize)]
            struct Fitted {
                scenario: Scenario,
                notes: Vec<Note>,
            }
            let notes = s
                .fit(old.as_ref())
                .into_iter()
                .map(|(key, message)| Note { key, message })
                .collect();
            to_js(&Fitted { scenario: s, notes })
        }

        /// `[{id, title}]` of the presets; the first is the landing state.
        pub fn presets() -> Result<JsValue, JsError> {
            #[derive(Serialize)]
            struct P {
                id: &'static str,
                title: &'static str,
            }
            let v: Vec<P> = PRESETS.iter().map(|&(id, title)| P { id, title }).collect();
            to_js(&v)
        }

        /// The Scenario of a preset, as the plain object `update` takes.
        pub fn preset(id: &str) -> Result<JsValue, JsError> {
            let s = preset(id).map_err(|e| JsError::new(&e.to_string()))?;
            to_js(&s)
        }

        /// Reads a link (URL, `#fragment` or fragment): `{scenario, version,
        /// notes: [{key, message}]}`. Never fails on bad links: what could not be
        /// read is in `notes` (plain text for the page's banner).
        pub fn decode_link(text: &str) -> Result<JsValue, JsError> {
            to_js(&crate::link::decode(text))
        }

        /// Across runtimes: what the export path changes for the later
        /// runtime's side (`[{field, channel, from, to, exact, rule, source}]`).
        /// Here, not in the page's wasm: only the inspector shows it.
        pub fn conversions(scenario: JsValue) -> Result<JsValue, JsError> {
            let s: Scenario = serde_wasm_bindgen::from_value(scenario)
                .map_err(|e| JsError::new(&format!("scenario: {e}")))?;
            to_js(&crate::convert::conversions(&s.params, s.a, s.b))
        }

        /// The causes that separate two engines at a pixel, from their traces
        /// (`explanation.a`, `explanation.b` of a frame whose explanation has
        /// `causes_pending`): `[{code, text}]`. Kept out of the page's
        /// first-load wasm; the worker asks here and completes the frame.
        pub fn diagnose(a: JsValue, b: JsValue) -> Result<JsValue, JsError> {
            let trace = |v: JsValue| -> Result<crate::trace::Trace, JsError> {
                serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("trace: {e}")))
            };
            to_js(&crate::diagnose::diagnose(&trace(a)?, &trace(b)?))
        }
    }
}

#[cfg(feature = "pytorch")]
pub use pytorch::PyTorch;

#[cfg(feature = "pytorch")]
mod pytorch {
    use super::{install_panic_hook, to_js};
    use crate::scenario::Scenario;
    use serde::Serialize;
    use wasm_bindgen::prelude::*;

    /// The PyTorch round trip (calibrate, paste import, script export, and the
    /// ONNX Runtime / LiteRT scripts): a second
    /// wasm build (`--features pytorch`, `www/pkg/qconv_lens_pytorch*`) that the
    /// worker loads the first time one of these is used, so the page's own wasm
    /// stays small.
    #[wasm_bindgen]
    pub struct PyTorch;

    impl Default for PyTorch {
        fn default() -> Self {
            PyTorch::new()
        }
    }

    #[wasm_bindgen]
    impl PyTorch {
        /// Loads the panic hook; the methods are static.
        #[wasm_bindgen(constructor)]
        pub fn new() -> PyTorch {
            install_panic_hook();
            PyTorch
        }

        /// The page's calibrate section: a `flow::Calibration` (float model with
        /// its qconfig, calibration batches, run input, B) through prepare,
        /// calibrate and convert. Returns `flow::Calibrated`: the derivations
        /// (scales, zero points, min/max, formulas, histogram), each weight's
        /// conversion, and the converted scenario.
        pub fn calibrate(config: JsValue) -> Result<JsValue, JsError> {
            let c = calibration(config)?;
            to_js(&c.run().map_err(|e| JsError::new(&e.to_string()))?)
        }

        /// PyTorch's default qconfigs (`get_default_qconfig(name)`), in the
        /// order the page lists them: `[{name, activation, weight}]`.
        pub fn qconfigs() -> Result<JsValue, JsError> {
            #[derive(Serialize)]
            struct Q {
                name: &'static str,
                activation: crate::observe::ObserverConfig,
                weight: crate::observe::ObserverConfig,
            }
            let v = crate::flow::DEFAULT_QCONFIGS
                .iter()
                .map(|&name| {
                    let (activation, weight) = crate::flow::default_qconfig(name)
                        .map_err(|e| JsError::new(&e.to_string()))?;
                    Ok(Q {
                        name,
                        activation,
                        weight,
                    })
                })
                .collect::<Result<Vec<_>, JsError>>()?;
            to_js(&v)
        }

        /// The eager flow of a calibration as a PyTorch script.
        pub fn calibration_script(config: JsValue) -> Result<String, JsError> {
            calibration(config)?
                .script()
                .map_err(|e| JsError::new(&e.to_string()))
        }

        /// "Reproduce in PyTorch": the scenario as a self-contained script.
        pub fn pytorch_script(scenario: JsValue) -> Result<String, JsError> {
            let s = scenario_of(scenario)?;
            crate::export::pytorch_script(&s).map_err(|e| JsError::new(&e.to_string()))
        }

        /// "Reproduce in ONNX Runtime / LiteRT" (`runtime`: `onnxruntime` or
        /// `litert`): the script that builds the model and runs it as each of
        /// A and B of that runtime; the error says why when it cannot.
        pub fn runtime_script(scenario: JsValue, runtime: &str) -> Result<String, JsError> {
            let s = scenario_of(scenario)?;
            crate::export::Runtime::parse(runtime)
                .and_then(|rt| crate::export::runtime_script(&s, rt))
                .map_err(|e| JsError::new(&e.to_string()))
        }

        /// Paste import: `{paste, scenario, notes, check}` (check: the pasted
        /// output against fbgemm, or null). Nothing is applied here; an error
        /// names the line (`line N: ...`).
        pub fn paste(text: &str, base: JsValue) -> Result<JsValue, JsError> {
            // Only what the page shows of the paste (serializing all of `Paste`
            // would link code for every part of it into the wasm).
            #[derive(Serialize)]
            struct Shown {
                found: Vec<crate::paste::Found>,
                fields: Vec<crate::paste::Field>,
                suggestions: Vec<crate::paste::Suggestion>,
            }
            #[derive(Serialize)]
            struct R {
                paste: Shown,
                scenario: Scenario,
                notes: Vec<crate::paste::Note>,
                check: Option<crate::paste::OutputCheck>,
            }
            let base = scenario_of(base)?;
            let (paste, scenario, notes, check) = crate::paste::import_checked(text, &base)
                .map_err(|e| JsError::new(&e.to_string()))?;
            to_js(&R {
                paste: Shown {
                    found: paste.found,
                    fields: paste.fields,
                    suggestions: paste.suggestions,
                },
                scenario,
                notes,
                check,
            })
        }

        /// Reads a scenario file (`src/scenario_file.rs`): `{ok: true,
        /// scenario, version, notes}` or `{ok: false, errors: [{key,
        /// message}]}`. Nothing is applied here; on errors the page keeps its
        /// scenario.
        pub fn decode_file(text: &str) -> Result<JsValue, JsError> {
            #[derive(Serialize)]
            struct R {
                ok: bool,
                #[serde(flatten)]
                decoded: Option<crate::link::Decoded>,
                errors: Vec<crate::link::Note>,
            }
            to_js(&match crate::scenario_file::decode(text) {
                Ok(d) => R {
                    ok: true,
                    decoded: Some(d),
                    errors: vec![],
                },
                Err(errors) => R {
                    ok: false,
                    decoded: None,
                    errors,
                },
            })
        }

        /// Why a file of `bytes` is refused unread (too large), or null.
        pub fn file_too_large(bytes: f64) -> Option<String> {
            crate::scenario_file::too_large(bytes as u64)
        }

        /// Why a file link is refused once it inflates to `bytes`, or null.
        pub fn file_link_too_large(bytes: f64) -> Option<String> {
            crate::scenario_file::inflated_too_large(bytes as u64)
        }

        /// The scenario file (JSON text) of a scenario: the page's "Save".
        pub fn encode_file(scenario: JsValue) -> Result<String, JsError> {
            let s: Scenario = serde_wasm_bindgen::from_value(scenario)
                .map_err(|e| JsError::new(&format!("scenario: {e}")))?;
            Ok(crate::scenario_file::encode(&s))
        }

        /// The Python function that writes a scenario file from a module.
        pub fn snippet() -> String {
            crate::scenario_file::SNIPPET.into()
        }

        /// A picture's float32 values (NCHW, 0..1) quantized to quint8 with
        /// the input scale and zero point, exactly as `quantize_per_tensor`.
        pub fn picture_codes(
            values: Vec<f32>,
            scale: f64,
            zero_point: i32,
        ) -> Result<Vec<u8>, JsError> {
            let q = crate::quant::quantize_per_tensor(
                &values,
                scale,
                zero_point as i64,
                crate::quant::DType::QUInt8,
            )
            .map_err(|e| JsError::new(&e.to_string()))?;
            crate::quant::to_quint8("input", &q).map_err(|e| JsError::new(&e.to_string()))
        }

        /// The pasted output (in `text`) against fbgemm on `scenario` (e.g. after
        /// a suggested scale was applied), or null.
        pub fn paste_check(text: &str, scenario: JsValue) -> Result<JsValue, JsError> {
            let s = scenario_of(scenario)?;
            let p = crate::paste::parse(text).map_err(|e| JsError::new(&e.to_string()))?;
            to_js(&crate::paste::check_output(&p, &s))
        }
    }

    fn scenario_of(v: JsValue) -> Result<Scenario, JsError> {
        serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("scenario: {e}")))
    }

    fn calibration(v: JsValue) -> Result<crate::flow::Calibration, JsError> {
        serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("calibration: {e}")))
    }
}
