//! Parity with `torchaudio.compliance.kaldi` (fixtures: `scripts/gen_features_fixtures.py`).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use voxprobe_features::{
    Fbank, FbankOptions, FrameOptions, MelOptions, Mfcc, MfccOptions, WindowType,
};

/// Largest allowed absolute difference from torchaudio's float64 evaluation (same code, same
/// samples in double precision) on log-mel, log-energy and MFCC values: the bar.
/// We compute in f64 and round at the end, so the expected gap is ~1 ulp of f32.
const MAX_ABS_VS_F64: f32 = 1e-4;
/// Linear (non-log) outputs span ~10 orders of magnitude: compared relative to each frame's
/// largest value.
const LINEAR_ROW_REL_VS_F64: f32 = 1e-6;
/// Against torchaudio's float32 output, the bound is that output's own distance from the exact
/// value (recorded per case in cases.json as `f32_vs_f64`, up to 1.3e-3 on MFCC of real
/// speech) plus MAX_ABS_VS_F64: by the triangle inequality nothing closer can be promised.
/// Almost every element is much closer; at least this share must be within MAX_ABS_VS_F64.
const MIN_SHARE_WITHIN_1E4_OF_F32: f64 = 0.95;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read_wav(name: &str) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(data().join(format!("{name}.wav"))).unwrap();
    let sr = r.spec().sample_rate;
    let x = r.samples::<i16>().map(|s| f32::from(s.unwrap())).collect();
    (x, sr)
}

fn frame_and_mel(kw: &serde_json::Map<String, Value>) -> (FrameOptions, MelOptions) {
    let mut f = FrameOptions::new();
    let mut m = MelOptions::new();
    for (k, v) in kw {
        let num = || v.as_f64().unwrap();
        let flag = || v.as_bool().unwrap();
        match k.as_str() {
            "frame_length" => f.frame_length = num(),
            "frame_shift" => f.frame_shift = num(),
            "dither" => f.dither = num() as f32,
            "remove_dc_offset" => f.remove_dc_offset = flag(),
            "preemphasis_coefficient" => f.preemphasis_coefficient = num() as f32,
            "window_type" => {
                f.window_type = serde_json::from_value::<WindowType>(v.clone()).unwrap()
            }
            "blackman_coeff" => f.blackman_coeff = num(),
            "round_to_power_of_two" => f.round_to_power_of_two = flag(),
            "snip_edges" => f.snip_edges = flag(),
            "raw_energy" => f.raw_energy = flag(),
            "energy_floor" => f.energy_floor = num() as f32,
            "num_mel_bins" => m.num_mel_bins = v.as_u64().unwrap() as usize,
            "low_freq" => m.low_freq = num(),
            "high_freq" => m.high_freq = num(),
            "vtln_warp" => m.vtln_warp = num(),
            _ => {}
        }
    }
    (f, m)
}

fn flag(kw: &serde_json::Map<String, Value>, k: &str, default: bool) -> bool {
    kw.get(k).map_or(default, |v| v.as_bool().unwrap())
}

fn compute(kind: &str, kw: &serde_json::Map<String, Value>, x: &[f32], sr: u32) -> Array2<f32> {
    let (frame, mel) = frame_and_mel(kw);
    if kind == "fbank" {
        let o = FbankOptions::new()
            .frame(frame)
            .mel(mel)
            .use_energy(flag(kw, "use_energy", false))
            .htk_compat(flag(kw, "htk_compat", false))
            .use_log_fbank(flag(kw, "use_log_fbank", true))
            .use_power(flag(kw, "use_power", true))
            .subtract_mean(flag(kw, "subtract_mean", false));
        Fbank::new(o).unwrap().compute(x, sr).unwrap()
    } else {
        let mut o = MfccOptions::new()
            .frame(frame)
            .mel(mel)
            .use_energy(flag(kw, "use_energy", false))
            .htk_compat(flag(kw, "htk_compat", false))
            .subtract_mean(flag(kw, "subtract_mean", false));
        if let Some(n) = kw.get("num_ceps") {
            o = o.num_ceps(n.as_u64().unwrap() as usize);
        }
        if let Some(l) = kw.get("cepstral_lifter") {
            o = o.cepstral_lifter(l.as_f64().unwrap() as f32);
        }
        Mfcc::new(o).unwrap().compute(x, sr).unwrap()
    }
}

fn load(st: &safetensors::SafeTensors<'_>, name: &str) -> Array2<f32> {
    let t = st.tensor(name).unwrap();
    let v: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Array2::from_shape_vec((t.shape()[0], t.shape()[1]), v).unwrap()
}

/// Max abs difference, or (linear) max difference relative to each reference row's max.
fn max_err(got: &Array2<f32>, want: &Array2<f32>, linear: bool) -> f32 {
    if linear {
        got.rows()
            .into_iter()
            .zip(want.rows())
            .map(|(g, w)| {
                let scale = w.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-30);
                g.iter()
                    .zip(w)
                    .fold(0.0f32, |a, (g, w)| a.max((g - w).abs() / scale))
            })
            .fold(0.0f32, f32::max)
    } else {
        got.iter()
            .zip(want)
            .fold(0.0f32, |a, (g, w)| a.max((g - w).abs()))
    }
}

#[test]
fn matches_torchaudio_compliance_kaldi_on_real_speech() {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("cases.json")).unwrap()).unwrap();
    let bytes = std::fs::read(data().join("fixtures.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let cases = meta["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 35);
    let (mut worst64, mut worst32, mut within, mut total) = (0.0f32, 0.0f32, 0usize, 0usize);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let kw = case["kwargs"].as_object().unwrap();
        let (mut x, sr) = read_wav(case["wav"].as_str().unwrap());
        if let Some(s) = case["seconds"].as_f64() {
            x.truncate((s * f64::from(sr)) as usize);
        }
        if case["scale"] == "unit" {
            x.iter_mut().for_each(|v| *v /= 32768.0);
        }
        let got = compute(case["kind"].as_str().unwrap(), kw, &x, sr);
        let want32 = load(&st, name);
        let want64 = load(&st, &format!("{name}@f64"));
        assert_eq!(got.dim(), want32.dim(), "{name}: shape");
        // max_err's fold would skip NaN, so rule it out first.
        assert!(
            got.iter().all(|v| v.is_finite()),
            "{name}: non-finite output"
        );
        let linear = kw.get("use_log_fbank") == Some(&Value::Bool(false));
        let e64 = max_err(&got, &want64, linear);
        let e32 = max_err(&got, &want32, linear);
        let ref_gap = case["f32_vs_f64"].as_f64().unwrap() as f32;
        let (tol64, tol32) = if linear {
            (LINEAR_ROW_REL_VS_F64, ref_gap + LINEAR_ROW_REL_VS_F64)
        } else {
            (MAX_ABS_VS_F64, ref_gap + MAX_ABS_VS_F64)
        };
        if !linear {
            worst64 = worst64.max(e64);
            worst32 = worst32.max(e32);
            within += got
                .iter()
                .zip(&want32)
                .filter(|(g, w)| (*g - *w).abs() <= MAX_ABS_VS_F64)
                .count();
            total += got.len();
        }
        println!(
            "{name:45} {:>10} vs f64 {e64:.2e}  vs f32 {e32:.2e} (torchaudio f32 vs f64 {ref_gap:.2e})",
            format!("{:?}", got.dim())
        );
        if e64.is_nan() || e64 > tol64 {
            failures.push(format!("{name}: {e64:e} > {tol64:e} vs float64 reference"));
        }
        if e32.is_nan() || e32 > tol32 {
            failures.push(format!("{name}: {e32:e} > {tol32:e} vs float32 reference"));
        }
    }
    let share = within as f64 / total as f64;
    println!(
        "log-domain: worst {worst64:.2e} vs torchaudio f64, {worst32:.2e} vs torchaudio f32; \
         {:.3}% of {total} elements within 1e-4 of torchaudio f32",
        100.0 * share
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(share >= MIN_SHARE_WITHIN_1E4_OF_F32, "{share}");
}
