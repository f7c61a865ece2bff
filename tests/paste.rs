//! Paste import: the forum post's printouts, real PyTorch printouts of every
//! kind (fixtures under tests/fixtures/paste/, made by gen_fixtures.py with
//! torch 2.5.1), the module.json golden `printed` reprs, and malformed pastes
//! with the line and reason they must report.
use qconv_lens::engine::Computation;
use qconv_lens::paste::{apply, parse, Note, NoteKind, Paste, PasteErrorKind};
use qconv_lens::scenario::{preset, InputSource};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/paste").join(name)).unwrap()
}

const FORUM_INPUT: [i64; 64] = [
    0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14,
    14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 25, 25, 26,
    26, 27, 27, 28, 28, 29, 29, 30, 30, 31, 31, 32,
];
const FORUM_OUTPUT: [i64; 64] = [
    8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19,
    19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 25, 25, 26, 26, 27, 27, 28, 28, 28, 28, 29, 29, 30,
    30, 31, 31, 32, 32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37, 38,
];

fn field<'a>(p: &'a Paste, name: &str) -> &'a qconv_lens::paste::Number {
    &p.fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .value
}

fn notes_of(notes: &[Note], kind: NoteKind) -> Vec<&Note> {
    notes.iter().filter(|n| n.kind == kind).collect()
}

// ------------------------------------------------------------------ forum

#[test]
fn forum_printouts_are_recognised() {
    let p = parse(&fixture("forum-all.txt")).unwrap();
    let conv = p.conv.as_ref().unwrap();
    assert_eq!((conv.in_channels, conv.out_channels), (1, 1));
    assert_eq!((conv.kernel, conv.stride, conv.groups), ([1, 1], [1, 1], 1));
    assert!(!conv.relu && conv.bias);
    assert_eq!(p.input_codes.as_ref().unwrap().values, FORUM_INPUT);
    assert_eq!(p.input_codes.as_ref().unwrap().shape, vec![1, 1, 4, 16]);
    let out = p.expected_output.as_ref().unwrap();
    assert_eq!(out.values, FORUM_OUTPUT);
    assert_eq!((out.lines.first, out.lines.last), (13, 17));
    let w = p.weight.as_ref().unwrap();
    assert_eq!(w.codes.as_ref().unwrap().values, vec![127]);
    assert!(!w.codes.as_ref().unwrap().recovered);
    assert!(w.qparams.as_ref().unwrap().per_channel);
    // Exact (Python float repr) vs printed-rounded (tensor at 4 decimals).
    let sy = field(&p, "output_scale");
    assert!(sy.exact);
    assert_eq!(sy.value, 0.004018464591354132);
    for name in ["input_scale", "weight_scale[0]", "bias[0]"] {
        let f = field(&p, name);
        assert!(!f.exact, "{name}");
        assert_eq!(f.half_width, 0.00005, "{name}");
    }
    assert_eq!(field(&p, "input_scale").value, 0.0078);
    assert_eq!(field(&p, "weight_scale[0]").value, 0.0038);
    assert_eq!(field(&p, "bias[0]").value, 0.0317);
    assert!(field(&p, "input_zero_point").exact);
    // Which printout is which, and why.
    let whys: Vec<&str> = p.found.iter().map(|f| f.why.as_str()).collect();
    assert!(
        whys.iter().any(|w| w.contains("\"input\" on line 6")),
        "{whys:?}"
    );
    assert!(whys.iter().any(|w| w.contains("\"int repr\"")), "{whys:?}");
}

#[test]
fn forum_without_comments_uses_structure() {
    // Same printouts, comments removed: the first uint8 tensor is the input, the
    // second the output, the int8 tensor the weight codes, the 1-d float the bias.
    let text: String = fixture("forum-all.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = parse(&text).unwrap();
    assert_eq!(p.input_codes.unwrap().values, FORUM_INPUT);
    assert_eq!(p.expected_output.unwrap().values, FORUM_OUTPUT);
    assert_eq!(p.weight.unwrap().codes.unwrap().values, vec![127]);
    assert_eq!(p.bias.unwrap().values[0].value, 0.0317);
}

#[test]
fn forum_scenario_with_printed_scales_is_marked_rounded() {
    let p = parse(&fixture("forum-all.txt")).unwrap();
    let (sc, notes) = apply(&p, &preset("forum").unwrap()).unwrap();
    assert_eq!(sc.params.input_scale, 0.0078);
    assert_eq!(sc.params.weight_scales, vec![0.0038]);
    assert_eq!(sc.params.bias, Some(vec![0.0317f32]));
    assert_eq!(sc.params.output_scale, 0.004018464591354132);
    assert_eq!(
        sc.input,
        InputSource::Codes {
            codes: FORUM_INPUT.iter().map(|&v| v as u8).collect()
        }
    );
    let rounded: Vec<&str> = notes_of(&notes, NoteKind::Rounded)
        .iter()
        .filter_map(|n| n.field.as_deref())
        .collect();
    assert!(rounded.contains(&"input_scale"), "{rounded:?}");
    assert!(rounded.contains(&"weight_scale[0]"), "{rounded:?}");
    assert!(rounded.contains(&"bias"), "{rounded:?}");
    assert!(!rounded.contains(&"output_scale"));
    // With the printed (rounded) scales fbgemm does NOT give the printed output:
    // the check says so and points at the rounding.
    let check = notes_of(&notes, NoteKind::Check);
    assert_eq!(check.len(), 1);
    assert!(
        check[0].message.contains("differs from fbgemm"),
        "{}",
        check[0].message
    );
    assert!(check[0].message.contains("rounded"), "{}", check[0].message);
    let c = qconv_lens::paste::check_output(&p, &sc).unwrap();
    assert!(c.agree < c.total);
}

#[test]
fn forum_with_exact_values_reproduces_the_printed_output() {
    // ARITHMETIC.md §5's exact values substituted for the rounded printouts:
    // fbgemm then gives the forum's printed output tensor, every pixel.
    let p = parse(&fixture("forum-all.txt")).unwrap();
    let (mut sc, _) = apply(&p, &preset("forum").unwrap()).unwrap();
    sc.params.input_scale = 0.007839367724955082;
    sc.params.weight_scales = vec![0.003770669922232628];
    sc.params.bias = Some(vec![0.0317f32]);
    let run = sc.run().unwrap();
    let want: Vec<i32> = FORUM_OUTPUT.iter().map(|&v| v as i32).collect();
    assert_eq!(run.out_a, want);
    let c = qconv_lens::paste::check_output(&p, &sc).unwrap();
    assert_eq!((c.agree, c.total), (64, 64));
    assert!(c.first_difference.is_none());
    // And that is the forum preset.
    let forum = preset("forum").unwrap();
    assert_eq!(sc.params, forum.params);
    assert_eq!(sc.shape, forum.shape);
}

#[test]
fn forum_weight_scale_suggestions_claim_only_what_the_data_supports() {
    let p = parse(&fixture("forum-all.txt")).unwrap();
    let s: Vec<_> = p
        .suggestions
        .iter()
        .filter(|s| s.field == "weight_scale[0]")
        .collect();
    assert_eq!(s.len(), 2, "{s:#?}");
    // Reading 0.4808 as 127 x scale (what torch 2.5.1 prints for a qint8 tensor).
    assert!(s[0].low <= 0.48075 / 127.0 + 1e-15 && s[0].high >= 0.48085 / 127.0 - 1e-15);
    assert!(s[0].high - s[0].low < 1e-6);
    assert_eq!(s[0].candidate, 0.003786);
    assert!(s[0].assumption.contains("dequantized"));
    // PyTorch's own value is NOT in that interval: it was not "recovered".
    assert!(!(s[0].low..=s[0].high).contains(&0.003770669922232628));
    // Reading 0.4808 as the observer's max|w|: scale = max|w| / 127.5.
    assert!((s[1].low..=s[1].high).contains(&0.003770669922232628));
    assert_eq!(s[1].candidate, 0.003771);
    assert!(s[1].assumption.contains("127.5"));
    // Nothing is suggested for the input scale: no data narrows it.
    assert!(p
        .suggestions
        .iter()
        .all(|s| s.field.starts_with("weight_scale")));
}

#[test]
fn forum_post_file_itself() {
    // The printout blocks of the shared forum post, read straight from the file:
    // the code blocks that are printouts parse, the ones that are Python code do
    // not (with a line number), and together the printouts give the fixture's result.
    let post = std::fs::read_to_string(root().join("../shared/forum-post.txt")).unwrap();
    let blocks: Vec<&str> = post.split("```").skip(1).step_by(2).collect();
    assert!(blocks.len() > 8);
    let mut printouts = String::new();
    let mut code = 0;
    for b in &blocks {
        match parse(b) {
            Ok(_) => printouts.push_str(b),
            Err(e) => {
                assert!(e.line.is_some(), "{e}");
                code += 1;
            }
        }
    }
    assert!(code >= 5, "python code blocks are not printouts");
    let a = parse(&printouts).unwrap();
    let b = parse(&fixture("forum-all.txt")).unwrap();
    assert_eq!(a.input_codes.unwrap().values, b.input_codes.unwrap().values);
    assert_eq!(
        a.expected_output.unwrap().values,
        b.expected_output.unwrap().values
    );
    assert_eq!(a.fields.len(), b.fields.len());
    for (x, y) in a.fields.iter().zip(&b.fields) {
        assert_eq!((&x.name, &x.value), (&y.name, &y.value));
    }
}

#[test]
fn forum_model_repr_alone_keeps_the_rest() {
    let p = parse(&fixture("forum-model.txt")).unwrap();
    let base = preset("forum").unwrap();
    let (sc, notes) = apply(&p, &base).unwrap();
    assert_eq!(sc.params.input_scale, 0.0078);
    assert_eq!(sc.params.weight_scales, base.params.weight_scales);
    assert_eq!(sc.input, base.input);
    assert_eq!(sc.weights, base.weights);
    assert!(notes_of(&notes, NoteKind::Kept).len() >= 3);
}

// ------------------------------------------------------------------ other printouts

#[test]
fn relu_per_tensor_conv_with_padding_dilation_and_no_bias() {
    let text = fixture("relu-per-tensor.txt");
    let p = parse(&text).unwrap();
    let c = p.conv.as_ref().unwrap();
    assert!(c.relu && !c.bias);
    assert_eq!(
        (
            c.in_channels,
            c.out_channels,
            c.kernel,
            c.stride,
            c.padding,
            c.dilation
        ),
        (2, 3, [3, 3], [2, 1], [1, 1], [1, 2])
    );
    let w = p.weight.as_ref().unwrap();
    let q = w.qparams.as_ref().unwrap();
    assert!(!q.per_channel);
    assert!(q.scales[0].exact, "per-tensor scale= is a Python float");
    assert_eq!((q.scales[0].value, q.zero_points[0]), (0.0037, 3));
    assert_eq!(w.shape, vec![3, 2, 3, 3]);
    // Multi-line rows (20 values wrapped over two lines) read as 2x5x20.
    assert_eq!(p.input_codes.as_ref().unwrap().shape, vec![1, 2, 5, 20]);
    assert_eq!(&p.input_codes.as_ref().unwrap().values[..3], &[127, 32, 31]);
    let mut base = preset("forum").unwrap();
    base.view.pixel = Some((3, 15));
    let (sc, notes) = apply(&p, &base).unwrap();
    assert!(sc.params.relu);
    assert_eq!(sc.params.bias, None);
    assert_eq!(sc.params.output_scale, 0.0213);
    assert_eq!(sc.params.output_zero_point, 100);
    // No input scale was pasted for the Conv (only the int repr): said plainly.
    assert!(notes.iter().any(|n| n.kind == NoteKind::Warning
        && n.field.as_deref() == Some("input_scale")
        && n.message.contains("no input scale")));
    // Everything that matters for the codes is exact here, so fbgemm must agree
    // with the printed output... once the input scale is PyTorch's (0.01: the
    // input printout in this fixture is an int repr, which carries no scale).
    let mut sc = sc;
    sc.params.input_scale = 0.01;
    sc.params.input_zero_point = 3;
    let chk = qconv_lens::paste::check_output(&p, &sc).unwrap();
    assert_eq!(chk.agree, chk.total, "{}", chk.message);
    assert_eq!(chk.total, 3 * 3 * 18);
    assert!(sc.view.pixel.is_none() || sc.view.pixel == Some((3, 15)));
}

#[test]
fn per_channel_weights_scientific_scales_parameter_bias_and_quint8_printout() {
    let text = fixture("per-channel-sci.txt");
    let p = parse(&text).unwrap();
    // The quint8 printout gives the input's exact scale and zero point, and its
    // codes (0.02 is wide enough for 4 decimals to pin each code).
    let iq = p.input_qparams.as_ref().unwrap();
    assert!(iq.scale.exact);
    assert_eq!((iq.scale.value, iq.zero_point), (0.02, 0));
    let codes = p.input_codes.as_ref().unwrap();
    assert!(codes.recovered);
    assert_eq!(&codes.values[..3], &[11, 166, 111]);
    // Per-channel scales in scientific notation: rounded at 4 decimals of mantissa.
    let q = p.weight.as_ref().unwrap().qparams.as_ref().unwrap();
    assert!(q.per_channel);
    let v: Vec<f64> = q.scales.iter().map(|s| s.value).collect();
    assert_eq!(v, vec![0.0031, 1.234e-5, 0.02]);
    assert!(q.scales.iter().all(|s| !s.exact));
    assert_eq!(q.scales[1].half_width, 0.5e-9);
    // Parameter containing: + requires_grad, scientific bias.
    let b = p.bias.as_ref().unwrap();
    let bv: Vec<f64> = b.values.iter().map(|v| v.value).collect();
    assert_eq!(bv, vec![1.2346e-5, 0.5, -0.25]);
    assert_eq!(p.expected_output.as_ref().unwrap().shape, vec![1, 3, 3, 3]);
    let (mut sc, notes) = apply(&p, &preset("forum").unwrap()).unwrap();
    assert_eq!(sc.shape.in_channels, 4);
    assert_eq!(sc.shape.out_channels, 3);
    assert!(notes
        .iter()
        .any(|n| n.kind == NoteKind::Rounded && n.field.as_deref() == Some("weight_scale[1]")));
    // The exact bias makes fbgemm reproduce PyTorch's printed output.
    sc.params.bias = Some(vec![1.23456e-5, 0.5, -0.25]);
    let chk = qconv_lens::paste::check_output(&p, &sc).unwrap();
    assert_eq!(chk.agree, chk.total, "{}", chk.message);
}

#[test]
fn module_json_printed_reprs() {
    let text = std::fs::read_to_string(root().join("../shared/golden/module.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for c in cases {
        let printed = c["printed"].as_str().unwrap();
        let p = parse(printed).unwrap_or_else(|e| panic!("{}: {e}", c["id"]));
        let sy = field(&p, "output_scale");
        assert!(sy.exact);
        assert_eq!(sy.value, c["output_scale"].as_f64().unwrap());
        assert_eq!(
            field(&p, "output_zero_point").value,
            c["output_zero_point"].as_f64().unwrap()
        );
        let sx = field(&p, "input_scale");
        assert!(!sx.exact);
        let true_sx = c["input_scale"].as_f64().unwrap();
        assert_eq!(sx.value, qconv_lens::printed::printed(true_sx));
        let (lo, hi) = sx.interval();
        assert!(lo <= true_sx && true_sx <= hi);
        // The repr alone on top of the forum preset runs.
        let (sc, _) = apply(&p, &preset("forum").unwrap()).unwrap();
        assert_eq!(sc.params.output_scale, c["output_scale"].as_f64().unwrap());
    }
}

#[test]
fn jupyter_and_prompt_lines_and_code_fences() {
    let text = "```\n>>> net.conv1.weight().int_repr()\ntensor([[[[127]]]], dtype=torch.int8)\n>>> net.conv1.bias()\nParameter containing:\ntensor([0.0317], requires_grad=True)\nOut[7]: tensor([[[[3, 4]]]], dtype=torch.uint8)\n```\n";
    let p = parse(text).unwrap();
    assert_eq!(p.weight.unwrap().codes.unwrap().values, vec![127]);
    assert_eq!(p.bias.unwrap().lines.first, 6);
    assert_eq!(p.input_codes.unwrap().values, vec![3, 4]);
}

#[test]
fn weight_codes_read_off_an_exact_per_tensor_printout() {
    let text = "tensor([[[[ 0.3771]]],\n\n\n        [[[-0.1885]]]], size=(2, 1, 1, 1), dtype=torch.qint8,\n       quantization_scheme=torch.per_tensor_affine, scale=0.003770669922232628,\n       zero_point=0)\n";
    let p = parse(text).unwrap();
    let c = p.weight.unwrap().codes.unwrap();
    assert!(c.recovered);
    assert_eq!(c.values, vec![100, -50]);
}

// ------------------------------------------------------------------ malformed

/// (paste, line, kind, part of the message). Parse or apply (on the forum preset).
const BAD: &[(&str, Option<usize>, PasteErrorKind, &str)] = &[
    (
        "tensor([[1, 2],\n        [3]], dtype=torch.uint8)",
        Some(2),
        PasteErrorKind::Shape,
        "shape 1 but the one on line 1 has shape 2",
    ),
    (
        "# input\ntensor([[[[ 0, 1, 1, 2],\n          [ 8, 9, 9, 10",
        Some(3),
        PasteErrorKind::Unbalanced,
        "never closed",
    ),
    (
        "tensor([1, 2), dtype=torch.uint8)",
        Some(1),
        PasteErrorKind::Unbalanced,
        "expected ']' to close",
    ),
    (
        "CustomModel(\n  (quant): Quantize(scale=tensor([0.0078]), zero_point=tensor([0]), dtype=torch.quint8)\n  (conv1): QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=nan, zero_point=0)\n)",
        Some(3),
        PasteErrorKind::Value,
        "output scale nan is not a positive finite number",
    ),
    (
        "Quantize(scale=tensor([0.]), zero_point=tensor([0]), dtype=torch.quint8)",
        Some(1),
        PasteErrorKind::Value,
        "input scale 0. is not a positive",
    ),
    (
        "tensor([[[[0.4808]]]], size=(1, 1, 1, 1), dtype=torch.qint8,\nquantization_scheme=torch.per_channel_affine,\nscale=tensor([nan], dtype=torch.float64), zero_point=tensor([0]),\naxis=0)",
        Some(4),
        PasteErrorKind::Value,
        "scale nan is not a positive finite number",
    ),
    (
        "I can know that:\n- Input Scale = 0.0078",
        Some(1),
        PasteErrorKind::Syntax,
        "expected a PyTorch printout",
    ),
    (
        "\n\ntensor([[0, 0, 0,  ..., 0, 0, 0]], dtype=torch.uint8)",
        Some(3),
        PasteErrorKind::Summarized,
        "profile=\"full\"",
    ),
    (
        "# input\ntensor([[[[1, 300]]]], dtype=torch.uint8)",
        Some(2),
        PasteErrorKind::Value,
        "300 is not a uint8 code",
    ),
    (
        "tensor([[[[1]]]], dtype=torch.uint8)\ntensor([[[[2]]]], dtype=torch.uint8)\ntensor([[[[3]]]], dtype=torch.uint8)",
        Some(3),
        PasteErrorKind::Ambiguous,
        "a third uint8 tensor",
    ),
    (
        "tensor([[1, 2]])",
        Some(1),
        PasteErrorKind::Ambiguous,
        "without a dtype",
    ),
    (
        "tensor([1, 2], dtype=torch.uint8) @ 3",
        Some(1),
        PasteErrorKind::Syntax,
        "unexpected character '@'",
    ),
    ("", None, PasteErrorKind::Empty, "no PyTorch printout"),
    ("# input\n# output\n", None, PasteErrorKind::Empty, "no PyTorch printout"),
    (
        "M(\n  (conv1): Conv2d(1, 1, kernel_size=(1, 1), stride=(1, 1))\n)",
        Some(2),
        PasteErrorKind::Unsupported,
        "float module",
    ),
    (
        "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0, bias=False)\n# bias\ntensor([0.0317], requires_grad=True)",
        Some(3),
        PasteErrorKind::Ambiguous,
        "bias=False",
    ),
    (
        "tensor([[[[0.4808]]]], size=(1, 2, 1, 1), dtype=torch.qint8,\nquantization_scheme=torch.per_tensor_affine, scale=0.0038, zero_point=0)",
        Some(1),
        PasteErrorKind::Shape,
        "size=1x2x1x1 but the values",
    ),
    (
        "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0)\n# weight int repr\ntensor([[[[1]]], [[[2]]]], dtype=torch.int8)",
        Some(3),
        PasteErrorKind::Shape,
        "the weight is 2x1x1x1 but the conv module on line 1 needs 1x1x1x1",
    ),
    (
        "QuantizedConv2d(3, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0)\n\n# input\ntensor([[[[1, 2], [3, 4]]]], dtype=torch.uint8)",
        Some(4),
        PasteErrorKind::Shape,
        "the input has 1 channels but the conv module on line 1 takes 3",
    ),
    (
        "# input\ntensor([[[[1, 2, 3, 4]]]], dtype=torch.uint8)\n# output\ntensor([[[[1, 2, 3]]]], dtype=torch.uint8)",
        Some(4),
        PasteErrorKind::Shape,
        "the output printout is 1x1x1x3 but the conv gives 1x1x1x4",
    ),
    (
        "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0)\n# bias\ntensor([0.0317, 0.1, 0.2], requires_grad=True)",
        Some(3),
        PasteErrorKind::Shape,
        "3 bias values but the conv module on line 1 has 1 output channels",
    ),
    (
        "QuantizedConv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), scale=0.004, zero_point=0)",
        Some(1),
        PasteErrorKind::Shape,
        "paste the weight's int_repr()",
    ),
    (
        "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=300)",
        Some(1),
        PasteErrorKind::Value,
        "output zero point 300 is not in 0..255",
    ),
    (
        "tensor([[[[0.4808]]]], size=(1, 1, 1, 1), dtype=torch.qint8,\nquantization_scheme=torch.per_channel_affine,\nscale=tensor([0.0038], dtype=torch.float64), zero_point=tensor([0]),\naxis=1)",
        Some(4),
        PasteErrorKind::Unsupported,
        "axis 0",
    ),
    (
        "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0)\nQuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.004, zero_point=0)",
        Some(2),
        PasteErrorKind::Ambiguous,
        "a second conv module",
    ),
    (
        "tensor([12abc], dtype=torch.uint8)",
        Some(1),
        PasteErrorKind::Syntax,
        "\"12abc\" is not a number",
    ),
    (
        "# input\ntensor([[[[0.1, 0.2]]]])",
        Some(2),
        PasteErrorKind::Unsupported,
        "print its .int_repr()",
    ),
];

#[test]
fn malformed_pastes_say_which_line_and_why() {
    let base = preset("forum").unwrap();
    for (text, line, kind, msg) in BAD {
        let e = match parse(text) {
            Err(e) => e,
            Ok(p) => match apply(&p, &base) {
                Err(e) => e,
                Ok(_) => panic!("accepted: {text:?}"),
            },
        };
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert_eq!(e.kind, *kind, "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: {e}");
        let shown = e.to_string();
        match line {
            Some(l) => assert!(shown.starts_with(&format!("line {l}: ")), "{shown}"),
            None => assert!(!shown.starts_with("line")),
        }
    }
}

#[test]
fn apply_is_atomic_and_needs_a_runnable_result() {
    // 65535 x 65535 weights -> accumulators overflow int32: refused, nothing applied.
    let text = "QuantizedConv2d(16, 1, kernel_size=(7, 7), stride=(1, 1), scale=0.004, zero_point=0)\n# weight int repr\n"
        .to_string()
        + &format!(
            "tensor([[{}]], dtype=torch.int8)",
            (0..16)
                .map(|_| format!("[{}]", vec![format!("[{}]", ["-128"; 7].join(", ")); 7].join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        )
        + "\n# input\ntensor([[" + &vec![format!("[{}]", vec![format!("[{}]", ["255"; 7].join(", ")); 7].join(", ")); 16].join(", ")
        + "]], dtype=torch.uint8)\nQuantize(scale=tensor([0.0078]), zero_point=tensor([128]), dtype=torch.quint8)";
    let p = parse(&text).unwrap();
    let base = preset("forum").unwrap();
    match apply(&p, &base) {
        // fits in int32 after all (16*49*127*128 < 2^31): then it must run.
        Ok((sc, _)) => {
            sc.run().unwrap();
        }
        Err(e) => assert_eq!(e.kind, PasteErrorKind::Scenario),
    }
}

#[test]
fn junk_does_not_panic_and_stays_fast() {
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet: Vec<char> = "tensor([0.0078], dtype=torch.uint8)QuantizedConv2d(1, kernel_size=(1, 1)) scale=0.004 #input\n\t...[]()=:,-+e.5 qint8 Parameter containing: éλ\u{0}"
        .chars()
        .collect();
    let start = Instant::now();
    for round in 0..40 {
        let n = if round == 0 { 100_000 } else { 3_000 };
        let junk: String = (0..n)
            .map(|_| alphabet[(rnd() % alphabet.len() as u64) as usize])
            .collect();
        let _ = parse(&junk).map(|p| apply(&p, &preset("forum").unwrap()));
    }
    // Truncations of a valid paste at every position.
    let good = fixture("forum-all.txt");
    for cut in (0..good.len()).filter(|&i| good.is_char_boundary(i)) {
        let r = parse(&good[..cut]);
        if let Err(e) = r {
            assert!(!e.message.is_empty());
        }
    }
    // Pathological shapes.
    let deep = "[".repeat(100_000);
    let e = parse(&format!("tensor({deep}")).unwrap_err();
    assert_eq!(e.kind, PasteErrorKind::TooLarge);
    assert_eq!(e.line, Some(1));
    let wide = format!(
        "tensor([{}], dtype=torch.uint8)",
        vec!["1"; 200_000].join(",")
    );
    assert_eq!(
        parse(&wide).unwrap().input_codes.unwrap().values.len(),
        200_000
    );
    let huge = "x".repeat(qconv_lens::paste::MAX_TEXT + 1);
    assert_eq!(parse(&huge).unwrap_err().kind, PasteErrorKind::TooLarge);
    let big_num = "tensor([1e999999999999999999999], dtype=torch.uint8)";
    assert!(parse(big_num).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn paste_and_notes_serialize() {
    let p = parse(&fixture("forum-all.txt")).unwrap();
    let (sc, notes) = apply(&p, &preset("forum").unwrap()).unwrap();
    let v = serde_json::to_value((&p, &sc, &notes)).unwrap();
    assert!(v[0]["fields"].as_array().unwrap().len() >= 7);
    assert_eq!(v[2][0]["kind"].as_str().map(|s| !s.is_empty()), Some(true));
    let e = parse("tensor([1, 2)").unwrap_err();
    assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "unbalanced");
    assert_eq!(sc.a, Computation::FBGEMM);
}

// ------------------------------------------------------------------ CLI

fn qconv(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qconv-lens"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_import() {
    let f = root().join("tests/fixtures/paste/forum-all.txt");
    let (code, out, err) = qconv(&["import", f.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("input codes 1x1x4x16"), "{out}");
    assert!(
        out.contains("input_scale") && out.contains("printed rounded"),
        "{out}"
    );
    assert!(out.contains("0.004018464591354132"), "{out}");
    assert!(
        out.contains("[suggestion]") && out.contains("with 0.00778 fbgemm gives 64 of the 64"),
        "{out}"
    );
    assert!(out.contains("scenario:"), "{out}");
    let (code, out, _) = qconv(
        &["import", "-", "--json"],
        Some(&fixture("forum-model.txt")),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scenario"]["params"]["input_scale"], 0.0078);
    let (code, out, err) = qconv(
        &["import", "-"],
        Some("# input\ntensor([[1, 2],\n [3]], dtype=torch.uint8)\n"),
    );
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("line 3: this block has shape 1"), "{err}");
}

// ------------------------------------------------------------------ any order

/// The forum post's printout blocks, each with its label: a comment, the
/// prompt the post ran (its own expressions), or nothing.
fn forum_blocks(label: &str) -> Vec<String> {
    let all = fixture("forum-all.txt");
    let lines: Vec<&str> = all.lines().collect();
    let block = |a: usize, b: usize| lines[a - 1..b].join("\n") + "\n";
    // (comment, prompt, first line, last line) in forum-all.txt.
    let parts = [
        ("", ">>> print(net)", 1, 5),
        (
            "# input",
            ">>> activations[1]['input'][0].int_repr()",
            7,
            11,
        ),
        (
            "# output",
            ">>> activations[1]['output'].int_repr()",
            13,
            17,
        ),
        ("# weight", ">>> net.conv1.weight()", 19, 22),
        ("# int repr", ">>> net.conv1.weight().int_repr()", 24, 24),
        ("# bias", ">>> net.conv1.bias()", 26, 26),
    ];
    parts
        .iter()
        .map(|&(c, p, a, b)| match label {
            "comment" if !c.is_empty() => format!("{c}\n{}", block(a, b)),
            "prompt" => format!("{p}\n{}", block(a, b)),
            _ => block(a, b),
        })
        .collect()
}

/// Every permutation of 0..n (Heap's algorithm).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = vec![];
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

#[test]
fn forum_blocks_in_every_order_with_comments_or_prompts_give_one_scenario() {
    let base = preset("forum").unwrap();
    let want = {
        let p = parse(&fixture("forum-all.txt")).unwrap();
        apply(&p, &base).unwrap().0
    };
    for label in ["comment", "prompt"] {
        let blocks = forum_blocks(label);
        let orders = permutations(blocks.len());
        assert_eq!(orders.len(), 720);
        for order in orders {
            let text: String = order.iter().map(|&i| blocks[i].as_str()).collect();
            let p = parse(&text).unwrap_or_else(|e| panic!("{label} {order:?}: {e}\n{text}"));
            assert_eq!(
                p.input_codes.as_ref().unwrap().values,
                FORUM_INPUT,
                "{label} {order:?}"
            );
            assert_eq!(
                p.expected_output.as_ref().unwrap().values,
                FORUM_OUTPUT,
                "{label} {order:?}"
            );
            let (sc, _) = apply(&p, &base).unwrap();
            assert_eq!(sc, want, "{label} {order:?}");
        }
    }
}

#[test]
fn forum_blocks_without_labels_in_every_order() {
    // Without comments or prompts the two uint8 tensors are told apart by the
    // engine: the order it reproduces better wins, and that is said.
    let base = preset("forum").unwrap();
    let blocks = forum_blocks("none");
    for order in permutations(blocks.len()) {
        let text: String = order.iter().map(|&i| blocks[i].as_str()).collect();
        let (p, sc, notes) = qconv_lens::paste::import(&text, &base)
            .unwrap_or_else(|e| panic!("{order:?}: {e}\n{text}"));
        assert_eq!(
            p.input_codes.as_ref().unwrap().values,
            FORUM_INPUT,
            "{order:?}"
        );
        assert_eq!(
            p.expected_output.as_ref().unwrap().values,
            FORUM_OUTPUT,
            "{order:?}"
        );
        assert_eq!(sc.params.input_scale, 0.0078);
        let output_first = order.iter().position(|&i| i == 2) < order.iter().position(|&i| i == 1);
        let said = notes
            .iter()
            .any(|n| n.kind == NoteKind::Warning && n.message.contains("other order"));
        assert_eq!(said, output_first, "{order:?}: {notes:#?}");
    }
}

#[test]
fn forum_post_paste_names_the_input_scale_and_offers_only_checked_suggestions() {
    let base = preset("forum").unwrap();
    let (p, sc, notes) = qconv_lens::paste::import(&fixture("forum-all.txt"), &base).unwrap();
    let check = qconv_lens::paste::check_output(&p, &sc).unwrap();
    assert_eq!(check.total - check.agree, 2);
    assert!(
        check.message.contains("the input scale printed as 0.0078"),
        "{}",
        check.message
    );
    let culprit = check
        .culprits
        .iter()
        .find(|c| c.field == "input_scale")
        .unwrap();
    assert_eq!(culprit.mismatches, 0);
    assert!(culprit.low > 0.00775 && culprit.high < 0.00785 && culprit.low <= culprit.high);
    // Every suggestion offered, applied, reduces the mismatch: the engine says so.
    assert!(!p.suggestions.is_empty());
    for s in &p.suggestions {
        let mut t = sc.clone();
        match s.field.as_str() {
            "input_scale" => t.params.input_scale = s.candidate,
            "weight_scale[0]" => t.params.weight_scales[0] = s.candidate,
            "bias[0]" => t.params.bias = Some(vec![s.candidate as f32]),
            f => panic!("unexpected suggestion for {f}"),
        }
        let c = qconv_lens::paste::check_output(&p, &t).unwrap();
        assert!(c.total - c.agree < 2, "{}: {}", s.field, c.message);
        assert_eq!(Some(c.total - c.agree), s.mismatches_after);
    }
    assert!(p.suggestions.iter().any(|s| s.field == "input_scale"));
    // The reader's own weight-scale estimates do not reduce the mismatch here:
    // they are not offered.
    assert!(p
        .suggestions
        .iter()
        .all(|s| s.candidate != 0.003786 && s.candidate != 0.003771));
    let offered = notes_of(&notes, NoteKind::Suggestion).len();
    assert_eq!(offered, p.suggestions.len());
}

#[test]
fn each_tensor_printed_both_ways_with_prompts() {
    let text = fixture("both-ways.txt");
    let p = parse(&text).unwrap();
    let i = p.input_codes.as_ref().unwrap();
    let o = p.expected_output.as_ref().unwrap();
    assert_eq!(
        (i.shape.clone(), o.shape.clone()),
        (vec![1, 2, 4, 5], vec![1, 3, 4, 5])
    );
    // The int reprs, not codes read off: `print(qx)` after `qx.int_repr()` is qx.
    assert!(!i.recovered && !o.recovered);
    assert_eq!(&i.values[..3], &[9, 192, 38]);
    assert_eq!(&o.values[..3], &[54, 59, 54]);
    let iq = p.input_qparams.as_ref().unwrap();
    assert!(iq.scale.exact && iq.scale.value == 0.003921568859368563);
    let oq = p.output_qparams.as_ref().unwrap();
    assert_eq!((oq.scale.value, oq.zero_point), (0.02718281828459045, 64));
    let (sc, notes) = apply(&p, &preset("forum").unwrap()).unwrap();
    assert!(sc.params.per_channel);
    assert_eq!(sc.params.weight_scales.len(), 3);
    assert!(notes_of(&notes, NoteKind::Check).len() == 1);
}

#[test]
fn each_tensor_printed_both_ways_in_any_order_without_prompts() {
    // Blocks of both-ways.txt with the prompts dropped: the dequantized and int
    // repr printouts of one tensor are paired by their values, whatever the order
    // (as long as the input comes before the output).
    let text = fixture("both-ways.txt");
    let blocks: Vec<String> = text
        .split(">>> ")
        .filter(|b| !b.is_empty())
        .filter_map(|b| b.split_once('\n').map(|(_, rest)| rest.to_string()))
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks.len(), 8);
    let want = parse(&text).unwrap();
    let (ix, iq, ox, oq) = (1, 2, 3, 4); // qx.int_repr, print(qx), print(qy), qy.int_repr
    for order in permutations(blocks.len()) {
        let pos = |k| order.iter().position(|&i| i == k).unwrap();
        if pos(ix).max(pos(iq)) > pos(ox).min(pos(oq)) {
            continue;
        }
        let t: String = order.iter().map(|&i| blocks[i].as_str()).collect();
        let p = parse(&t).unwrap_or_else(|e| panic!("{order:?}: {e}"));
        assert_eq!(
            p.input_codes,
            want.input_codes.clone().map(|mut c| {
                c.lines = p.input_codes.as_ref().unwrap().lines;
                c
            }),
            "{order:?}"
        );
        assert_eq!(
            p.expected_output.as_ref().unwrap().values,
            want.expected_output.as_ref().unwrap().values,
            "{order:?}"
        );
        assert_eq!(
            p.output_qparams.as_ref().unwrap().scale,
            want.output_qparams.as_ref().unwrap().scale
        );
    }
}

#[test]
fn a_conv_without_bias_prints_none() {
    let p = parse(&fixture("no-bias.txt")).unwrap();
    assert!(p.no_bias.is_some() && p.bias.is_none());
    assert_eq!(
        p.input_codes.as_ref().unwrap().values,
        vec![8, 101, 202, 247, 49, 156, 238, 213, 208]
    );
    assert_eq!(
        p.expected_output.as_ref().unwrap().values,
        vec![0, 0, 0, 0, 15, 0, 12, 0]
    );
    let (sc, notes) = apply(&p, &preset("forum").unwrap()).unwrap();
    assert_eq!(sc.params.bias, None);
    // Everything here is exact: fbgemm reproduces PyTorch's output.
    let check = notes_of(&notes, NoteKind::Check);
    assert!(
        check[0].message.contains("agrees with fbgemm on all 8"),
        "{}",
        check[0].message
    );
    // None alone, or a comment naming it, reads the same.
    let p = parse("# bias\nNone\n").unwrap();
    assert!(p.no_bias.is_some());
    // None where a conv with a bias is printed, or None for the weight: said.
    let e = parse(">>> net.conv1.weight()\nNone\n").unwrap_err();
    assert_eq!((e.line, e.kind), (Some(2), PasteErrorKind::Ambiguous));
    let model = "QuantizedConv2d(1, 1, kernel_size=(1, 1), stride=(1, 1), scale=0.1, zero_point=0)\n>>> m.bias()\nNone\n";
    let e = apply(&parse(model).unwrap(), &preset("forum").unwrap()).unwrap_err();
    assert!(e.message.contains("None"), "{e}");
    let e = parse("tensor([0.5000])\nNone\n").unwrap_err();
    assert!(e.message.contains("bias"), "{e}");
}

#[test]
fn per_channel_codes_recovered_when_the_shared_scale_decides_them() {
    let p = parse(&fixture("per-channel-dequantized.txt")).unwrap();
    let truth = parse(&fixture("per-channel-dequantized-codes.txt")).unwrap();
    let w = p.weight.as_ref().unwrap();
    assert!(w.qparams.as_ref().unwrap().scales.iter().all(|s| !s.exact));
    let codes = w
        .codes
        .as_ref()
        .unwrap_or_else(|| panic!("{:?}", w.ambiguity));
    assert!(codes.recovered);
    assert_eq!(
        codes.values,
        truth
            .weight
            .as_ref()
            .unwrap()
            .codes
            .as_ref()
            .unwrap()
            .values
    );
}

#[test]
fn truly_ambiguous_weight_codes_are_said_plainly() {
    // The forum's weight printout alone: 0.4808 with scale 0.0038 is 125, 126 or 127.
    let text = "tensor([[[[0.4808]]]], size=(1, 1, 1, 1), dtype=torch.qint8,\nquantization_scheme=torch.per_channel_affine,\nscale=tensor([0.0038], dtype=torch.float64), zero_point=tensor([0]),\naxis=0)\n";
    let p = parse(text).unwrap();
    let w = p.weight.as_ref().unwrap();
    assert!(w.codes.is_none());
    let a = w.ambiguity.as_deref().unwrap();
    assert!(
        a.contains("125, 126, 127") && a.contains("int_repr()"),
        "{a}"
    );
    // On a base whose codes do not fit (2 output channels), the error says it.
    let mut base = preset("forum").unwrap();
    base.weights = vec![1];
    let e = apply(&p, &base).unwrap_err();
    assert!(e.message.contains("125, 126, 127"), "{e}");
}

#[test]
fn partial_and_garbage_pastes_say_what_is_missing() {
    let base = preset("forum").unwrap();
    // Input codes only, no scale anywhere: applied, and the missing input
    // quantization parameters are said plainly.
    let (_, notes) = apply(
        &parse("# input\ntensor([[[[1, 2]]]], dtype=torch.uint8)\n").unwrap(),
        &base,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        notes
            .iter()
            .any(|n| n.kind == NoteKind::Warning
                && n.message.contains("no input scale or zero point")),
        "{notes:#?}"
    );
    for (text, line) in [
        ("hello world", Some(1)),
        ("tensor([[[[1, 2]]]], dtype=torch.uint8", Some(1)),
        (">>> print(qx)\ntensor([[0.1, ...]])", Some(2)),
        ("tensor([1, 2, 3])", Some(1)),
        ("", None),
        (">>> qx.int_repr()\n", None),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(!e.message.is_empty());
    }
    // A printout that contradicts its other form is refused, not mixed up.
    let mismatch = ">>> qx.int_repr()\ntensor([[[[1, 2]]]], dtype=torch.uint8)\n>>> print(qx)\ntensor([[[[0.5000, 0.2000]]]], size=(1, 1, 1, 2), dtype=torch.quint8,\nquantization_scheme=torch.per_tensor_affine, scale=0.1, zero_point=0)\n";
    let e = parse(mismatch).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (Some(4), PasteErrorKind::Ambiguous),
        "{e}"
    );
}

#[test]
fn exact_values_printed_by_name_replace_the_rounded_printouts() {
    // What the diagnosis asks for: the forum's values printed exactly. With
    // them fbgemm reproduces the pasted output, whatever the order.
    let exact = ">>> net.quant.scale.item()\n0.007839367724955082\n>>> net.conv1.weight().q_per_channel_scales().tolist()\n[0.003770669922232628]\n>>> net.conv1.bias().tolist()\n[0.0317]\n";
    let base = preset("forum").unwrap();
    for text in [
        format!("{}{exact}", fixture("forum-all.txt")),
        format!("{exact}{}", fixture("forum-all.txt")),
    ] {
        let (p, sc, notes) =
            qconv_lens::paste::import(&text, &base).unwrap_or_else(|e| panic!("{e}"));
        assert!(field(&p, "input_scale").exact);
        assert_eq!(sc.params.input_scale, 0.007839367724955082);
        assert_eq!(sc.params.weight_scales, vec![0.003770669922232628]);
        let check = notes_of(&notes, NoteKind::Check);
        assert!(
            check[0].message.contains("agrees with fbgemm on all 64"),
            "{}",
            check[0].message
        );
        assert!(notes_of(&notes, NoteKind::Rounded).is_empty(), "{notes:#?}");
        assert!(p.suggestions.is_empty());
    }
    // An exact value outside the printed rounding is a different tensor: said.
    let text = format!(
        "{}>>> net.quant.scale.item()\n0.0079\n",
        fixture("forum-all.txt")
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(e.kind, PasteErrorKind::Ambiguous, "{e}");
    assert!(
        e.message.contains("0.0079") && e.message.contains("0.0078"),
        "{e}"
    );
    // A tensor where an exact value was asked for: said, with the fix.
    let e = parse(">>> net.quant.scale\ntensor([0.0078])\n").unwrap_err();
    assert!(e.message.contains(".item()"), "{e}");
    // A bare number nothing names is refused.
    let e = parse("0.0078\n").unwrap_err();
    assert!(e.message.contains("prompt"), "{e}");
    // q_scale() of a tensor printed before is that tensor's.
    let text = ">>> qx.int_repr()\ntensor([[[[1, 2]]]], dtype=torch.uint8)\n>>> qx.q_scale()\n0.02\n>>> qx.q_zero_point()\n3\n";
    let p = parse(text).unwrap();
    let q = p.input_qparams.unwrap();
    assert_eq!(
        (q.scale.value, q.scale.exact, q.zero_point),
        (0.02, true, 3)
    );
}
