//! Issue 18: sharded checkpoints, sampling-rate checks, batched CTC and word/char offsets,
//! against `scripts/gen_ssl_ckpt_fixtures.py` (transformers 5.23.0) on the bundled LibriVox
//! clips.

use crate::common::*;
use candle_core::{Device, Tensor};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use voxprobe_ssl::{
    frames_to_seconds, CtcDecoding, CtcVocab, DecodeOptions, Error, ForwardOptions, LoadOptions,
    Pretrained, TranscribeOptions, Transcript,
};

const W960: &str = "wav2vec2-ctc-960h";
const LV60: &str = "wav2vec2-ctc-lv60";
const CLIPS: [&str; 5] = [
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890",
    "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930",
];

/// 16-bit PCM → f32 as the script does (`/ 32768`).
fn clip(name: &str) -> Vec<f32> {
    let path = repo_root()
        .join("crates/voxprobe-audio/tests/data")
        .join(format!("{name}.wav"));
    let mut r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 16_000);
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

fn reference_json(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir().join(file)).unwrap()).unwrap()
}

/// transformers' logits per model and clip (`<model>.<clip>.logits`).
fn librivox_logits() -> HashMap<String, Tensor> {
    load_st(data_dir().join("librivox_ctc.logits.safetensors"))
}

fn load(dir: &Path) -> Pretrained {
    Pretrained::from_dir(dir, &LoadOptions::default()).unwrap()
}

fn logits(p: &Pretrained, wave: &[f32]) -> Tensor {
    let x = Tensor::from_vec(voxprobe_ssl::normalize(wave), (1, wave.len()), &Device::Cpu).unwrap();
    p.model
        .forward(&x, None, &ForwardOptions::default())
        .unwrap()
        .logits
        .unwrap()
}

/// Checks a decoding against one `{"text", "char_offsets", "word_offsets"}` reference entry,
/// frames and seconds (`offset × 320 / 16000`, compared exactly).
fn assert_decoding(what: &str, d: &CtcDecoding, r: &Value) {
    assert_eq!(d.text, r["text"].as_str().unwrap(), "{what}: text");
    let sec = |o: usize| frames_to_seconds(o, 320, 16_000);
    let rc = r["char_offsets"].as_array().unwrap();
    assert_eq!(d.char_offsets.len(), rc.len(), "{what}: char count");
    for (c, e) in d.char_offsets.iter().zip(rc) {
        assert_eq!(c.char, e["char"].as_str().unwrap(), "{what}");
        assert_eq!(
            c.start_offset as u64,
            e["start_offset"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            c.end_offset as u64,
            e["end_offset"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(sec(c.start_offset), e["start"].as_f64().unwrap(), "{what}");
        assert_eq!(sec(c.end_offset), e["end"].as_f64().unwrap(), "{what}");
    }
    let rw = r["word_offsets"].as_array().unwrap();
    assert_eq!(d.word_offsets.len(), rw.len(), "{what}: word count");
    for (w, e) in d.word_offsets.iter().zip(rw) {
        assert_eq!(w.word, e["word"].as_str().unwrap(), "{what}");
        assert_eq!(
            w.start_offset as u64,
            e["start_offset"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            w.end_offset as u64,
            e["end_offset"].as_u64().unwrap(),
            "{what}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

// ---- sharded checkpoints ----

#[test]
fn sharded_copies_give_the_same_logits_as_the_whole_checkpoint() {
    let whole = load(&model_dir(W960));
    let refs = librivox_logits();
    for kind in ["sharded", "sharded-bin"] {
        let dir = model_dir(&format!("{W960}-{kind}"));
        assert!(!dir.join("model.safetensors").exists() && !dir.join("pytorch_model.bin").exists());
        let sharded = load(&dir);
        for c in CLIPS {
            let wave = clip(c);
            let a = logits(&sharded, &wave);
            let b = logits(&whole, &wave);
            let diff = (&a - &b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(diff, 0.0, "{kind} {c}");
            assert_close(
                &format!("{kind} {c}"),
                &a,
                &refs[&format!("{W960}.{c}.logits")],
            );
        }
    }
}

#[test]
fn sharded_checkpoint_loads_from_the_hub_cache() {
    let cache = scratch_dir("hub-sharded");
    let rev = "89abcdef0123456789abcdef0123456789abcdef";
    let repo = cache.join("models--tiny-org--sharded");
    let snap = repo.join("snapshots").join(rev);
    copy_dir(&model_dir(&format!("{W960}-sharded")), &snap);
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), rev).unwrap();
    let opts = LoadOptions::default().cache_dir(&cache).offline(true);
    let p = Pretrained::load("tiny-org/sharded", &opts).unwrap();
    let wave = clip(CLIPS[1]);
    assert_close(
        "hub sharded",
        &logits(&p, &wave),
        &librivox_logits()[&format!("{W960}.{}.logits", CLIPS[1])],
    );
    // a shard missing from the cache: not complete, and offline forbids the download
    std::fs::remove_file(snap.join("model-00002-of-00003.safetensors")).unwrap();
    let e = Pretrained::load("tiny-org/sharded", &opts).unwrap_err();
    assert!(
        matches!(e, Error::Hub { ref reason } if reason.contains("offline")),
        "{e:?}"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}

fn sharded_scratch(tag: &str) -> PathBuf {
    let d = scratch_dir(tag);
    copy_dir(&model_dir(&format!("{W960}-sharded")), &d);
    d
}

const INDEX: &str = "model.safetensors.index.json";

fn edit_index(dir: &Path, f: impl FnOnce(&str) -> String) {
    let p = dir.join(INDEX);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, f(&text)).unwrap();
}

#[test]
fn missing_shards_are_all_named() {
    for file in [
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    ] {
        let bin = file.starts_with("pytorch");
        let d = scratch_dir(&format!("missing-shard-{bin}"));
        copy_dir(
            &model_dir(&format!(
                "{W960}-{}",
                if bin { "sharded-bin" } else { "sharded" }
            )),
            &d,
        );
        let (s1, s3) = if bin {
            (
                "pytorch_model-00001-of-00003.bin",
                "pytorch_model-00003-of-00003.bin",
            )
        } else {
            (
                "model-00001-of-00003.safetensors",
                "model-00003-of-00003.safetensors",
            )
        };
        std::fs::remove_file(d.join(s1)).unwrap();
        std::fs::remove_file(d.join(s3)).unwrap();
        let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
        match &e {
            Error::MissingShard { index, shards } => {
                assert!(index.ends_with(file), "{index}");
                assert_eq!(shards, &vec![s1.to_string(), s3.to_string()]);
            }
            other => panic!("expected MissingShard, got {other:?}"),
        }
        assert!(e.to_string().contains(s3), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn an_index_naming_a_key_twice_is_an_error() {
    let d = sharded_scratch("dup-index");
    edit_index(&d, |t| {
        t.replacen(
            "\"weight_map\": {",
            "\"weight_map\": {\n    \"lm_head.bias\": \"model-00001-of-00003.safetensors\",",
            1,
        )
    });
    let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::DuplicateKey { ref key, ref file } if key == "lm_head.bias" && file.ends_with(INDEX)),
        "{e:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_tensor_stored_in_two_shards_is_an_error() {
    let d = sharded_scratch("dup-shard");
    // shard 1 gets a copy of lm_head.bias, which the index assigns to shard 3
    let s1 = d.join("model-00001-of-00003.safetensors");
    let mut t = load_st(s1.clone());
    let s3 = load_st(d.join("model-00003-of-00003.safetensors"));
    t.insert("lm_head.bias".into(), s3["lm_head.bias"].clone());
    candle_core::safetensors::save(&t, &s1).unwrap();
    let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
    match &e {
        Error::DuplicateKey { key, file } => {
            assert_eq!(key, "lm_head.bias");
            assert!(file.contains("model-00001-of-00003.safetensors"), "{file}");
            assert!(file.contains("model-00003-of-00003.safetensors"), "{file}");
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn index_and_shards_must_agree_and_stay_in_the_directory() {
    // the index sends lm_head.bias to shard 1, which does not store it
    let d = sharded_scratch("absent");
    edit_index(&d, |t| {
        t.replace(
            "\"lm_head.bias\": \"model-00003-of-00003.safetensors\"",
            "\"lm_head.bias\": \"model-00001-of-00003.safetensors\"",
        )
    });
    let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::ShardIndex { ref reason, .. } if reason.contains("lm_head.bias (in model-00001-of-00003.safetensors)")),
        "{e:?}"
    );
    // a shard outside the directory
    edit_index(&d, |t| {
        t.replace(
            "\"lm_head.bias\": \"model-00001-of-00003.safetensors\"",
            "\"lm_head.bias\": \"../model-00003-of-00003.safetensors\"",
        )
    });
    let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::ShardIndex { ref reason, .. } if reason.contains("../model-00003")),
        "{e:?}"
    );
    // not an index at all
    std::fs::write(d.join(INDEX), "{\"metadata\": {}}").unwrap();
    let e = Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Json { .. }), "{e:?}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn sharded_key_problems_are_reported_together() {
    // drop one tensor from shard 3 and the index, add an unknown one, change a shape
    let d = sharded_scratch("keys");
    let s3p = d.join("model-00003-of-00003.safetensors");
    let mut s3: HashMap<String, Tensor> = load_st(s3p.clone());
    s3.remove("lm_head.bias").unwrap();
    s3.insert(
        "wav2vec2.encoder.bogus".into(),
        Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    s3.insert(
        "lm_head.weight".into(),
        Tensor::zeros((31, 32), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&s3, &s3p).unwrap();
    edit_index(&d, |t| {
        t.replace(
            "\"lm_head.bias\": \"model-00003-of-00003.safetensors\"",
            "\"wav2vec2.encoder.bogus\": \"model-00003-of-00003.safetensors\"",
        )
    });
    match Pretrained::from_dir(&d, &LoadOptions::default()).unwrap_err() {
        Error::Checkpoint {
            missing,
            unexpected,
            mismatched,
        } => {
            assert_eq!(missing, vec!["lm_head.bias"]);
            assert_eq!(unexpected, vec!["wav2vec2.encoder.bogus"]);
            assert_eq!(mismatched.len(), 1);
            assert_eq!(mismatched[0].name, "lm_head.weight");
            assert_eq!(mismatched[0].actual, vec![31, 32]);
        }
        other => panic!("expected Checkpoint, got {other:?}"),
    }
    std::fs::remove_dir_all(&d).unwrap();
}

// ---- transcripts and offsets on real speech ----

#[test]
fn transcripts_and_offsets_equal_transformers_on_librivox() {
    let r = reference_json("librivox_ctc.json");
    let refs = librivox_logits();
    for name in [W960, LV60] {
        let p = load(&model_dir(name));
        let m = &r["models"][name];
        assert_eq!(
            m["inputs_to_logits_ratio"].as_u64().unwrap(),
            p.model.hop_length() as u64
        );
        let waves: Vec<Vec<f32>> = CLIPS.iter().map(|c| clip(c)).collect();
        let items: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
        let got = p
            .transcribe_batch(&items, 16_000, &TranscribeOptions::default())
            .unwrap();
        let skip = p
            .transcribe_batch(
                &items,
                16_000,
                &TranscribeOptions::default()
                    .decode(DecodeOptions::default().skip_special_tokens(true)),
            )
            .unwrap();
        for (k, c) in CLIPS.iter().enumerate() {
            let mc = &m["clips"][c];
            assert_close(
                &format!("{name} {c} logits"),
                &logits(&p, &waves[k]),
                &refs[&format!("{name}.{c}.logits")],
            );
            assert_eq!(got[k].frames as u64, mc["frames"].as_u64().unwrap());
            assert_decoding(&format!("{name} {c}"), &got[k].decoding, &mc["default"]);
            assert_decoding(
                &format!("{name} {c} skip"),
                &skip[k].decoding,
                &mc["skip_special"],
            );
            // the words in seconds are the reference's
            let words = got[k].words();
            assert!(words.len() >= 3, "{name} {c}: {}", got[k].text());
            for (w, e) in words
                .iter()
                .zip(mc["default"]["word_offsets"].as_array().unwrap())
            {
                assert_eq!(w.start, e["start"].as_f64().unwrap());
                assert_eq!(w.end, e["end"].as_f64().unwrap());
            }
            // the one-utterance API agrees
            assert_eq!(p.transcribe(&waves[k]).unwrap(), got[k].text());
        }
    }
}

#[test]
fn tokenizer_offsets_equal_transformers_on_edge_cases() {
    let r = reference_json("ctc_offsets.json");
    let default = CtcVocab::from_dir(model_dir(W960)).unwrap();
    let lower_dir = scratch_dir("lower-vocab");
    std::fs::copy(
        model_dir(W960).join("vocab.json"),
        lower_dir.join("vocab.json"),
    )
    .unwrap();
    std::fs::write(
        lower_dir.join("tokenizer_config.json"),
        r#"{"do_lower_case": true}"#,
    )
    .unwrap();
    let lower = CtcVocab::from_dir(&lower_dir).unwrap();
    let cases = r["cases"].as_object().unwrap();
    assert!(cases.len() >= 7);
    for (name, case) in cases {
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        for (tok_name, vocab) in [
            ("default_tokenizer", &default),
            ("lower_case_tokenizer", &lower),
        ] {
            for (mode, opts) in [
                ("default", DecodeOptions::default()),
                (
                    "skip_special",
                    DecodeOptions::default().skip_special_tokens(true),
                ),
            ] {
                let d = vocab.decode_with_offsets(&ids, &opts);
                assert_decoding(
                    &format!("{name} {tok_name} {mode}"),
                    &d,
                    &case[tok_name][mode],
                );
            }
        }
    }
    std::fs::remove_dir_all(&lower_dir).unwrap();
}

// ---- batching ----

fn mixed_lengths() -> Vec<Vec<f32>> {
    // five clips plus cuts of them: 11 utterances from 0.5 s to 7.1 s
    let mut v: Vec<Vec<f32>> = CLIPS.iter().map(|c| clip(c)).collect();
    for (k, n) in [
        (0usize, 8_000usize),
        (2, 23_999),
        (3, 40_321),
        (4, 12_345),
        (0, 60_000),
        (1, 33_333),
    ] {
        let w = v[k][..n].to_vec();
        v.push(w);
    }
    v
}

#[test]
fn batched_transcripts_equal_unbatched_on_mixed_lengths() {
    let waves = mixed_lengths();
    let items: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
    for name in [LV60, W960] {
        let p = load(&model_dir(name));
        let one = p
            .transcribe_batch(&items, 16_000, &TranscribeOptions::default().max_batch(1))
            .unwrap();
        for opts in [
            TranscribeOptions::default(),
            TranscribeOptions::default().max_batch(3),
            TranscribeOptions::default().max_batch_samples(100_000),
        ] {
            let batched = p.transcribe_batch(&items, 16_000, &opts).unwrap();
            assert_eq!(batched, one, "{name}");
        }
        // and each equals Pretrained::transcribe
        for (w, t) in items.iter().zip(&one) {
            assert_eq!(p.transcribe(w).unwrap(), t.text());
        }
        let texts: std::collections::HashSet<&str> = one.iter().map(Transcript::text).collect();
        assert!(
            texts.len() >= 8,
            "{name}: transcripts should differ between utterances"
        );
    }
    // the group-norm model is batched only on request, and then padding changes transcripts
    // (as in transformers), which is why it runs one by one by default
    let p = load(&model_dir(W960));
    assert!(!p.model.batching_is_exact());
    let one = p
        .transcribe_batch(&items, 16_000, &TranscribeOptions::default().max_batch(1))
        .unwrap();
    let forced = p
        .transcribe_batch(
            &items,
            16_000,
            &TranscribeOptions::default().batch_inexact(true),
        )
        .unwrap();
    assert_ne!(forced, one);
    let lv60 = load(&model_dir(LV60));
    assert!(lv60.model.batching_is_exact());
}

#[test]
fn long_utterances_are_windowed_inside_a_batch() {
    let p = load(&model_dir(LV60));
    let waves = mixed_lengths();
    let items: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
    // 1 s windows with 0.25 s context: the clips over 1.5 s run alone through embed_long
    let chunk = voxprobe_ssl::ChunkOptions::default()
        .chunk_seconds(1.0)
        .context_seconds(0.25);
    let got = p
        .transcribe_batch(
            &items,
            16_000,
            &TranscribeOptions::default().chunk(chunk.clone()),
        )
        .unwrap();
    for (w, t) in items.iter().zip(&got) {
        let out = p.embed_long(w, &chunk, &ForwardOptions::default()).unwrap();
        let expect = p
            .vocab
            .as_ref()
            .unwrap()
            .decode_logits(&out.logits.unwrap(), None, &DecodeOptions::default())
            .unwrap();
        assert_eq!(t.text(), expect[0]);
        assert_eq!(t.frames, p.model.frames_for(w.len()));
    }
}

// ---- sampling rate and bad input ----

#[test]
fn a_wrong_sampling_rate_is_a_typed_error_naming_both_rates() {
    let p = load(&model_dir(W960));
    let w = clip(CLIPS[1]);
    let e = p
        .transcribe_batch(&[&w], 8_000, &TranscribeOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::SamplingRate {
                expected: 16_000,
                actual: 8_000
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("8000") && msg.contains("16000"), "{msg}");
    // the expected rate comes from preprocessor_config.json
    let d = scratch_dir("rate-8k");
    copy_dir(&model_dir(W960), &d);
    let pp = d.join("preprocessor_config.json");
    let text = std::fs::read_to_string(&pp).unwrap();
    std::fs::write(&pp, text.replace("16000", "8000")).unwrap();
    let p8 = load(&d);
    assert_eq!(p8.preprocessor.sampling_rate, 8_000);
    assert!(matches!(
        p8.check_sampling_rate(16_000),
        Err(Error::SamplingRate {
            expected: 8_000,
            actual: 16_000
        })
    ));
    assert!(p8.check_sampling_rate(8_000).is_ok());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_batch_inputs_name_the_item() {
    let p = load(&model_dir(LV60));
    let good = vec![0.1f32; 4_000];
    let nan = vec![f32::NAN; 4_000];
    let e = p
        .transcribe_batch(&[&good, &nan], 16_000, &TranscribeOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { ref reason } if reason.contains("item 1")),
        "{e:?}"
    );
    let e = p
        .transcribe_batch(&[&good, &[]], 16_000, &TranscribeOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { ref reason } if reason.contains("item 1")),
        "{e:?}"
    );
    let e = p
        .transcribe_batch(&[&good[..399]], 16_000, &TranscribeOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, Error::InputTooShort { samples: 399, .. }),
        "{e:?}"
    );
    let e = p
        .transcribe_batch(&[&good], 16_000, &TranscribeOptions::default().max_batch(0))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(p
        .transcribe_batch(&[], 16_000, &TranscribeOptions::default())
        .unwrap()
        .is_empty());
    let base = load(&model_dir("wav2vec2-base"));
    assert!(matches!(
        base.transcribe_batch(&[&good], 16_000, &TranscribeOptions::default()),
        Err(Error::NoCtcHead { .. })
    ));
}

#[test]
fn words_jsonl_line_format() {
    let p = load(&model_dir(W960));
    let w = clip(CLIPS[1]);
    let t = p
        .transcribe_batch(&[&w], 16_000, &TranscribeOptions::default())
        .unwrap()
        .remove(0);
    let line = t.words_json_line("utt-1").unwrap();
    assert!(
        line.starts_with("{\"id\":\"utt-1\",\"words\":[{\"word\":"),
        "{line}"
    );
    assert!(!line.contains('\n'));
    let v: Value = serde_json::from_str(&line).unwrap();
    let words = v["words"].as_array().unwrap();
    assert_eq!(words.len(), t.decoding.word_offsets.len());
    for (j, w) in words.iter().zip(&t.decoding.word_offsets) {
        assert_eq!(j["word"].as_str().unwrap(), w.word);
        assert_eq!(
            j["start"].as_f64().unwrap(),
            frames_to_seconds(w.start_offset, 320, 16_000)
        );
        assert_eq!(j.as_object().unwrap().len(), 3);
    }
}
