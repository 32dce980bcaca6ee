//! Inspects one raw HTTP request (a file, or `-` for stdin) with CRS and prints the verdict:
//! a debugging aid for the corpora (`dns-guard waf check` is the user's command).
//!
//! ```text
//! waf_check CRS_DIR PARANOIA FILE|-
//! ```

use std::io::Read;

use guard_waf::raw::RawRequest;
use guard_waf::{Config, Engine};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [crs, pl, file] = args.as_slice() else {
        eprintln!("usage: waf_check CRS_DIR PARANOIA FILE|-");
        std::process::exit(2);
    };
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file).map(|b| bytes = b)
    };
    if let Err(e) = read {
        eprintln!("waf_check: {file}: {e}");
        std::process::exit(1);
    }
    let mut config = Config::new(crs);
    config.paranoia = pl.parse().unwrap_or(1);
    let engine = match Engine::load(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("waf_check: {e}");
            std::process::exit(1);
        }
    };
    let raw = match RawRequest::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            println!("malformed request (protocol): {e}");
            return;
        }
    };
    let headers = raw.header_refs();
    let v = engine.inspect(&raw.request(&headers));
    println!(
        "action {:?}, anomaly score {}, protections {:?}",
        v.action, v.anomaly_score, v.protections
    );
    for m in &v.matches {
        println!(
            "  {} [{}] {} = {:?} (+{})",
            m.id, m.variable, m.msg, m.data, m.score
        );
    }
}
