//! docs/cli.md against the binary: every option each subcommand's `--help` lists has a line in
//! that command's section, and every option the section's tables name exists (issue 15).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_voxprobe");
/// Options of the per-utterance commands, documented once in their common table.
const COMMON: &str = "Common options of `decode`, `features`, `embed`, `transcribe`";
const PER_UTTERANCE: [&str; 4] = ["decode", "features", "embed", "transcribe"];

fn help(args: &[&str]) -> String {
    let o = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// Subcommand names from the top-level help's `Commands:` block.
fn commands() -> Vec<String> {
    let h = help(&[]);
    let block = h.split("Commands:").nth(1).unwrap();
    block
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// Long options a help text defines (option lines and `[alias: …]` lines), without `--help`.
fn options(h: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in h.lines() {
        let t = l.trim_start();
        let t = t.strip_prefix("-h, ").unwrap_or(t);
        let t = if t.len() > 4 && t.as_bytes()[0] == b'-' && t.as_bytes()[2] == b',' {
            &t[4..]
        } else {
            t
        };
        let defs: Vec<&str> = if let Some(a) = t
            .strip_prefix("[alias: ")
            .or_else(|| t.strip_prefix("[aliases: "))
        {
            a.trim_end_matches(']').split(", ").collect()
        } else if t.starts_with("--") && l.starts_with("      --") || l.starts_with("  -") {
            t.split_whitespace().next().into_iter().collect()
        } else {
            Vec::new()
        };
        for d in defs {
            if d.starts_with("--") && d != "--help" && d != "--version" {
                out.insert(d.to_string());
            }
        }
    }
    out
}

/// The text of the docs section whose heading contains `title`, up to the next heading.
fn section<'a>(doc: &'a str, title: &str) -> &'a str {
    let start = doc
        .find(&format!("### {title}"))
        .unwrap_or_else(|| panic!("docs/cli.md has no section `### {title}`"));
    let rest = &doc[start + 4..];
    let end = rest
        .find("\n## ")
        .into_iter()
        .chain(rest.find("\n### "))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Options a section's table rows name.
fn documented(sec: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in sec.lines().filter(|l| l.starts_with("| `--")) {
        let first = l.split('|').nth(1).unwrap();
        for w in first.split(|c: char| c == '`' || c.is_whitespace() || c == '(' || c == ')') {
            if w.starts_with("--") {
                out.insert(w.to_string());
            }
        }
    }
    out
}

#[test]
fn docs_cli_md_lists_exactly_the_options_of_every_command() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let cmds = commands();
    assert!(cmds.len() >= 8, "{cmds:?}");
    let common = documented(section(&doc, COMMON));
    let common_help: BTreeSet<String> = PER_UTTERANCE
        .iter()
        .map(|c| options(&help(&[c])))
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap();
    assert_eq!(
        common, common_help,
        "the common options table differs from the options all per-utterance commands share"
    );
    for c in &cmds {
        let sec = section(&doc, &format!("`voxprobe {c}`"));
        let mut doc_opts = documented(sec);
        if PER_UTTERANCE.contains(&c.as_str()) {
            assert!(
                sec.contains("Common options"),
                "{c}: section does not point to the common options"
            );
            doc_opts.extend(common.iter().cloned());
        }
        let help_opts = options(&help(&[c]));
        let undocumented: Vec<_> = help_opts.difference(&doc_opts).collect();
        let stale: Vec<_> = doc_opts.difference(&help_opts).collect();
        assert!(
            undocumented.is_empty(),
            "`voxprobe {c}` options missing from docs/cli.md: {undocumented:?}"
        );
        assert!(
            stale.is_empty(),
            "docs/cli.md documents options `voxprobe {c}` does not have: {stale:?}"
        );
    }
}
