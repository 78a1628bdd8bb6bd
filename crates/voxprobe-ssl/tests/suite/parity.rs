//! Every family and layout against transformers: all intermediate tensors, every hidden
//! state, last_hidden_state and CTC logits, for single inputs, an odd length and padded
//! batches with and without masks.

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use voxprobe_ssl::{
    frames_for, wavlm_bucket, Batch, BatchOptions, CtcVocab, DecodeOptions, EngineKind,
    ForwardOptions, LayerSelection, LoadOptions, Normalization, PreprocessorConfig, Pretrained,
};

pub const MODELS: [&str; 12] = [
    "wav2vec2-base",
    "wav2vec2-stable",
    "wav2vec2-ctc-base",
    "wav2vec2-ctc-stable",
    "hubert-base",
    "hubert-ctc-stable",
    "hubert-no-proj-ln",
    "hubert-batchnorm",
    "wavlm-base",
    "wavlm-stable",
    "data2vec-audio-base",
    "data2vec-audio-ctc",
];

const CASES: [&str; 4] = ["single", "single_b", "batch_masked", "batch_unmasked"];

/// Loads the model with each engine (the CPU engine and the candle graph) and checks both
/// against transformers.
fn check_model(name: &str) -> f32 {
    check_engine(name, EngineKind::Cpu).max(check_engine(name, EngineKind::Candle))
}

fn check_engine(name: &str, engine: EngineKind) -> f32 {
    let p = Pretrained::from_dir(model_dir(name), &LoadOptions::default().engine(engine)).unwrap();
    assert_eq!(p.model.engine(), engine, "{name}: engine");
    let fe = feature_extractor();
    let r = reference(name);
    let l = p.model.num_layers();
    let mut worst = 0f32;
    for case in CASES {
        let (x, mask) = match case {
            "single" => (fe["single.input_values"].clone(), None),
            "single_b" => (fe["single_b.input_values"].clone(), None),
            "batch_masked" => (
                fe["batch.input_values"].clone(),
                Some(fe["batch.attention_mask"].clone()),
            ),
            _ => (fe["batch.input_values"].clone(), None),
        };
        let opts = ForwardOptions::default()
            .hidden_states(LayerSelection::All)
            .intermediates(true);
        let out = p.model.forward(&x, mask.as_ref(), &opts).unwrap();
        let key = |t: &str| format!("{case}.{t}");
        let mut cmp = |what: String, a: &Tensor| {
            let d = assert_close(&format!("{name} {what}"), a, &r[&what]);
            worst = worst.max(d);
        };
        cmp(key("conv_features"), out.conv_features.as_ref().unwrap());
        cmp(
            key("projected_features"),
            out.projected_features.as_ref().unwrap(),
        );
        assert_eq!(out.hidden_states.len(), l + 1);
        for (i, h) in &out.hidden_states {
            cmp(key(&format!("hidden_states.{i}")), h);
        }
        cmp(key("last_hidden_state"), &out.last_hidden_state);
        match out.logits.as_ref() {
            Some(lg) => cmp(key("logits"), lg),
            None => assert!(!r.contains_key(&key("logits")), "{name}: logits missing"),
        }
        let fl: Vec<i64> = r[&key("feature_lengths")].to_vec1().unwrap();
        let fl: Vec<usize> = fl.into_iter().map(|v| v as usize).collect();
        assert_eq!(out.frame_lengths, fl, "{name} {case} feature_lengths");
        if let Some(m) = &out.frame_mask {
            let e = r[&key("feature_attention_mask")]
                .to_dtype(DType::U8)
                .unwrap();
            assert_eq!(m.to_vec2::<u8>().unwrap(), e.to_vec2::<u8>().unwrap());
        }
    }
    eprintln!("{name} ({engine:?} engine): max |diff| {worst:.2e}");
    worst
}

#[test]
fn every_reference_file_has_a_parity_test() {
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if let Some(model) = name.strip_suffix(".reference.safetensors") {
            assert!(MODELS.contains(&model), "{model} has no parity test");
        }
    }
    for m in MODELS {
        assert!(model_dir(m).join("config.json").is_file(), "{m}");
    }
}

#[test]
fn wav2vec2_base() {
    check_model("wav2vec2-base");
}
#[test]
fn wav2vec2_stable_odd_pos_kernel() {
    check_model("wav2vec2-stable");
}
#[test]
fn wav2vec2_ctc_base() {
    check_model("wav2vec2-ctc-base");
}
#[test]
fn wav2vec2_ctc_stable() {
    check_model("wav2vec2-ctc-stable");
}
#[test]
fn hubert_base() {
    check_model("hubert-base");
}
#[test]
fn hubert_ctc_stable() {
    check_model("hubert-ctc-stable");
}
#[test]
fn hubert_without_projection_layer_norm() {
    check_model("hubert-no-proj-ln");
}
#[test]
fn hubert_batch_norm_positional_conv() {
    check_model("hubert-batchnorm");
}
#[test]
fn wavlm_base() {
    check_model("wavlm-base");
}
#[test]
fn wavlm_stable() {
    check_model("wavlm-stable");
}
#[test]
fn data2vec_audio_base() {
    check_model("data2vec-audio-base");
}
#[test]
fn data2vec_audio_ctc() {
    check_model("data2vec-audio-ctc");
}

#[test]
fn wavlm_buckets_match_transformers() {
    for (name, nb, md) in [("wavlm-base", 32, 40), ("wavlm-stable", 320, 800)] {
        let r = reference(name);
        let rel: Vec<i64> = r["buckets.relative_position"].to_vec1().unwrap();
        let bucket: Vec<i64> = r["buckets.bucket"].to_vec1().unwrap();
        for (&p, &b) in rel.iter().zip(&bucket) {
            assert_eq!(wavlm_bucket(p, nb, md) as i64, b, "{name}: r = {p}");
        }
    }
}

#[test]
fn normalisation_matches_feature_extractor() {
    let fe = feature_extractor();
    let a: Vec<f32> = fe["signal.a"].to_vec1().unwrap();
    let b: Vec<f32> = fe["signal.b"].to_vec1().unwrap();
    let pre = PreprocessorConfig::default();
    let dev = Device::Cpu;
    let single = Batch::new(&[&b], &pre, &BatchOptions::default(), &dev).unwrap();
    assert_close(
        "single_b",
        &single.input_values,
        &fe["single_b.input_values"],
    );
    let batch = Batch::new(&[&a, &b], &pre, &BatchOptions::default(), &dev).unwrap();
    assert_close("batch", &batch.input_values, &fe["batch.input_values"]);
    assert_eq!(
        batch.attention_mask.to_vec2::<u8>().unwrap(),
        fe["batch.attention_mask"].to_vec2::<u8>().unwrap()
    );
    let quirk = Batch::new(
        &[&a, &b],
        &pre,
        &BatchOptions::default().stats_include_padding(true),
        &dev,
    )
    .unwrap();
    assert_close(
        "stats_include_padding",
        &quirk.input_values,
        &fe["batch_stats_include_padding.input_values"],
    );
    let off = Batch::new(
        &[&a],
        &pre,
        &BatchOptions::default().normalize(Normalization::Off),
        &dev,
    )
    .unwrap();
    assert_close(
        "off",
        &off.input_values,
        &fe["signal.a"].unsqueeze(0).unwrap(),
    );
}

#[test]
fn ctc_greedy_decoding_matches_tokenizer() {
    for name in [
        "wav2vec2-ctc-base",
        "wav2vec2-ctc-stable",
        "hubert-ctc-stable",
        "data2vec-audio-ctc",
    ] {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data_dir().join(format!("{name}.reference.json"))).unwrap(),
        )
        .unwrap();
        let vocab = CtcVocab::from_dir(model_dir(name)).unwrap();
        let r = reference(name);
        for case in CASES {
            let d = &json["ctc_decodes"][case];
            let logits = &r[&format!("{case}.logits")];
            for (skip, field) in [(false, "text"), (true, "text_skip_special")] {
                let got = vocab
                    .decode_logits(
                        logits,
                        None,
                        &DecodeOptions::default().skip_special_tokens(skip),
                    )
                    .unwrap();
                let want: Vec<String> = d[field]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(got, want, "{name} {case} {field}");
            }
        }
    }
}

#[test]
fn pretrained_embed_and_transcribe_follow_the_preprocessor() {
    // The stable model's extractor returns masks: padded batches equal single runs.
    let p =
        Pretrained::from_dir(model_dir("wav2vec2-ctc-stable"), &LoadOptions::default()).unwrap();
    let fe = feature_extractor();
    let r = reference("wav2vec2-ctc-stable");
    let a: Vec<f32> = fe["signal.a"].to_vec1().unwrap();
    let b: Vec<f32> = fe["signal.b"].to_vec1().unwrap();
    let out = p
        .embed(
            &[&a, &b],
            &BatchOptions::default(),
            &ForwardOptions::default(),
        )
        .unwrap();
    assert_eq!(
        out.frame_lengths,
        vec![
            frames_for(16000, &[10, 3, 3, 3, 3, 2, 2], &[5, 2, 2, 2, 2, 2, 2]),
            34
        ]
    );
    assert_close(
        "embed batch",
        &out.logits.unwrap(),
        &r["batch_masked.logits"],
    );
    let text = p.transcribe(&b).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("wav2vec2-ctc-stable.reference.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        text,
        json["ctc_decodes"]["single_b"]["text"][0].as_str().unwrap()
    );
}

/// Corpus mode: bucketed, masked batches give each utterance the features of a one-by-one run
/// on a model whose batching is exact (LayerNorm front end, mask from the preprocessor), and
/// every utterance is delivered once, trimmed to its frames.
#[test]
fn embed_corpus_matches_one_by_one() {
    use voxprobe_ssl::ThroughputOptions;
    let p = Pretrained::from_dir(model_dir("wav2vec2-stable"), &LoadOptions::default()).unwrap();
    assert!(p.model.batching_is_exact());
    let waves: Vec<Vec<f32>> = [16_000usize, 7_001, 12_345, 400, 9_999]
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            (0..n)
                .map(|i| ((i * (k + 3)) as f32 * 0.013).sin())
                .collect()
        })
        .collect();
    let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let mut got: Vec<Option<Tensor>> = vec![None; refs.len()];
    let opts = ThroughputOptions::default().max_batch(2).layer(Some(1));
    p.embed_corpus(&refs, &opts, |i, h| {
        assert!(got[i].is_none(), "utterance {i} delivered twice");
        got[i] = Some(h);
        Ok(())
    })
    .unwrap();
    for (i, w) in refs.iter().enumerate() {
        let fwd = ForwardOptions::default().hidden_states(LayerSelection::Some(vec![1]));
        let one = p.embed(&[w], &BatchOptions::default(), &fwd).unwrap();
        let want = one.hidden_states[&1].get(0).unwrap();
        let h = got[i].as_ref().unwrap();
        assert_eq!(h.dims()[0], p.model.frames_for(w.len()));
        assert_close(&format!("corpus item {i}"), h, &want);
    }
    let bad = p.embed_corpus(&refs, &ThroughputOptions::default().max_batch(0), |_, _| {
        Ok(())
    });
    assert!(matches!(bad, Err(voxprobe_ssl::Error::InvalidInput { .. })));
}
