//! The `voxprobe` binary end to end on bundled audio and the tiny checkpoints in `models/`:
//! every subcommand, sharding (merged shards equal the unsharded run byte for byte), resume,
//! and the errors a bad manifest gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_voxprobe");
const AUDIO: &str = "crates/voxprobe-audio/tests/data";
const LIBRIVOX: [&str; 5] = ["0870", "0880", "0890", "0920", "0930"];
const ESPEAK: [&str; 3] = [
    "u001_espeak-en-gb-scotland",
    "u001_espeak-en-us",
    "u002_espeak-en-029",
];
const ENCODER: &str = "models/tiny-wav2vec2-base";
const CTC: &str = "models/tiny-wav2vec2-ctc-base";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn librivox_id(n: &str) -> String {
    format!("sense_and_sensibility_01_austen_64kb-{n}")
}

/// `wav.scp` over the five LibriVox clips (tab-separated) and the three espeak clips (space).
fn write_scp(dir: &Path) -> PathBuf {
    let mut s = String::new();
    for n in LIBRIVOX {
        let id = librivox_id(n);
        s.push_str(&format!(
            "{id}\t{}\n",
            root().join(AUDIO).join(format!("{id}.wav")).display()
        ));
    }
    for id in ESPEAK {
        s.push_str(&format!(
            "{id} {}\n",
            root().join(AUDIO).join(format!("{id}.flac")).display()
        ));
    }
    let p = dir.join("wav.scp");
    std::fs::write(&p, s).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Runs and expects success; returns the JSON summary (last stdout line).
fn ok(args: &[&str]) -> Value {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "voxprobe {args:?} failed:\n{stderr}");
    let stdout = String::from_utf8(o.stdout).unwrap();
    let last = stdout.lines().last().expect("no summary line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("summary {last:?}: {e}"))
}

/// Runs and expects failure with exit code `code`; returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "voxprobe {args:?}: {stderr}");
    stderr
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    let p = p.as_ref();
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The per-utterance records of an output (`<stem>.jsonl` next to `<stem>.json`).
fn records(dir: &Path, stem: &str) -> Vec<Value> {
    String::from_utf8(read(dir.join(format!("{stem}.jsonl"))))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_same_files(a: &Path, b: &Path, names: &[&str]) {
    for n in names {
        assert!(
            read(a.join(n)) == read(b.join(n)),
            "{n} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

mod decode {
    use super::*;

    #[test]
    fn decodes_to_16k_mono_wav_and_shards_merge_byte_for_byte() {
        let d = scratch("decode");
        let scp = write_scp(&d);
        let full = d.join("full");
        let j = ok(&["decode", "--scp", s(&scp), "--out", s(&full)]);
        assert_eq!(j["processed"], 8);
        assert_eq!(j["complete"], true);
        let table = String::from_utf8(read(full.join("decoded.scp"))).unwrap();
        assert_eq!(table.lines().count(), 8);
        // Every output is 16 kHz mono and as long as the source at 16 kHz.
        let m = records(&full, "decoded");
        for u in &m {
            let p = u["path"].as_str().unwrap();
            let w = voxprobe::audio::load(root().join(p), &Default::default()).unwrap();
            assert_eq!(w.sample_rate, 16_000);
            assert_eq!(w.info.channels, 1, "{p}");
            assert!((w.duration_secs() - u["duration"].as_f64().unwrap()).abs() < 1e-9);
        }
        assert!(!full.join(".parts/decoded").exists(), "parts left behind");

        let sharded = d.join("sharded");
        for i in 0..3 {
            ok(&[
                "decode",
                "--scp",
                s(&scp),
                "--out",
                s(&sharded),
                "--shard",
                &format!("{i}/3"),
            ]);
        }
        let j = ok(&["merge", s(&sharded)]);
        assert_eq!(j["merged"][0]["shards"], 3);
        // Paths in decoded.scp name the output directory, so compare the rest byte for byte
        // and the tables after swapping the directory name.
        let a = String::from_utf8(read(full.join("decoded.scp"))).unwrap();
        let b = String::from_utf8(read(sharded.join("decoded.scp"))).unwrap();
        assert_eq!(a.replace(s(&full), "OUT"), b.replace(s(&sharded), "OUT"));
        assert_same_files(&full, &sharded, &["decoded.json"]);
        let a = String::from_utf8(read(full.join("decoded.jsonl"))).unwrap();
        let b = String::from_utf8(read(sharded.join("decoded.jsonl"))).unwrap();
        assert_eq!(a.replace(s(&full), "OUT"), b.replace(s(&sharded), "OUT"));
        for u in &m {
            let id = u["id"].as_str().unwrap();
            let f = format!("wav/{id}.wav");
            assert_same_files(&full, &sharded, &[&f]);
        }
    }

    #[test]
    fn writes_raw_f32() {
        let d = scratch("decode-f32");
        let id = librivox_id("0880");
        let wav = root().join(AUDIO).join(format!("{id}.wav"));
        ok(&["decode", "--format", "f32", "--out", s(&d), s(&wav)]);
        let bytes = read(d.join(format!("wav/{id}.f32")));
        let src = voxprobe::audio::load(&wav, &Default::default()).unwrap();
        assert_eq!(bytes.len(), src.samples.len() * 4);
        let first = f32::from_le_bytes(bytes[..4].try_into().unwrap());
        assert_eq!(first, src.samples[0]);
    }
}

mod embed {
    use super::*;

    const FILES: [&str; 3] = [
        "embeddings.safetensors",
        "embeddings.json",
        "embeddings.jsonl",
    ];

    #[test]
    fn two_shards_merged_equal_the_unsharded_run_byte_for_byte() {
        let d = scratch("embed-shards");
        let scp = write_scp(&d);
        let full = d.join("full");
        let j = ok(&[
            "embed",
            "--model",
            ENCODER,
            "--layer",
            "1",
            "--scp",
            s(&scp),
            "--out",
            s(&full),
        ]);
        assert_eq!(j["processed"], 8);
        let m: Value = serde_json::from_slice(&read(full.join("embeddings.json"))).unwrap();
        assert_eq!(m["dim"], 32);
        let utts = records(&full, "embeddings");
        assert_eq!(utts.len(), 8);
        // 7.1 s at 16 kHz through wav2vec2's 320x downsampling: 354 frames.
        assert_eq!(utts[0]["frames"], 354);
        assert_eq!(utts[1]["offset"], 354);

        let sharded = d.join("sharded");
        for i in 0..2 {
            let j = ok(&[
                "embed",
                "--model",
                ENCODER,
                "--layer",
                "1",
                "--scp",
                s(&scp),
                "--out",
                s(&sharded),
                "--shard",
                &format!("{i}/2"),
            ]);
            assert_eq!(j["utterances"], 4);
        }
        assert!(sharded
            .join("embeddings.shard-1-of-2.safetensors")
            .is_file());
        ok(&["merge", s(&sharded)]);
        assert_same_files(&full, &sharded, &FILES);
    }

    #[test]
    fn resume_skips_finished_utterances_and_shards() {
        let d = scratch("embed-resume");
        let scp = write_scp(&d);
        let full = d.join("full");
        let args = |out: &Path| {
            vec![
                "embed".to_string(),
                "--model".into(),
                ENCODER.into(),
                "--pooling".into(),
                "mean".into(),
                "--scp".into(),
                s(&scp).into(),
                "--out".into(),
                s(out).into(),
            ]
        };
        let fa = args(&full);
        ok(&strs(&fa));

        let resumed = d.join("resumed");
        let mut first = args(&resumed);
        first.extend(["--max-new".into(), "3".into()]);
        let j = ok(&strs(&first));
        assert_eq!(
            (j["processed"].as_u64(), j["complete"].as_bool()),
            (Some(3), Some(false))
        );
        assert!(
            !resumed.join("embeddings.json").exists(),
            "unfinished shard wrote its manifest"
        );
        let ra = args(&resumed);
        let j = ok(&strs(&ra));
        assert_eq!(
            (j["processed"].as_u64(), j["resumed"].as_u64()),
            (Some(5), Some(3))
        );
        assert_eq!(j["complete"], true);
        assert_same_files(&full, &resumed, &FILES);
        // A finished shard is not redone.
        let j = ok(&strs(&ra));
        assert_eq!(
            (j["processed"].as_u64(), j["resumed"].as_u64()),
            (Some(0), Some(8))
        );
        // Mean pooling: one row per utterance.
        assert!(records(&full, "embeddings")
            .iter()
            .all(|u| u["frames"] == 1));

        // Resuming with other options is refused instead of mixing results.
        let other = d.join("other");
        let mut o1 = args(&other);
        o1.extend(["--max-new".into(), "1".into()]);
        ok(&strs(&o1));
        let mut o2 = args(&other);
        o2[4] = "none".into();
        let err = fails(&strs(&o2), 1);
        assert!(err.contains("other options"), "{err}");
    }

    #[test]
    fn bad_layer_and_missing_audio_are_clear_errors() {
        let d = scratch("embed-errors");
        let wav = root()
            .join(AUDIO)
            .join(format!("{}.wav", librivox_id("0880")));
        let err = fails(
            &[
                "embed",
                "--model",
                ENCODER,
                "--layer",
                "99",
                "--out",
                s(&d),
                s(&wav),
            ],
            1,
        );
        assert!(err.contains("--layer 99"), "{err}");
        let err = fails(
            &[
                "embed",
                "--model",
                ENCODER,
                "--out",
                s(&d.join("b")),
                "no/such/file.wav",
            ],
            1,
        );
        assert!(err.contains("no/such/file.wav"), "{err}");
    }
}

mod transcribe_and_audit {
    use super::*;

    #[test]
    fn tiny_ctc_transcripts_feed_the_audit_and_shard_merge_is_exact() {
        let d = scratch("transcribe");
        let scp = write_scp(&d);
        let full = d.join("full");
        let o = run(&[
            "transcribe",
            "--model",
            CTC,
            "--scp",
            s(&scp),
            "--out",
            s(&full),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("MEANINGLESS"));
        let last = String::from_utf8(o.stdout).unwrap();
        let j: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
        assert_eq!(j["test_model"], true);
        let tsv = String::from_utf8(read(full.join("transcripts.tsv"))).unwrap();
        assert_eq!(tsv.lines().count(), 8);
        assert!(tsv.lines().all(|l| l.split('\t').count() == 2), "{tsv}");

        let sharded = d.join("sharded");
        for i in 0..2 {
            ok(&[
                "transcribe",
                "--model",
                CTC,
                "--scp",
                s(&scp),
                "--out",
                s(&sharded),
                "--shard",
                &format!("{i}/2"),
            ]);
        }
        ok(&["merge", s(&sharded)]);
        assert_same_files(
            &full,
            &sharded,
            &["transcripts.tsv", "transcripts.json", "transcripts.jsonl"],
        );

        // Audit against the LibriVox references (the espeak clips have none: --allow-missing
        // drops hypotheses without a reference).
        let audit = d.join("audit");
        let refs = root().join("examples/data/librivox/refs.tsv");
        let j = ok(&[
            "audit",
            "--refs",
            s(&refs),
            "--hyps",
            s(&full.join("transcripts.tsv")),
            "--out",
            s(&audit),
            "--allow-missing",
            "--normalize",
            "standard",
            "--bootstrap",
            "50",
        ]);
        assert_eq!(j["utterances"], 5);
        assert!(
            j["wer"].as_f64().unwrap() > 0.5,
            "a random model cannot be accurate: {j}"
        );
        assert!(audit.join("report.json").is_file() && audit.join("report.html").is_file());
    }

    #[test]
    fn audit_of_bundled_pocketsphinx_transcripts() {
        let d = scratch("audit");
        let lv = root().join("examples/data/librivox");
        let j = ok(&[
            "audit",
            "--refs",
            s(&lv.join("refs.tsv")),
            "--hyps",
            s(&lv.join("hyps.tsv")),
            "--out",
            s(&d),
            "--bootstrap",
            "50",
        ]);
        let report: Value = serde_json::from_slice(&read(d.join("report.json"))).unwrap();
        assert_eq!(j["wer"], report["corpus"]["measures"]["wer"]);
        assert_eq!(j["utterances"], 5);
    }

    /// Issue 20: `--attributes` + `--population` add the representativity section. The joint
    /// accent × gender table of the bundled population has two strata the sample lacks
    /// (15 % of the population); they must be listed, not dropped.
    #[test]
    fn audit_representativity_section() {
        let d = scratch("audit-representativity");
        let aa = root().join("examples/data/accent-audit");
        let rep = root().join("examples/data/representativity");
        let j = ok(&[
            "audit",
            "--refs",
            s(&aa.join("refs.tsv")),
            "--hyps",
            s(&aa.join("hyps.tsv")),
            "--attributes",
            s(&rep.join("attributes.tsv")),
            "--population",
            s(&rep.join("population.tsv")),
            "--out",
            s(&d),
            "--bootstrap",
            "50",
        ]);
        let report: Value = serde_json::from_slice(&read(d.join("report.json"))).unwrap();
        let joint = &report["representativity"]["joint"]["post_stratified"];
        assert!((joint["covered_weight"].as_f64().unwrap() - 0.85).abs() < 1e-12);
        assert_eq!(
            joint["missing_strata"],
            serde_json::json!(["caribbean × f", "scottish × f"])
        );
        let weighted = j["population_weighted_wer"].as_array().unwrap();
        assert!(weighted.iter().any(|w| w["wer"] == joint["wer"]));
        let html = String::from_utf8(read(d.join("report.html"))).unwrap();
        assert!(html.contains("Representativity"));
        // without --population the flag is refused by the argument parser (exit code 2)
        let err = fails(
            &[
                "audit",
                "--refs",
                s(&aa.join("refs.tsv")),
                "--hyps",
                s(&aa.join("hyps.tsv")),
                "--attributes",
                s(&rep.join("attributes.tsv")),
                "--out",
                s(&d),
            ],
            2,
        );
        assert!(err.contains("--population"), "{err}");
    }

    #[test]
    fn encoder_without_ctc_head_is_refused() {
        let d = scratch("transcribe-no-ctc");
        let wav = root()
            .join(AUDIO)
            .join(format!("{}.wav", librivox_id("0880")));
        let err = fails(
            &["transcribe", "--model", ENCODER, "--out", s(&d), s(&wav)],
            1,
        );
        assert!(err.contains("CTC"), "{err}");
    }
}

mod explain_and_ood {
    use super::*;

    fn frames(d: &Path) -> PathBuf {
        let scp = write_scp(d);
        let out = d.join("emb");
        ok(&[
            "embed",
            "--model",
            ENCODER,
            "--scp",
            s(&scp),
            "--out",
            s(&out),
        ]);
        out.join("embeddings.json")
    }

    #[test]
    fn kmex_prototypes_and_per_frame_evidence() {
        let d = scratch("explain");
        let emb = frames(&d);
        let mut labels = String::new();
        for n in LIBRIVOX {
            labels.push_str(&format!("{}\tlibrivox\n", librivox_id(n)));
        }
        for id in ESPEAK {
            labels.push_str(&format!("{id}\tespeak\n"));
        }
        std::fs::write(d.join("labels.tsv"), labels).unwrap();
        let out = d.join("explain");
        let j = ok(&[
            "explain",
            "--embeddings",
            s(&emb),
            "--labels",
            s(&d.join("labels.tsv")),
            "--prototypes",
            "1",
            "--out",
            s(&out),
        ]);
        assert_eq!(j["classes"], 2);
        assert_eq!(j["train_utterances"], 8);
        let m = records(emb.parent().unwrap(), "embeddings");
        let ev = String::from_utf8(read(out.join("evidence.jsonl"))).unwrap();
        assert_eq!(ev.lines().count(), 8);
        for (line, u) in ev.lines().zip(&m) {
            let e: Value = serde_json::from_str(line).unwrap();
            let map: Vec<f64> = serde_json::from_value(e["evidence"].clone()).unwrap();
            // One value per frame, and their mean is the decision margin (KMEx identity).
            assert_eq!(map.len() as u64, u["frames"].as_u64().unwrap());
            let mean = map.iter().sum::<f64>() / map.len() as f64;
            let margin = e["margin"].as_f64().unwrap();
            assert!(
                (mean - margin).abs() <= 1e-6 * (1.0 + margin.abs()),
                "{mean} vs {margin}"
            );
        }
        let report: Value = serde_json::from_slice(&read(out.join("explain.json"))).unwrap();
        assert_eq!(report["prototypes"].as_array().unwrap().len(), 2);

        std::fs::write(d.join("other.tsv"), "x\tlibrivox\n").unwrap();
        let err = fails(
            &[
                "explain",
                "--embeddings",
                s(&emb),
                "--labels",
                s(&d.join("other.tsv")),
                "--out",
                s(&out),
            ],
            1,
        );
        assert!(err.contains("no utterance"), "{err}");
    }

    #[test]
    fn gmm_p_values_and_bh_flags() {
        let d = scratch("ood");
        let emb = frames(&d);
        let out = d.join("ood");
        // In-distribution and test sets are the same embeddings here: a pipeline check.
        let j = ok(&[
            "ood",
            "--train",
            s(&emb),
            "--test",
            s(&emb),
            "--out",
            s(&out),
        ]);
        assert_eq!(j["fit_utterances"], 4);
        assert_eq!(j["val_utterances"], 4);
        assert_eq!(j["test_utterances"], 8);
        let lines = String::from_utf8(read(out.join("ood.jsonl"))).unwrap();
        assert_eq!(lines.lines().count(), 8);
        for l in lines.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let p = v["p_fisher"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
        let err = fails(
            &[
                "ood",
                "--train",
                s(&emb),
                "--test",
                s(&d.join("wav.scp")),
                "--out",
                s(&out),
            ],
            1,
        );
        assert!(err.contains("not a voxprobe manifest"), "{err}");
    }
}

mod bad_input {
    use super::*;

    #[test]
    fn pipes_duplicates_and_bad_lines_name_the_line() {
        let d = scratch("bad-manifest");
        let cases = [
            ("a sox in.flac -t wav - |\n", "pipe"),
            ("a x.wav\na y.wav\n", "duplicate utterance id a"),
            ("a x.wav\nlonely\n", ":2: expected `<id> <path>`"),
            ("a/b x.wav\n", "path separators"),
            ("\n\n", "no utterances"),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let scp = d.join(format!("{i}.scp"));
            std::fs::write(&scp, text).unwrap();
            let err = fails(&["decode", "--scp", s(&scp), "--out", s(&d.join("o"))], 1);
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = fails(&["decode", "--scp", "no/such.scp", "--out", s(&d)], 1);
        assert!(err.contains("no/such.scp"), "{err}");
    }

    #[test]
    fn shard_out_of_range_is_a_usage_error() {
        let err = fails(&["decode", "--shard", "2/2", "--out", "x", "a.wav"], 2);
        assert!(err.contains("out of range"), "{err}");
        let err = fails(&["decode", "--shard", "0/0", "--out", "x", "a.wav"], 2);
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn merge_refuses_incomplete_shard_sets() {
        let d = scratch("merge-missing");
        let wav = root()
            .join(AUDIO)
            .join(format!("{}.wav", librivox_id("0880")));
        let scp = d.join("wav.scp");
        std::fs::write(&scp, format!("a {0}\nb {0}\nc {0}\n", wav.display())).unwrap();
        ok(&["decode", "--scp", s(&scp), "--out", s(&d), "--shard", "0/3"]);
        ok(&["decode", "--scp", s(&scp), "--out", s(&d), "--shard", "2/3"]);
        let err = fails(&["merge", s(&d)], 1);
        assert!(err.contains("shards [1] of 3 are not finished"), "{err}");
        let err = fails(&["merge", s(&d.join("wav"))], 1);
        assert!(err.contains("no shard manifests"), "{err}");
    }

    #[test]
    fn cuda_without_cuda_build_fails_clearly() {
        if voxprobe::ssl::candle_core::utils::cuda_is_available() {
            return; // built with CUDA: the message below does not apply
        }
        let d = scratch("cuda");
        let wav = root()
            .join(AUDIO)
            .join(format!("{}.wav", librivox_id("0880")));
        let err = fails(
            &[
                "embed",
                "--model",
                ENCODER,
                "--device",
                "cuda",
                "--out",
                s(&d),
                s(&wav),
            ],
            1,
        );
        assert!(err.contains("built without CUDA"), "{err}");
    }
}

mod features {
    use super::*;

    #[test]
    fn fbank_equals_the_library_and_mfcc_shards_merge_byte_for_byte() {
        let d = scratch("features");
        let scp = write_scp(&d);
        let fb = d.join("fbank");
        let j = ok(&["features", "--scp", s(&scp), "--out", s(&fb)]);
        assert_eq!(j["processed"], 8);
        let m: Value = serde_json::from_slice(&read(fb.join("features.json"))).unwrap();
        assert_eq!(m["dim"], 23);
        // The first utterance's rows are what voxprobe-features computes on the same samples
        // (scaled to the 16-bit range, as Kaldi expects).
        let bytes = read(fb.join("features.safetensors"));
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("embeddings").unwrap();
        let r = records(&fb, "features");
        let u0 = &r[0];
        let frames = u0["frames"].as_u64().unwrap() as usize;
        let got: Vec<f32> = t.data()[..frames * 23 * 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let wav =
            voxprobe::audio::load(u0["source"].as_str().unwrap(), &Default::default()).unwrap();
        let x: Vec<f32> = wav.samples.iter().map(|v| v * 32_768.0).collect();
        let want = voxprobe::features::Fbank::new(voxprobe::features::FbankOptions::new())
            .unwrap()
            .compute(&x, 16_000)
            .unwrap();
        assert_eq!(want.nrows(), frames);
        assert!(
            want.iter().zip(&got).all(|(a, b)| a == b),
            "CLI fbank differs from the library"
        );

        let full = d.join("mfcc");
        ok(&[
            "features",
            "--kind",
            "mfcc",
            "--scp",
            s(&scp),
            "--out",
            s(&full),
        ]);
        let sharded = d.join("mfcc-sharded");
        for i in 0..2 {
            ok(&[
                "features",
                "--kind",
                "mfcc",
                "--scp",
                s(&scp),
                "--out",
                s(&sharded),
                "--shard",
                &format!("{i}/2"),
            ]);
        }
        ok(&["merge", s(&sharded)]);
        assert_same_files(
            &full,
            &sharded,
            &["features.safetensors", "features.json", "features.jsonl"],
        );
    }
}

mod resume_guard {
    use super::*;

    #[test]
    fn parts_of_an_edited_manifest_are_not_reused() {
        let d = scratch("resume-edited");
        let scp = write_scp(&d);
        let out = d.join("out");
        let j = ok(&[
            "decode",
            "--scp",
            s(&scp),
            "--out",
            s(&out),
            "--max-new",
            "2",
        ]);
        assert_eq!(j["complete"], false);
        // Swap the first two lines: the finished parts now sit at other manifest positions.
        let text = std::fs::read_to_string(&scp).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(0, 1);
        std::fs::write(&scp, lines.join("\n")).unwrap();
        let err = fails(&["decode", "--scp", s(&scp), "--out", s(&out)], 1);
        assert!(err.contains("the input changed"), "{err}");
    }
}
