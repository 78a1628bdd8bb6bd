//! Integration tests on real recordings and on files made from them by
//! `scripts/gen_audio_fixtures.sh` (sox 14.4.2, ffmpeg 5.1); see `data/PROVENANCE.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use voxprobe_audio::{
    decode_bytes, decode_file, load, resample, write_wav_to, AudioStream, DecodeOptions, Downmix,
    Endianness, Error, LoadOptions, Normalize, ParamError, RawSampleFormat, RawSpec,
    ResampleQuality, StreamOptions, WavFormat,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("voxprobe-audio-{}-{name}", std::process::id()))
}

/// FNV-1a 64 over bytes, as the fixture script computes it over sox's raw output.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Our f32 samples as sox's internal signed 32-bit samples (x * 2^31). Every lossless
/// fixture holds at most 24 significant bits, so this must be exact; it is asserted.
fn to_s32(samples: &[f32]) -> Vec<i32> {
    samples
        .iter()
        .map(|&x| {
            let v = f64::from(x) * 2_147_483_648.0;
            assert_eq!(v.fract(), 0.0, "sample {x} is not a whole s32 value");
            v as i32
        })
        .collect()
}

fn reference_digest(name: &str) -> (u64, usize, u64) {
    let text = std::fs::read_to_string(data(&format!("{name}.s32.fnv"))).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        u64::from_str_radix(f[2], 16).unwrap(),
    )
}

/// Lossless fixtures and real recordings: (file, expected codec, raw spec for headerless PCM).
const LOSSLESS: &[(&str, &str, Option<RawSpec>)] = &[
    ("pcm_u8.wav", "pcm_u8", None),
    ("pcm_s16_stereo.wav", "pcm_s16le", None),
    ("pcm_s24_stereo_ext.wav", "pcm_s24le", None),
    ("pcm_s32.wav", "pcm_s32le", None),
    ("float32.wav", "pcm_f32le", None),
    ("float64.wav", "pcm_f64le", None),
    ("flac_s24_stereo_44k.flac", "flac", None),
    ("aiff_s16_stereo.aiff", "pcm_s16be", None),
    ("alac_mono.m4a", "alac", None),
    (
        "raw_s16le_mono.raw",
        "pcm_s16le",
        Some(RawSpec {
            sample_rate: 16000,
            channels: 1,
            format: RawSampleFormat::S16,
            endianness: Endianness::Little,
        }),
    ),
    (
        "raw_f32be_stereo.raw",
        "pcm_f32be",
        Some(RawSpec {
            sample_rate: 16000,
            channels: 2,
            format: RawSampleFormat::F32,
            endianness: Endianness::Big,
        }),
    ),
    (
        "sense_and_sensibility_01_austen_64kb-0870.wav",
        "pcm_s16le",
        None,
    ),
    (
        "sense_and_sensibility_01_austen_64kb-0880.wav",
        "pcm_s16le",
        None,
    ),
    (
        "sense_and_sensibility_01_austen_64kb-0890.wav",
        "pcm_s16le",
        None,
    ),
    (
        "sense_and_sensibility_01_austen_64kb-0920.wav",
        "pcm_s16le",
        None,
    ),
    (
        "sense_and_sensibility_01_austen_64kb-0930.wav",
        "pcm_s16le",
        None,
    ),
    ("u001_espeak-en-us.flac", "flac", None),
    ("u001_espeak-en-gb-scotland.flac", "flac", None),
    ("u002_espeak-en-029.flac", "flac", None),
];

mod lossless {
    use super::*;

    /// Bit-identical to sox's decode: same frame count, channel count and FNV-1a digest of
    /// the s32 sample stream (tolerance: none).
    #[test]
    fn every_lossless_format_is_bit_identical_to_sox() {
        for (name, codec, raw) in LOSSLESS {
            let mut opts = DecodeOptions::new();
            if let Some(spec) = raw {
                opts = opts.raw(*spec);
            }
            let audio = decode_file(data(name), &opts).unwrap();
            let (frames, channels, digest) = reference_digest(name);
            assert_eq!(audio.info.codec, *codec, "{name}");
            assert_eq!(audio.info.channels, channels, "{name}");
            assert_eq!(audio.frames() as u64, frames, "{name}");
            assert_eq!(audio.info.frames, frames, "{name}");
            let bytes = to_s32(&audio.samples)
                .into_iter()
                .flat_map(i32::to_le_bytes);
            assert_eq!(
                fnv(bytes),
                digest,
                "{name}: samples differ from sox's decode"
            );
        }
    }

    #[test]
    fn metadata_of_real_recordings() {
        let a = decode_file(data("u001_espeak-en-us.flac"), &DecodeOptions::new()).unwrap();
        assert_eq!(a.info.sample_rate, 16000);
        assert_eq!(a.info.channels, 1);
        assert_eq!(a.info.bits_per_sample, Some(16));
        assert_eq!(a.info.declared_frames, Some(54594));
        assert!((a.info.duration_secs() - 54594.0 / 16000.0).abs() < 1e-12);
        let f = decode_file(data("flac_s24_stereo_44k.flac"), &DecodeOptions::new()).unwrap();
        assert_eq!((f.info.sample_rate, f.info.channels), (44100, 2));
        assert_eq!(f.info.bits_per_sample, Some(24));
    }

    #[test]
    fn decode_from_bytes_and_reader_equal_decode_from_path() {
        let path = data("flac_s24_stereo_44k.flac");
        let a = decode_file(&path, &DecodeOptions::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let b = decode_bytes(&bytes, "mem.flac", &DecodeOptions::new()).unwrap();
        let c = voxprobe_audio::decode_reader(Cursor::new(bytes), "reader", &DecodeOptions::new())
            .unwrap();
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.samples, c.samples);
    }
}

mod lossy {
    use super::*;

    /// SNR of `got` against `reference` after the best integer lag in ±`max_lag` (encoders
    /// add delay) over the overlapping part.
    fn best_snr_db(reference: &[f32], got: &[f32], max_lag: usize) -> f64 {
        let mut best = f64::NEG_INFINITY;
        for lag in 0..=2 * max_lag {
            let lag = lag as isize - max_lag as isize;
            let (mut s, mut e) = (0.0f64, 0.0f64);
            for (i, &r) in reference.iter().enumerate() {
                let j = i as isize + lag;
                if j < 0 || j as usize >= got.len() {
                    continue;
                }
                let g = got[j as usize];
                s += f64::from(r).powi(2);
                e += f64::from(r - g).powi(2);
            }
            best = best.max(10.0 * (s / e.max(1e-30)).log10());
        }
        best
    }

    /// Lossy codecs at 64 kb/s on 16 kHz speech: waveform SNR of a correct decode is
    /// 10-25 dB; a wrong decode (garbage, wrong channel order, wrong scale) is below 3 dB.
    const LOSSY_MIN_SNR_DB: f64 = 8.0;

    #[test]
    fn mp3_vorbis_aac_decode_to_the_encoded_speech() {
        let source = decode_file(data("pcm_s16_stereo.wav"), &DecodeOptions::new()).unwrap();
        let left_ref: Vec<f32> = source.channel(0).unwrap();
        for (name, codec) in [
            ("lossy.mp3", "mp3"),
            ("lossy.ogg", "vorbis"),
            ("lossy_aac.m4a", "aac"),
        ] {
            let a = decode_file(data(name), &DecodeOptions::new()).unwrap();
            assert_eq!(a.info.codec, codec, "{name}");
            assert_eq!((a.info.sample_rate, a.info.channels), (16000, 2), "{name}");
            let dur = a.info.duration_secs();
            assert!((0.45..0.75).contains(&dur), "{name}: duration {dur}");
            let left = a.channel(0).unwrap();
            let snr = best_snr_db(&left_ref, &left, 3000);
            assert!(snr > LOSSY_MIN_SNR_DB, "{name}: snr {snr:.1} dB");
        }
    }
}

mod resampling {
    use super::*;

    /// Required agreement with `sox rate -v` (the issue's acceptance bar).
    const MIN_SNR_VS_SOX_DB: f64 = 50.0;

    fn read_f32(name: &str) -> Vec<f32> {
        std::fs::read(data(name))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn snr_db(reference: &[f32], got: &[f32]) -> f64 {
        let (mut s, mut e) = (0.0f64, 0.0f64);
        for (&r, &g) in reference.iter().zip(got) {
            s += f64::from(r).powi(2);
            e += f64::from(r - g).powi(2);
        }
        10.0 * (s / e).log10()
    }

    const CASES: &[(&str, &str, u32)] = &[
        ("sweep_44k.wav", "rs_sweep_44k_to_16k.f32", 16000),
        ("sweep_48k.wav", "rs_sweep_48k_to_16k.f32", 16000),
        ("speech_44k.wav", "rs_speech_44k_to_16k.f32", 16000),
        ("speech_16k.wav", "rs_speech_16k_to_8k.f32", 8000),
        ("speech_16k.wav", "rs_speech_16k_to_22k.f32", 22050),
    ];

    /// Time-aligned, same length as sox, ≥ 50 dB SNR over the whole signal (edges included).
    #[test]
    fn high_quality_agrees_with_sox_rate_v() {
        for (input, reference, rate) in CASES {
            let got = load(data(input), &LoadOptions::new().target_rate(*rate)).unwrap();
            let want = read_f32(reference);
            assert_eq!(got.samples.len(), want.len(), "{input} -> {rate}");
            let snr = snr_db(&want, &got.samples);
            eprintln!("{input} -> {rate} Hz: {snr:.1} dB vs sox rate -v");
            assert!(snr >= MIN_SNR_VS_SOX_DB, "{input} -> {rate}: {snr:.1} dB");
        }
    }

    /// Gain in dB of the 44.1 kHz -> 16 kHz resampler for a unit sine at `f` Hz, measured
    /// on the steady-state middle of 1 s of output.
    fn gain_db(f: f64) -> f64 {
        let x: Vec<f32> = (0..44100)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / 44100.0).sin() as f32)
            .collect();
        let y = resample(&x, 44100, 16000, ResampleQuality::High).unwrap();
        let mid = &y[4000..12000];
        let p_out = mid.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / mid.len() as f64;
        // A unit sine has power 1/2; below Nyquist it should come out unchanged.
        10.0 * (p_out / 0.5).log10()
    }

    /// Passband ripple and stopband rejection figures quoted in the README.
    #[test]
    fn frequency_response_44k_to_16k() {
        let pass: Vec<f64> = (1..=72).map(|k| gain_db(k as f64 * 100.0)).collect();
        let (lo, hi) = pass
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &g| (a.min(g), b.max(g)));
        // Stopband: everything at or above the 8 kHz output Nyquist, which would alias.
        let stop = (0..=140)
            .map(|k| gain_db(8000.0 + k as f64 * 100.0))
            .fold(f64::MIN, f64::max);
        let edge = gain_db(7600.0);
        eprintln!(
            "passband 0.1-7.2 kHz: {lo:.7} .. {hi:.7} dB; at 7.6 kHz: {edge:.2} dB; stopband >= 8 kHz: max {stop:.1} dB"
        );
        // Figures quoted in the README, with headroom for float rounding across machines.
        assert!(hi - lo < 1e-4, "ripple {}", hi - lo);
        assert!((-2.5..-1.7).contains(&edge), "edge {edge}");
        assert!(stop < -130.0, "stopband {stop}");
    }

    #[test]
    fn resample_fn_equals_load_and_stream() {
        let decoded = decode_file(data("flac_s24_stereo_44k.flac"), &DecodeOptions::new()).unwrap();
        let mono = voxprobe_audio::downmix(&decoded.samples, 2, Downmix::Mean).unwrap();
        let a = resample(&mono, 44100, 16000, ResampleQuality::High).unwrap();
        let b = load(data("flac_s24_stereo_44k.flac"), &LoadOptions::new()).unwrap();
        assert_eq!(a, b.samples);
        for chunk in [1, 777, 16000] {
            let stream = AudioStream::open(
                data("flac_s24_stereo_44k.flac"),
                &StreamOptions::new().chunk_frames(chunk),
            )
            .unwrap();
            let mut all = Vec::new();
            for c in stream {
                let c = c.unwrap();
                assert!(c.len() <= chunk);
                all.extend(c);
            }
            assert_eq!(all, a, "chunk {chunk}");
        }
    }

    #[test]
    fn pick_channel_and_normalize() {
        let opts = LoadOptions::new()
            .downmix(Downmix::Channel(1))
            .normalize(Normalize::ZeroMeanUnitVar);
        let x = load(data("pcm_s16_stereo.wav"), &opts).unwrap();
        let right = decode_file(data("pcm_s16_stereo.wav"), &DecodeOptions::new())
            .unwrap()
            .channel(1)
            .unwrap();
        assert_eq!(x.samples.len(), right.len());
        let n = x.samples.len() as f64;
        let mean = x.samples.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = x
            .samples
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
        // Same ordering as the raw right channel (normalisation is affine with positive scale).
        assert!((right[10] < right[11]) == (x.samples[10] < x.samples[11]));
    }
}

mod normalization {
    use super::*;

    /// numpy evaluates the formula in float32 (pairwise-summed mean/var); we accumulate in
    /// f64. Normalised speech has |x| up to ~10, so a few f32 ulps: 1e-5 absolute.
    const ZNORM_ABS_TOL: f32 = 1e-5;

    /// Parity with transformers' `zero_mean_unit_var_norm` as computed by numpy
    /// (`scripts/gen_audio_norm_ref.py`).
    #[test]
    fn zero_mean_unit_var_matches_numpy_reference() {
        let mut x = decode_file(data("speech_16k.wav"), &DecodeOptions::new())
            .unwrap()
            .samples;
        voxprobe_audio::normalize(&mut x, Normalize::ZeroMeanUnitVar).unwrap();
        let want: Vec<f32> = std::fs::read(data("znorm_speech_16k_first2000.f32"))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(want.len(), 2000);
        for (i, (a, b)) in x.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= ZNORM_ABS_TOL, "sample {i}: {a} vs {b}");
        }
    }
}

mod wav_out {
    use super::*;

    #[test]
    fn pcm16_and_float32_round_trip_exactly() {
        let a = decode_file(data("pcm_s16_stereo.wav"), &DecodeOptions::new()).unwrap();
        for format in [WavFormat::Pcm16, WavFormat::Float32] {
            let mut buf = Cursor::new(Vec::new());
            write_wav_to(&mut buf, &a.samples, 16000, 2, format).unwrap();
            let b = decode_bytes(buf.get_ref(), "written.wav", &DecodeOptions::new()).unwrap();
            assert_eq!(b.samples, a.samples, "{format:?}");
            assert_eq!((b.info.sample_rate, b.info.channels), (16000, 2));
        }
    }

    #[test]
    fn nan_is_refused() {
        let mut buf = Cursor::new(Vec::new());
        let r = write_wav_to(&mut buf, &[0.0, f32::NAN], 16000, 1, WavFormat::Float32);
        assert!(matches!(
            r,
            Err(Error::Param(ParamError::NonFiniteInput { index: 1 }))
        ));
    }
}

mod errors {
    use super::*;

    fn wav_bytes(samples: &[f32], channels: u16, format: WavFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        write_wav_to(&mut buf, samples, 16000, channels, format).unwrap();
        buf.into_inner()
    }

    #[test]
    fn missing_and_empty_files() {
        let missing = data("no-such-file.wav");
        let e = decode_file(&missing, &DecodeOptions::new()).unwrap_err();
        assert!(matches!(&e, Error::NotFound { file } if *file == missing));
        assert!(e.to_string().contains("no-such-file.wav"));
        let empty = tmp("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        let e = load(&empty, &LoadOptions::new()).unwrap_err();
        assert!(matches!(e, Error::EmptyFile { .. }));
        std::fs::remove_file(&empty).unwrap();
        assert!(matches!(
            decode_bytes(&[], "x", &DecodeOptions::new()),
            Err(Error::EmptyFile { .. })
        ));
    }

    #[test]
    fn garbage_is_unsupported() {
        let e = decode_bytes(&[7u8; 4096], "noise.bin", &DecodeOptions::new()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().starts_with("noise.bin: "));
    }

    #[test]
    fn truncated_wav_and_flac() {
        let wav = std::fs::read(data("pcm_s16_stereo.wav")).unwrap();
        let e = decode_bytes(&wav[..wav.len() / 2], "cut.wav", &DecodeOptions::new()).unwrap_err();
        assert!(
            matches!(e, Error::Truncated { expected_frames: 8000, decoded_frames, .. } if decoded_frames < 8000),
            "{e}"
        );
        let flac = std::fs::read(data("u001_espeak-en-us.flac")).unwrap();
        let e =
            decode_bytes(&flac[..flac.len() / 2], "cut.flac", &DecodeOptions::new()).unwrap_err();
        assert!(
            matches!(e, Error::Truncated { .. } | Error::Corrupt { .. }),
            "{e}"
        );
        let e = decode_bytes(&flac[..30], "header.flac", &DecodeOptions::new()).unwrap_err();
        assert!(
            matches!(e, Error::Corrupt { .. } | Error::Unsupported { .. }),
            "{e}"
        );
    }

    #[test]
    fn corrupt_flac_body_is_skipped_or_strictly_refused() {
        let mut flac = std::fs::read(data("u001_espeak-en-us.flac")).unwrap();
        let mid = flac.len() / 2;
        for b in &mut flac[mid..mid + 200] {
            *b ^= 0x5a;
        }
        match decode_bytes(&flac, "damaged.flac", &DecodeOptions::new()) {
            Ok(a) => assert!(a.info.skipped_packets > 0 || a.info.frames < 54594),
            Err(e) => assert!(
                matches!(e, Error::Corrupt { .. } | Error::Truncated { .. }),
                "{e}"
            ),
        }
        let e =
            decode_bytes(&flac, "damaged.flac", &DecodeOptions::new().strict(true)).unwrap_err();
        assert!(
            matches!(e, Error::Corrupt { .. } | Error::Truncated { .. }),
            "{e}"
        );
    }

    #[test]
    fn zero_channels_and_zero_length() {
        // A header-only WAV (data chunk of 0 bytes).
        let empty_audio = wav_bytes(&[], 1, WavFormat::Pcm16);
        let e = decode_bytes(&empty_audio, "silent.wav", &DecodeOptions::new()).unwrap_err();
        assert!(matches!(e, Error::NoAudio { .. }), "{e}");
        // Patch the fmt chunk's channel count (offset 22) to 0.
        let mut zero_ch = wav_bytes(&[0.0; 16], 1, WavFormat::Pcm16);
        zero_ch[22] = 0;
        zero_ch[23] = 0;
        let e = decode_bytes(&zero_ch, "zero.wav", &DecodeOptions::new()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ZeroChannels { .. } | Error::Corrupt { .. } | Error::Unsupported { .. }
            ),
            "{e}"
        );
        let raw = RawSpec::new(16000, 0, RawSampleFormat::S16, Endianness::Little);
        let e = decode_bytes(&[0; 4], "x.raw", &DecodeOptions::new().raw(raw)).unwrap_err();
        assert!(matches!(e, Error::Param(ParamError::ZeroChannels)));
    }

    #[test]
    fn non_finite_float_samples_are_rejected() {
        // write_wav_to refuses NaN, so write a marker value and patch NaN / inf over it.
        let marker = 0.123_456_79f32.to_le_bytes();
        for (bad, text) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
            let mut bytes = wav_bytes(&[0.0, 0.5, 0.123_456_79, 0.1], 2, WavFormat::Float32);
            let at = bytes.windows(4).position(|w| w == marker).unwrap();
            bytes[at..at + 4].copy_from_slice(&bad.to_le_bytes());
            let e = decode_bytes(&bytes, "nan.wav", &DecodeOptions::new()).unwrap_err();
            assert!(
                matches!(&e, Error::NonFinite { frame: 1, channel: 0, value, .. } if value == text),
                "{e}"
            );
            let e = load_bytes_err(&bytes);
            assert!(matches!(e, Error::NonFinite { .. }), "{e}");
        }
    }

    fn load_bytes_err(bytes: &[u8]) -> Error {
        voxprobe_audio::load_bytes(bytes, "nan.wav", &LoadOptions::new()).unwrap_err()
    }

    #[test]
    fn channel_out_of_range_names_the_file() {
        let e = load(
            data("pcm_s16_stereo.wav"),
            &LoadOptions::new().downmix(Downmix::Channel(2)),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::ChannelOutOfRange {
                requested: 2,
                channels: 2,
                ..
            }
        ));
        assert!(e.to_string().contains("pcm_s16_stereo.wav"));
    }

    #[test]
    fn raw_with_a_partial_frame_is_corrupt() {
        let spec = RawSpec::new(16000, 2, RawSampleFormat::S16, Endianness::Little);
        let e = decode_bytes(&[0; 6], "odd.raw", &DecodeOptions::new().raw(spec)).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    }

    #[test]
    fn limits_and_params() {
        let e = decode_file(
            data("pcm_s16_stereo.wav"),
            &DecodeOptions::new().max_frames(100),
        )
        .unwrap_err();
        assert!(matches!(e, Error::TooLong { limit: 100, .. }));
        let e = load(
            data("pcm_s16_stereo.wav"),
            &LoadOptions::new().target_rate(0),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::Param(ParamError::ZeroSampleRate { rate: 0 })
        ));
        let e = AudioStream::open(
            data("pcm_s16_stereo.wav"),
            &StreamOptions::new().chunk_frames(0),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Param(ParamError::ZeroChunk { size: 0 })));
    }

    /// Regression (issue 2, found by the fuzzer): hostile MP4 `stco` count and FLAC
    /// vorbis-comment length made symphonia 0.5 allocate gigabytes, an AIFF with a 0 Hz rate
    /// made it panic, and an ADTS stream tripped an assertion in its probe; each is now
    /// a typed error.
    #[test]
    fn issue_2_fuzz_out_of_memory_inputs_are_corrupt() {
        for name in [
            "fuzz_oom_mp4_stco.bin",
            "fuzz_oom_flac_comment.bin",
            "fuzz_panic_aiff_rate0.bin",
            "fuzz_oom_id3_flac_comment.bin",
            "fuzz_oom_mp4_stsz.bin",
        ] {
            let e = decode_file(data(name), &DecodeOptions::new()).unwrap_err();
            assert!(matches!(e, Error::Corrupt { .. }), "{name}: {e}");
            let bytes = std::fs::read(data(name)).unwrap();
            let e = decode_bytes(&bytes, name, &DecodeOptions::new()).unwrap_err();
            assert!(matches!(e, Error::Corrupt { .. }), "{name}: {e}");
        }
        // symphonia 0.5's ADTS probe asserted (`step_by(0)`); 0.6's probe rejects the
        // stream as no known format.
        let name = "fuzz_panic_adts_step0.bin";
        let e = decode_file(data(name), &DecodeOptions::new()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{name}: {e}");
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Error>();
        send_sync::<voxprobe_audio::Audio>();
        send::<AudioStream>();
    }
}

mod segments {
    use super::*;

    /// Decodes `name` whole and as the segment `[start, end)`, and asserts the segment is
    /// exactly frames `[round(start * rate), round(end * rate))` of the whole decode.
    fn assert_segment_is_slice(name: &str, start: f64, end: Option<f64>) {
        let whole = decode_file(data(name), &DecodeOptions::new()).unwrap();
        let rate = f64::from(whole.info.sample_rate);
        let ch = whole.info.channels;
        let seg = decode_file(data(name), &DecodeOptions::new().segment(start, end)).unwrap();
        let a = (start * rate).round() as usize;
        let b = end.map_or(whole.frames(), |e| (e * rate).round() as usize);
        assert_eq!(seg.info.start_frame, a as u64, "{name} {start} {end:?}");
        assert_eq!(seg.frames(), b - a, "{name} {start} {end:?}");
        assert_eq!(seg.info.frames, (b - a) as u64, "{name} {start} {end:?}");
        assert!(
            seg.samples == whole.samples[a * ch..b * ch],
            "{name} [{start}, {end:?}): samples differ from the whole-file decode's slice"
        );
    }

    #[test]
    fn wav_and_flac_segments_are_exact_slices_of_the_whole_decode() {
        for name in [
            "sense_and_sensibility_01_austen_64kb-0870.wav",
            "u001_espeak-en-us.flac",
            "flac_s24_stereo_44k.flac",
            "pcm_s24_stereo_ext.wav",
            "aiff_s16_stereo.aiff",
            "alac_mono.m4a",
        ] {
            for (start, end) in [
                (0.0, Some(0.1)),
                (0.123_456, Some(0.4)),
                (0.25, None),
                (0.3, Some(0.300_1)),
            ] {
                assert_segment_is_slice(name, start, end);
            }
        }
        // Deep into the long files, where the demuxer must seek.
        assert_segment_is_slice(
            "sense_and_sensibility_01_austen_64kb-0870.wav",
            5.123_4,
            Some(6.5),
        );
        assert_segment_is_slice("u001_espeak-en-us.flac", 2.7, Some(3.1));
        assert_segment_is_slice("u001_espeak-en-us.flac", 3.0, None);
    }

    #[test]
    fn lossy_segments_are_exact_slices_after_preroll() {
        // 4 s files: a start at 2-3 s is past LOSSY_PREROLL_FRAMES, so the container seeks.
        for name in ["lossy_long.mp3", "lossy_long.ogg"] {
            assert_segment_is_slice(name, 2.0, Some(2.5));
            assert_segment_is_slice(name, 3.25, None);
            assert_segment_is_slice(name, 0.1, Some(0.2));
        }
        assert_segment_is_slice("lossy.mp3", 0.2, Some(0.3));
        assert_segment_is_slice("lossy_aac.m4a", 0.2, Some(0.3));
    }

    #[test]
    fn raw_pcm_segment_is_a_slice() {
        let spec = RawSpec::new(16000, 1, RawSampleFormat::S16, Endianness::Little);
        let opts = DecodeOptions::new().raw(spec);
        let whole = decode_file(data("raw_s16le_mono.raw"), &opts).unwrap();
        let seg = decode_file(
            data("raw_s16le_mono.raw"),
            &opts.clone().segment(0.1, Some(0.2)),
        )
        .unwrap();
        assert_eq!(seg.samples, whole.samples[1600..3200]);
    }

    #[test]
    fn bad_segments_are_typed_errors() {
        let path = data("u001_espeak-en-us.flac");
        for (start, end) in [
            (f64::NAN, None),
            (0.0, Some(f64::NAN)),
            (f64::INFINITY, None),
            (-0.5, Some(1.0)),
            (1.0, Some(1.0)),
            (1.0, Some(0.5)),
        ] {
            let err = decode_file(&path, &DecodeOptions::new().segment(start, end)).unwrap_err();
            assert!(
                matches!(err, Error::Param(ParamError::InvalidSegment { .. })),
                "{start} {end:?}: {err}"
            );
        }
        // 10 µs at 16 kHz rounds to zero frames.
        let err =
            decode_file(&path, &DecodeOptions::new().segment(1.0, Some(1.000_01))).unwrap_err();
        assert!(
            matches!(
                err,
                Error::EmptySegment {
                    start_frame: 16000,
                    end_frame: 16000,
                    ..
                }
            ),
            "{err}"
        );
        // The file holds 54594 frames (3.412 s).
        for (start, end) in [(3.5, None), (10.0, Some(11.0)), (3.0, Some(3.5))] {
            let err = decode_file(&path, &DecodeOptions::new().segment(start, end)).unwrap_err();
            assert!(
                matches!(err, Error::SegmentPastEnd { frames: 54594, .. }),
                "{start} {end:?}: {err}"
            );
        }
        // Lenient: an end past the end of the file returns what there is.
        let seg = decode_file(
            &path,
            &DecodeOptions::new()
                .segment(3.0, Some(3.5))
                .lenient_segment_end(true),
        )
        .unwrap();
        assert_eq!(seg.frames(), 54594 - 48000);
        // ... but a start past the end stays an error.
        let err = decode_file(
            &path,
            &DecodeOptions::new()
                .segment(3.5, Some(4.0))
                .lenient_segment_end(true),
        )
        .unwrap_err();
        assert!(matches!(err, Error::SegmentPastEnd { .. }), "{err}");
    }

    #[test]
    fn load_resamples_the_segment() {
        let path = data("flac_s24_stereo_44k.flac");
        let opts = LoadOptions::new().decode(DecodeOptions::new().segment(0.1, Some(0.35)));
        let got = load(&path, &opts).unwrap();
        let whole = decode_file(&path, &DecodeOptions::new()).unwrap();
        let mono =
            voxprobe_audio::downmix(&whole.samples[4410 * 2..15435 * 2], 2, Downmix::Mean).unwrap();
        let want = resample(&mono, 44100, 16000, ResampleQuality::High).unwrap();
        assert_eq!(got.samples, want);
    }
}
