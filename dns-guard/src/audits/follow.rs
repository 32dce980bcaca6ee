//! `--follow`: new events as they are written, one line each.
//!
//! A file is polled rather than watched with inotify: log files on the volumes users point
//! this at (NFS, overlay, a FireLens output) do not all deliver inotify events, and a quarter
//! second is fast enough for a person watching. A file that shrinks (rotated or truncated) is
//! read again from its start.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::filter::Filter;
use super::input::{Line, parse_line};
use super::report::event_line;

const POLL: Duration = Duration::from_millis(250);

fn emit(line: &str, filter: &Filter, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if let Line::Event(e) = parse_line(line)
        && filter.matches(&e)
    {
        if json {
            writeln!(out, "{e}")?;
        } else {
            writeln!(out, "{}", event_line(&e))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Every line of a stream, printed as it arrives, until the stream ends.
pub fn lines(
    input: impl BufRead,
    filter: &Filter,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for line in input.split(b'\n') {
        let line = line.context("reading the audit log")?;
        emit(&String::from_utf8_lossy(&line), filter, json, out)?;
    }
    Ok(())
}

/// Polls `path` from `offset` on, forever (until the output is closed).
pub fn file(
    path: &Path,
    mut offset: u64,
    filter: &Filter,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0;
            pending.clear();
        }
        if len > offset {
            let mut f = std::fs::File::open(path)
                .with_context(|| format!("reading the audit log {}", path.display()))?;
            f.seek(SeekFrom::Start(offset))?;
            let mut chunk = Vec::new();
            f.take(len - offset).read_to_end(&mut chunk)?;
            offset += chunk.len() as u64;
            pending.extend_from_slice(&chunk);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                if let Err(e) = emit(&String::from_utf8_lossy(&line), filter, json, out) {
                    // The reader went away (`| head`): that ends a follow, it is no failure.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(e.into());
                }
            }
        }
        std::thread::sleep(POLL);
    }
}
