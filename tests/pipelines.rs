//! Integration tests of the speech pipelines (`speech_ood`, `speech_explain`) on the bundled
//! data with fast settings: the example code itself is compiled in through `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../examples/speech_common/mod.rs"]
mod common;
#[cfg(feature = "kmex")]
#[path = "../examples/speech_explain/pipeline.rs"]
mod explain_pipeline;
#[cfg(feature = "ood")]
#[path = "../examples/speech_ood/pipeline.rs"]
mod ood_pipeline;

#[cfg(feature = "ood")]
mod speech_ood {
    use super::common;
    use super::ood_pipeline as pipeline;

    #[test]
    fn ood_pipeline_separates_espeak_noise_and_other_languages_from_flite() {
        let out = std::env::temp_dir().join(format!("voxprobe-speech-ood-{}", std::process::id()));
        let cfg = pipeline::Config {
            data: concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data").into(),
            out: out.clone(),
            train_sentences: 10,
            val_sentences: 6,
            test_sentences: 4,
            components: 2,
            ..Default::default()
        };
        let s = pipeline::run(&cfg).unwrap();
        assert_eq!((s.n_train, s.n_val, s.n_test_id), (40, 24, 16));
        // 3 espeak accents x 20 sentences + 18 other-language + 8 noise utterances.
        assert_eq!(s.n_ood, 60 + 18 + 8);
        assert_eq!(s.dim, 26);
        for (name, a) in &s.auroc {
            assert!(*a > 0.9, "{name}: AUROC {a}");
        }
        // Held-out flite utterances are exchangeable with the calibration set: few flags.
        let (_, id_flagged, id_n) = &s.flagged_by_group[0];
        assert_eq!(*id_n, 16);
        assert!(*id_flagged <= 3, "{id_flagged} of 16 ID utterances flagged");
        let ood_flagged: usize = s.flagged_by_group[1..].iter().map(|g| g.1).sum();
        assert!(ood_flagged >= 80, "{ood_flagged} of 86 OOD flagged");
        for f in &s.files {
            assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
        }
        let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 16 + 86);
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn cuda_request_without_cuda_fails_with_a_clear_message() {
        if candle_core::utils::cuda_is_available() {
            return; // built with CUDA: the request is legitimate
        }
        let cfg = pipeline::Config {
            device: "cuda".into(),
            ..Default::default()
        };
        let err = pipeline::run(&cfg).unwrap_err().to_string();
        assert!(err.contains("without CUDA support"), "{err}");
        let err = common::device("tpu").unwrap_err().to_string();
        assert!(err.contains("expected cpu or cuda"), "{err}");
    }
}

#[cfg(feature = "kmex")]
mod speech_explain {
    use super::common;
    use super::explain_pipeline as pipeline;

    #[test]
    fn explain_pipeline_beats_chance_and_evidence_maps_average_to_the_margin() {
        let out =
            std::env::temp_dir().join(format!("voxprobe-speech-explain-{}", std::process::id()));
        let cfg = pipeline::Config {
            data: concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data").into(),
            out: out.clone(),
            train_sentences: 8,
            test_sentences: 4,
            prototypes: 2,
            probe_steps: 150,
            plot_utterances: 2,
            ..Default::default()
        };
        let s = pipeline::run(&cfg).unwrap();
        assert_eq!(s.groups.len(), 7);
        assert_eq!((s.n_train, s.n_test), (56, 28));
        // Seven voices, chance 1/7: both heads must be far above it on held-out sentences.
        assert!(s.kmex_utterance_acc > 0.5, "{}", s.kmex_utterance_acc);
        assert!(s.linear_utterance_acc > 0.5, "{}", s.linear_utterance_acc);
        assert!(s.kmex_frame_acc > 2.0 * s.chance, "{}", s.kmex_frame_acc);
        assert!(
            s.linear_frame_acc > 2.0 * s.chance,
            "{}",
            s.linear_frame_acc
        );
        assert!(
            s.max_evidence_mean_error < 1e-9,
            "{}",
            s.max_evidence_mean_error
        );
        assert!(s.positive_evidence_share > 0.5);
        assert!(s
            .files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "svg")));
        let _ = std::fs::remove_dir_all(&out);
        let _ = common::device("cpu").unwrap();
    }
}
