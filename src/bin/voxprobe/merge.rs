//! `voxprobe merge`: the shards of a job into the unsharded outputs, streamed.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use crate::args;

/// `merge` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory holding `<stem>.shard-I-of-N.json` manifests and their data.
    dir: PathBuf,
    /// Test only: abort at `commit:N` or `write:N`.
    #[arg(long, hide = true)]
    debug_crash_at: Option<String>,
    /// Test only: fail writes with "no space left" after this many bytes.
    #[arg(long, hide = true)]
    debug_fail_writes_after: Option<u64>,
}

/// Runs `merge`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let faults = args::faults(a.debug_crash_at.as_deref(), a.debug_fail_writes_after)?;
    let merged = voxprobe::corpus::output::merge_dir(&a.dir, &faults)?;
    Ok(json!({
        "command": "merge",
        "merged": merged.iter().map(|(s, n)| json!({"stem": s, "shards": n})).collect::<Vec<_>>(),
        "dir": a.dir.display().to_string(),
    }))
}
