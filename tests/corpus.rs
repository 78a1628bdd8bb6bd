//! Issue 16: the `voxprobe` CLI on a real corpus — Kaldi/Lhotse-style inputs, exact segments,
//! crash-safe resume (kill points, corrupt parts, the lock, a full disk) and bad inputs skipped
//! and listed. Runs the binary on synthetic audio, bundled clips and the tiny checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use voxprobe::audio::WavFormat;

const BIN: &str = env!("CARGO_BIN_EXE_voxprobe");
const AUDIO: &str = "crates/voxprobe-audio/tests/data";
const ENCODER: &str = "models/tiny-wav2vec2-base";
/// WER sums integer counts; the audit and jiwer divide the same integers.
const WER_TOL: f64 = 1e-12;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("corpus-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Value {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "voxprobe {args:?} failed:\n{stderr}");
    let stdout = String::from_utf8(o.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().expect("no summary")).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "voxprobe {args:?}: {stderr}");
    stderr
}

/// Every regular file in `dir` (not hidden), by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .map(|(n, p)| (n, std::fs::read(p).unwrap()))
        .collect()
}

fn unsharded(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(n, _)| !n.contains(".shard-"))
        .collect()
}

/// `n` short synthetic utterances (0.1–0.3 s tones at 16 kHz) and their wav.scp.
fn synth(dir: &Path, n: usize) -> PathBuf {
    let wav = dir.join("wav");
    std::fs::create_dir_all(&wav).unwrap();
    let mut scp = String::new();
    for i in 0..n {
        let len = 1600 + 160 * (i % 20);
        let f = 100.0 + 37.0 * i as f32;
        let x: Vec<f32> = (0..len)
            .map(|t| 0.3 * (t as f32 * f * std::f32::consts::TAU / 16_000.0).sin())
            .collect();
        let p = wav.join(format!("u{i:04}.wav"));
        voxprobe::audio::write_wav(&p, &x, 16_000, 1, WavFormat::Pcm16).unwrap();
        scp.push_str(&format!("u{i:04} {}\n", p.display()));
    }
    let p = dir.join("wav.scp");
    std::fs::write(&p, scp).unwrap();
    p
}

fn features(scp: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "features",
        "--scp",
        s(scp),
        "--out",
        s(out),
        "--part-items",
        "4",
    ]
    .map(String::from)
    .to_vec();
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

mod inputs {
    use super::*;

    /// Pairs of the audit crate's jiwer fixture that a Kaldi `text` line carries unchanged:
    /// non-empty reference, single spaces, no tabs.
    fn fixture_pairs() -> Vec<(String, String, String, [u64; 4])> {
        let text =
            std::fs::read_to_string(root().join("crates/voxprobe-audit/tests/data/pairs.jsonl"))
                .unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| {
                let (r, h) = (v["ref"].as_str()?, v["hyp"].as_str()?);
                let clean = |x: &str| {
                    x.split(' ')
                        .all(|w| !w.is_empty() && !w.chars().any(char::is_whitespace))
                };
                if !clean(r) || !(h.is_empty() || clean(h)) {
                    return None;
                }
                let j = &v["jiwer"];
                let c = ["hits", "substitutions", "deletions", "insertions"]
                    .map(|k| j[k].as_u64().unwrap());
                Some((
                    v["id"].as_str()?.to_string(),
                    r.to_string(),
                    h.to_string(),
                    c,
                ))
            })
            .collect()
    }

    #[test]
    fn kaldi_text_and_utt2spk_give_jiwer_equal_wer_and_the_right_groups() {
        let d = scratch("kaldi-audit");
        let pairs = fixture_pairs();
        assert!(pairs.len() > 200, "{} usable fixture pairs", pairs.len());
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::create_dir_all(d.join("hyp")).unwrap();
        let (mut text, mut hyp, mut u2s) = (String::new(), String::new(), String::new());
        // Per group: hits, subs, dels, ins summed (jiwer's corpus measures).
        let mut want: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        for (k, (id, r, h, c)) in pairs.iter().enumerate() {
            let spk = format!("spk{}", k % 3);
            // Kaldi `text`: id, one or more spaces, the words.
            text.push_str(&format!(
                "{id}{}{r}\n",
                if k % 2 == 0 { " " } else { "   " }
            ));
            hyp.push_str(&format!("{id} {h}\n"));
            u2s.push_str(&format!("{id} {spk}\n"));
            for (w, x) in want.entry(spk).or_default().iter_mut().zip(c) {
                *w += x;
            }
        }
        std::fs::write(d.join("data/text"), &text).unwrap();
        std::fs::write(d.join("hyp/text"), &hyp).unwrap();
        std::fs::write(d.join("data/utt2spk"), &u2s).unwrap();
        let out = d.join("audit");
        let j = ok(&[
            "audit",
            "--refs",
            s(&d.join("data/text")),
            "--hyps",
            s(&d.join("hyp/text")),
            "--groups",
            s(&d.join("data/utt2spk")),
            "--bootstrap",
            "10",
            "--out",
            s(&out),
        ]);
        assert_eq!(j["utterances"], pairs.len());
        let wer = |c: &[u64; 4]| (c[1] + c[2] + c[3]) as f64 / (c[0] + c[1] + c[2]) as f64;
        let groups = j["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 3, "{groups:?}");
        for g in groups {
            let name = g["group"].as_str().unwrap();
            let got = g["wer"].as_f64().unwrap();
            let w = wer(&want[name]);
            assert!((got - w).abs() <= WER_TOL, "{name}: {got} vs jiwer {w}");
            assert_eq!(
                g["utterances"],
                pairs.len() / 3 + usize::from(name < &*format!("spk{}", pairs.len() % 3))
            );
        }
        let mut all = [0u64; 4];
        want.values()
            .for_each(|c| all.iter_mut().zip(c).for_each(|(a, b)| *a += b));
        assert!((j["wer"].as_f64().unwrap() - wer(&all)).abs() <= WER_TOL);
        // A data directory works as --refs too.
        let j2 = ok(&[
            "audit",
            "--refs",
            s(&d.join("data")),
            "--hyps",
            s(&d.join("hyp/text")),
            "--groups",
            s(&d.join("data/utt2spk")),
            "--bootstrap",
            "10",
            "--out",
            s(&d.join("a2")),
        ]);
        assert_eq!(j2["wer"], j["wer"]);
    }

    #[test]
    fn allow_missing_never_turns_a_mismatch_into_wer_zero() {
        let d = scratch("allow-missing");
        std::fs::write(
            d.join("refs.tsv"),
            "u1\tg\tthe store on the corner\nu2\tg\tthe cat\n",
        )
        .unwrap();
        // Hypotheses keyed by other ids: nothing in common.
        std::fs::write(d.join("hyps"), "x1 the store on the corner\nx2 the cat\n").unwrap();
        let (refs, hyps) = (d.join("refs.tsv"), d.join("hyps"));
        let args = |extra: &[&'static str]| {
            let mut v = vec![
                "audit",
                "--refs",
                s(&refs),
                "--hyps",
                s(&hyps),
                "--out",
                s(&d),
            ];
            v.extend(extra);
            v.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let err = fails(&strs(&args(&[])));
        assert!(err.contains("first: u1 at "), "{err}");
        assert!(!err.contains("Some("), "{err}");
        let err = fails(&strs(&args(&["--allow-missing"])));
        assert!(err.contains("share no utterance id"), "{err}");
        // Mixed 3-column TSV and Kaldi lines are ambiguous.
        std::fs::write(d.join("mixed"), "u1\tg\tthe store\nu2 the cat\n").unwrap();
        let err = fails(&[
            "audit",
            "--refs",
            s(&d.join("mixed")),
            "--hyps",
            s(&d.join("hyps")),
            "--out",
            s(&d),
        ]);
        assert!(err.contains("ambiguous"), "{err}");
    }

    #[test]
    fn jsonl_and_csv_manifests_give_the_bytes_of_the_wav_scp() {
        let d = scratch("formats");
        let scp = synth(&d, 5);
        let base = d.join("scp");
        ok(&strs(&features(&scp, &base, &[])));
        let lines: Vec<(String, String)> = std::fs::read_to_string(&scp)
            .unwrap()
            .lines()
            .map(|l| {
                let (a, b) = l.split_once(' ').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect();
        let jsonl: String = lines
            .iter()
            .map(|(id, p)| {
                format!(
                    "{}\n",
                    serde_json::json!({"id": id, "audio": {"path": p}, "text": "x"})
                )
            })
            .collect();
        let csv: String = std::iter::once("id,path,speaker\n".to_string())
            .chain(lines.iter().map(|(id, p)| format!("{id},\"{p}\",s\n")))
            .collect();
        for (name, body) in [("m.jsonl", jsonl), ("m.csv", csv)] {
            let m = d.join(name);
            std::fs::write(&m, body).unwrap();
            let out = d.join(format!("out-{name}"));
            ok(&strs(&features(&m, &out, &[])));
            assert_eq!(
                files(&out)["features.safetensors"],
                files(&base)["features.safetensors"],
                "{name}"
            );
        }
    }

    #[test]
    fn segments_decode_the_exact_sample_ranges() {
        let d = scratch("segments");
        let data = d.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let a = root().join(AUDIO).join("speech_44k.wav");
        let b = root().join(AUDIO).join("pcm_s16_stereo.wav");
        std::fs::write(
            data.join("wav.scp"),
            format!("ra {}\nrb {}\n", a.display(), b.display()),
        )
        .unwrap();
        // Start/end chosen so that rounding matters (0.0123 s · 44100 = 542.43 → 542).
        let segs = [
            ("s1", "ra", 0.0123, 0.5),
            ("s2", "ra", 0.25, -1.0),
            ("s3", "rb", 0.1, 0.30003),
        ];
        let body: String = segs
            .iter()
            .map(|(u, r, s0, e)| format!("{u} {r} {s0} {e}\n"))
            .collect();
        std::fs::write(data.join("segments"), body).unwrap();
        let check = |rate: u32, ids: &[usize], path: &Path| {
            let out = d.join(format!("out{rate}"));
            ok(&[
                "decode",
                "--scp",
                s(&data),
                "--rate",
                &rate.to_string(),
                "--format",
                "f32",
                "--out",
                s(&out),
            ]);
            let full = voxprobe::audio::decode_file(path, &Default::default()).unwrap();
            let ch = full.info.channels;
            let mono = voxprobe::audio::downmix(&full.samples, ch, voxprobe::audio::Downmix::Mean)
                .unwrap();
            for &k in ids {
                let (u, _, s0, e) = segs[k];
                let r = f64::from(full.info.sample_rate);
                let lo = (s0 * r).round() as usize;
                let hi = if e < 0.0 {
                    mono.len()
                } else {
                    (e * r).round() as usize
                };
                let got: Vec<f32> = std::fs::read(out.join(format!("wav/{u}.f32")))
                    .unwrap()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                assert_eq!(got.len(), hi - lo, "{u}");
                assert!(
                    got == mono[lo..hi],
                    "{u}: samples differ from frames {lo}..{hi}"
                );
            }
        };
        check(44_100, &[0, 1], &a);
        check(16_000, &[2], &b);
    }
}

mod faults {
    use super::*;

    const OUTS: [&str; 3] = ["features.json", "features.jsonl", "features.safetensors"];

    fn killed(o: &Output) -> bool {
        o.status.code().is_none()
    }

    #[test]
    fn killed_at_any_point_then_rerun_gives_the_bytes_of_one_run() {
        let d = scratch("kill");
        let scp = synth(&d, 30);
        let clean = d.join("clean");
        ok(&strs(&features(&scp, &clean, &[])));
        let want = files(&clean);
        assert_eq!(want.keys().map(String::as_str).collect::<Vec<_>>(), OUTS);
        // 30 utterances in parts of 4: options.json + 8 parts, then records, data, manifest
        // (commits 10–12); write:N kills mid-file.
        for point in [
            "commit:1",
            "commit:4",
            "commit:9",
            "commit:10",
            "commit:11",
            "commit:12",
            "write:3000",
            "write:40000",
            "write:90000",
        ] {
            let out = d.join(point.replace(':', "-"));
            let o = run(&strs(&features(&scp, &out, &["--debug-crash-at", point])));
            assert!(
                killed(&o),
                "{point}: not killed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let j = ok(&strs(&features(&scp, &out, &[])));
            assert_eq!(j["complete"], true);
            assert_eq!(files(&out), want, "{point}");
            assert!(!out.join(".parts").exists(), "{point}: parts left behind");
        }
        // During merge.
        let sharded = d.join("sharded");
        for i in 0..2 {
            ok(&strs(&features(
                &scp,
                &sharded,
                &["--shard", &format!("{i}/2")],
            )));
        }
        for point in ["commit:1", "commit:2", "write:500", "write:30000"] {
            let o = run(&["merge", s(&sharded), "--debug-crash-at", point]);
            assert!(killed(&o), "merge {point}");
            ok(&["merge", s(&sharded)]);
            assert_eq!(unsharded(&sharded), want, "merge {point}");
            for n in OUTS {
                std::fs::remove_file(sharded.join(n)).unwrap();
            }
        }
    }

    #[test]
    fn sigkill_of_a_running_job_then_rerun_is_exact() {
        let d = scratch("sigkill");
        let scp = synth(&d, 120);
        let clean = d.join("clean");
        ok(&strs(&features(&scp, &clean, &[])));
        let out = d.join("out");
        let args = features(&scp, &out, &[]);
        let mut child = Command::new(BIN)
            .args(&args)
            .current_dir(root())
            .spawn()
            .unwrap();
        let parts = out.join(".parts/features");
        let t0 = std::time::Instant::now();
        while t0.elapsed().as_secs() < 60 {
            let n = std::fs::read_dir(&parts).map_or(0, |r| {
                r.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "part"))
                })
                .count()
            });
            if n >= 3 || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let j = ok(&strs(&args));
        assert_eq!(j["complete"], true);
        assert_eq!(files(&out), files(&clean));
    }

    #[test]
    fn corrupt_part_files_are_redone() {
        let d = scratch("corrupt");
        let scp = synth(&d, 20);
        let clean = d.join("clean");
        ok(&strs(&features(&scp, &clean, &[])));
        let out = d.join("out");
        let j = ok(&strs(&features(&scp, &out, &["--max-new", "12"])));
        assert_eq!(j["complete"], false);
        let dir = out.join(".parts/features");
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "part"))
            .collect();
        parts.sort();
        assert_eq!(parts.len(), 3);
        let b = std::fs::read(&parts[0]).unwrap();
        std::fs::write(&parts[0], &b[..b.len() - 100]).unwrap(); // truncated
        let mut b = std::fs::read(&parts[2]).unwrap();
        b[40] ^= 1; // one flipped bit
        std::fs::write(&parts[2], &b).unwrap();
        let j = ok(&strs(&features(&scp, &out, &[])));
        assert_eq!(
            (
                j["redone_parts"].as_u64(),
                j["resumed"].as_u64(),
                j["processed"].as_u64()
            ),
            (Some(2), Some(4), Some(16))
        );
        assert_eq!(files(&out), files(&clean));
    }

    #[test]
    fn a_second_process_on_the_same_shard_is_refused() {
        let d = scratch("lock");
        let scp = synth(&d, 4);
        let out = d.join("out");
        let dir = out.join(".parts/features");
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::File::create(dir.join("lock")).unwrap();
        f.try_lock().unwrap();
        let err = fails(&strs(&features(&scp, &out, &[])));
        assert!(
            err.contains("is locked: another voxprobe process is writing this shard"),
            "{err}"
        );
        // Another shard of the same job is not blocked.
        ok(&strs(&features(&scp, &out, &["--shard", "1/2"])));
        drop(f);
        ok(&strs(&features(&scp, &out, &[])));
    }

    #[test]
    fn disk_full_is_a_clear_error_and_nothing_half_written_is_accepted() {
        let d = scratch("full");
        let scp = synth(&d, 20);
        let clean = d.join("clean");
        ok(&strs(&features(&scp, &clean, &[])));
        for limit in ["200", "9000", "30000", "45000", "60000"] {
            let out = d.join(format!("out{limit}"));
            let err = fails(&strs(&features(
                &scp,
                &out,
                &["--debug-fail-writes-after", limit],
            )));
            assert!(err.contains("disk full while writing"), "{limit}: {err}");
            assert!(!out.join("features.json").exists(), "{limit}");
            ok(&strs(&features(&scp, &out, &[])));
            assert_eq!(files(&out), files(&clean), "{limit}");
        }
        let sharded = d.join("sharded");
        for i in 0..2 {
            ok(&strs(&features(
                &scp,
                &sharded,
                &["--shard", &format!("{i}/2")],
            )));
        }
        let err = fails(&["merge", s(&sharded), "--debug-fail-writes-after", "5000"]);
        assert!(err.contains("disk full while writing"), "{err}");
        assert!(!sharded.join("features.json").exists());
        ok(&["merge", s(&sharded)]);
        assert_eq!(unsharded(&sharded), files(&clean));
    }
}

mod bad_inputs {
    use super::*;

    #[test]
    fn skip_bad_lists_exactly_the_bad_inputs() {
        let d = scratch("skip-bad");
        let scp = synth(&d, 8);
        let wav = d.join("wav");
        std::fs::write(
            wav.join("garbage.wav"),
            b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk",
        )
        .unwrap();
        voxprobe::audio::write_wav(wav.join("empty.wav"), &[], 16_000, 1, WavFormat::Pcm16)
            .unwrap();
        voxprobe::audio::write_wav(
            wav.join("short.wav"),
            &[0.1; 40],
            16_000,
            1,
            WavFormat::Pcm16,
        )
        .unwrap();
        let mut m = std::fs::read_to_string(&scp).unwrap();
        for (id, p) in [
            ("garbage", "garbage.wav"),
            ("gone1", "nope1.wav"),
            ("empty", "empty.wav"),
            ("short", "short.wav"),
            ("gone2", "nope2.wav"),
        ] {
            m.push_str(&format!("{id} {}\n", wav.join(p).display()));
        }
        std::fs::write(&scp, &m).unwrap();
        let embed = |out: &Path, extra: &[&str]| {
            let mut v = vec![
                "embed",
                "--model",
                ENCODER,
                "--pooling",
                "mean",
                "--scp",
                s(&scp),
                "--out",
                s(out),
            ];
            v.extend(extra);
            v.into_iter().map(String::from).collect::<Vec<_>>()
        };
        // Without --skip-bad: every missing path at once, with its manifest line, before work.
        let err = fails(&strs(&embed(&d.join("a"), &[])));
        assert!(err.contains("2 input files are missing"), "{err}");
        assert!(
            err.contains("wav.scp:10: gone1") && err.contains("wav.scp:13: gone2"),
            "{err}"
        );
        assert!(!d.join("a/.parts/embeddings").read_dir().unwrap().any(|e| e
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "part")));
        let out = d.join("b");
        let j = ok(&strs(&embed(&out, &["--skip-bad"])));
        assert_eq!(
            (j["failed"].as_u64(), j["utterances"].as_u64()),
            (Some(5), Some(13))
        );
        let failed: Vec<Value> = std::fs::read_to_string(out.join("failed.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(&str, &str)> = failed
            .iter()
            .map(|f| (f["id"].as_str().unwrap(), f["stage"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("garbage", "load"),
                ("gone1", "missing"),
                ("empty", "load"),
                ("short", "process"),
                ("gone2", "missing")
            ]
        );
        for f in &failed {
            assert!(
                f["path"].as_str().unwrap().ends_with(".wav")
                    && !f["error"].as_str().unwrap().is_empty(),
                "{f}"
            );
        }
        let m: Value =
            serde_json::from_slice(&std::fs::read(out.join("embeddings.json")).unwrap()).unwrap();
        assert_eq!(
            (m["utterances"].as_u64(), m["failed"].as_u64()),
            (Some(8), Some(5))
        );
        // Without it, the first bad input stops the run with id, path and line.
        let mut m2 = std::fs::read_to_string(&scp).unwrap();
        m2 = m2
            .lines()
            .filter(|l| !l.starts_with("gone"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&scp, m2).unwrap();
        let err = fails(&strs(&embed(&d.join("c"), &[])));
        assert!(
            err.contains("utterance garbage (")
                && err.contains("garbage.wav, ")
                && err.contains("wav.scp:9) failed at load"),
            "{err}"
        );
    }
}
