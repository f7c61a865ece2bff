use qconv_lens::paste::*;
use qconv_lens::scenario::preset;
#[test]
fn scan() {
    let t = std::fs::read_to_string("tests/fixtures/paste/forum-all.txt").unwrap();
    let p = parse(&t).unwrap();
    let (sc, _) = apply(&p, &preset("forum").unwrap()).unwrap();
    for field in 0..3 {
        let mut last = usize::MAX;
        for k in 0..=1000 {
            let mut s = sc.clone();
            let f = -0.00005 + 0.0001 * k as f64 / 1000.0;
            match field {
                0 => s.params.input_scale = 0.0078 + f,
                1 => s.params.weight_scales = vec![0.0038 + f],
                _ => s.params.bias = Some(vec![(0.0317 + f) as f32]),
            }
            let c = check_output(&p, &s).unwrap();
            let m = c.total - c.agree;
            if m != last {
                println!("field {field} at {:.8}: {m}", f);
                last = m;
            }
        }
    }
}
