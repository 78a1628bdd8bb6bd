//! Bad options and bad input give typed errors, never panics.

use voxprobe_features::{
    num_frames, Error, Fbank, FbankOptions, FrameOptions, MelOptions, Mfcc, MfccOptions, ParamError,
};

fn speechlike(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 1000.0 * ((i as f32 * 0.05).sin() + 0.3 * (i as f32 * 0.31).sin()))
        .collect()
}

#[test]
fn short_input_is_too_short_error() {
    let f = Fbank::new(FbankOptions::new()).unwrap();
    let err = f.compute(&[0.0; 399], 16_000).unwrap_err();
    assert!(matches!(
        err,
        Error::TooShort {
            samples: 399,
            window_size: 400
        }
    ));
    assert!(f.compute(&[0.0; 400], 16_000).is_ok());
}

#[test]
fn nan_sample_is_reported_with_its_index() {
    let mut x = speechlike(1000);
    x[123] = f32::NAN;
    let err = Mfcc::new(MfccOptions::new())
        .unwrap()
        .compute(&x, 16_000)
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 123 }));
}

#[test]
fn bad_options_are_rejected_by_new() {
    let e = Fbank::new(FbankOptions::new().num_mel_bins(3)).unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::OutOfRange {
            name: "num_mel_bins",
            ..
        })
    ));
    let e = Mfcc::new(MfccOptions::new().num_ceps(30)).unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::TooManyCeps {
            num_ceps: 30,
            num_mel_bins: 23
        })
    ));
    let e =
        Fbank::new(FbankOptions::new().frame(FrameOptions::new().frame_shift(0.0))).unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::OutOfRange {
            name: "frame_shift",
            ..
        })
    ));
    let e = Fbank::new(FbankOptions::new().frame(FrameOptions::new().preemphasis_coefficient(1.5)))
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::OutOfRange {
            name: "preemphasis_coefficient",
            ..
        })
    ));
}

#[test]
fn sample_rate_dependent_options_are_checked_by_compute() {
    let x = speechlike(8000);
    let f = Fbank::new(FbankOptions::new().mel(MelOptions::new().high_freq(6000.0))).unwrap();
    assert!(f.compute(&x, 16_000).is_ok());
    // 6 kHz is above the Nyquist frequency of 8 kHz audio.
    let e = f.compute(&x, 8_000).unwrap_err();
    assert!(matches!(e, Error::Param(ParamError::BadMelRange { .. })));
    let e = f.compute(&x, 0).unwrap_err();
    assert!(matches!(e, Error::BadSampleRate { sample_rate: 0 }));
    let odd = FbankOptions::new().frame(
        FrameOptions::new()
            .round_to_power_of_two(false)
            .frame_length(25.0625),
    );
    // 16000 * 25.0625 ms = 401 samples: odd FFT length.
    let e = Fbank::new(odd).unwrap().compute(&x, 16_000).unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::OddPaddedWindow {
            padded_window_size: 401
        })
    ));
    let e = Fbank::new(FbankOptions::new().frame(FrameOptions::new().frame_length(0.1)))
        .unwrap()
        .compute(&x, 16_000)
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Param(ParamError::WindowTooShort { window_size: 1 })
    ));
    let vtln = MelOptions::new().vtln_warp(0.9).vtln_low(10.0);
    let e = Fbank::new(FbankOptions::new().mel(vtln))
        .unwrap()
        .compute(&x, 16_000)
        .unwrap_err();
    assert!(matches!(e, Error::Param(ParamError::BadVtlnRange { .. })));
}

#[test]
fn frame_counts_match_the_documented_formulas() {
    let x = speechlike(16_000);
    let f = FrameOptions::new();
    for snip in [true, false] {
        let o = FbankOptions::new().snip_edges(snip);
        let y = Fbank::new(o.clone()).unwrap().compute(&x, 16_000).unwrap();
        assert_eq!(y.nrows(), num_frames(&o.frame, x.len(), 16_000).unwrap());
    }
    assert_eq!(num_frames(&f, 16_000, 16_000).unwrap(), 98);
    assert_eq!(
        num_frames(&f.clone().snip_edges(false), 16_000, 16_000).unwrap(),
        100
    );
    assert_eq!(num_frames(&f, 100, 16_000).unwrap(), 0);
}

#[test]
fn min_duration_gives_an_empty_matrix() {
    let x = speechlike(8000);
    let o = FbankOptions::new().frame(FrameOptions::new().min_duration(1.0));
    let y = Fbank::new(o).unwrap().compute(&x, 16_000).unwrap();
    assert_eq!(y.dim(), (0, 23));
}

#[test]
fn dither_is_seeded_and_small() {
    let x = speechlike(16_000);
    let plain = Fbank::new(FbankOptions::new())
        .unwrap()
        .compute(&x, 16_000)
        .unwrap();
    let d = |seed| {
        let o = FbankOptions::new().frame(FrameOptions::new().dither(1.0).dither_seed(seed));
        Fbank::new(o).unwrap().compute(&x, 16_000).unwrap()
    };
    let (a, b, c) = (d(7), d(7), d(8));
    assert_eq!(a, b, "same seed, same output");
    assert_ne!(a, c, "different seed, different noise");
    // Dither of std 1 on tones of amplitude ~1000 barely moves the loud bins (within 10 nats
    // of the loudest); bins holding only leakage are dominated by the noise, as intended.
    let top = plain.iter().fold(f32::MIN, |m, &v| m.max(v));
    let moved = a
        .iter()
        .zip(&plain)
        .filter(|(_, &p)| p > top - 10.0)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(moved > 0.0 && moved < 0.01, "{moved}");
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let x = speechlike(48_000);
    let f = Mfcc::new(MfccOptions::new()).unwrap();
    let many = f.compute(&x, 16_000).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| f.compute(&x, 16_000).unwrap());
    assert_eq!(many, one);
}

#[test]
fn options_round_trip_through_json_and_default_from_empty() {
    let o = MfccOptions::new()
        .num_ceps(20)
        .num_mel_bins(40)
        .snip_edges(false);
    let s = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<MfccOptions>(&s).unwrap(), o);
    assert_eq!(
        serde_json::from_str::<FbankOptions>("{}").unwrap(),
        FbankOptions::default()
    );
    assert!(serde_json::from_str::<FbankOptions>(r#"{"num_bins": 3}"#).is_err());
}
