//! Benchmark and corpus driver for bench/waf-engine.sh: our engine in process, on exactly the
//! requests bench/waf/modsec-driver.c gives libmodsecurity.
//!
//! ```text
//! waf_bench dump FILE               write the bench requests and both corpora
//! waf_bench bench CRS PL FILE ITERS per-request CPU and wall time, load time, RSS
//! waf_bench rates CRS PL FILE       one line per request: class placement blocked
//! ```

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use guard_waf::raw::RawRequest;
use guard_waf::{Config, Engine};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dump", file] => dump(Path::new(file)),
        ["bench", crs, pl, file, iters] => bench(crs, pl, file, iters),
        ["rates", crs, pl, file] => rates(crs, pl, file),
        _ => Err("usage: waf_bench dump FILE | bench CRS PL FILE ITERS | rates CRS PL FILE".into()),
    };
    if let Err(e) = result {
        eprintln!("waf_bench: {e}");
        std::process::exit(1);
    }
}

struct Record {
    class: String,
    placement: String,
    raw: RawRequest,
}

fn dump(path: &Path) -> Result<(), String> {
    let mut samples: Vec<(String, String, Vec<u8>)> = Vec::new();
    for (name, req) in corpus::bench_requests() {
        samples.push(("bench".into(), name.into(), req));
    }
    for kb in [1, 2, 4, 8, 16, 32, 64, 128] {
        samples.push((
            "size-json".into(),
            format!("{kb}k"),
            corpus::json_of_size(kb * 1024),
        ));
        samples.push((
            "size-multipart".into(),
            format!("{kb}k"),
            corpus::multipart_upload(kb * 1024),
        ));
    }
    for s in corpus::attacks() {
        samples.push((format!("attack:{}", s.class), s.placement.into(), s.request));
    }
    for s in corpus::tricky_benign() {
        samples.push(("text".into(), s.placement.into(), s.request));
    }
    let uas = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/crs-v4.28.0/tests/regression/utils/data/popularUAs.data");
    for s in corpus::benign_traffic(uas.is_file().then_some(uas.as_path())) {
        samples.push((format!("benign:{}", s.class), s.placement.into(), s.request));
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let mut write = |class: &str, placement: &str, raw: &RawRequest| -> std::io::Result<()> {
        writeln!(out, "REQ {class} {placement} {}", raw.headers.len())?;
        let mut ns = |b: &[u8]| -> std::io::Result<()> {
            write!(out, "{}:", b.len())?;
            out.write_all(b)?;
            out.write_all(b"\n")
        };
        ns(raw.method.as_bytes())?;
        ns(&raw.target)?;
        ns(raw.protocol.as_bytes())?;
        for (n, v) in &raw.headers {
            ns(n)?;
            ns(v)?;
        }
        ns(&raw.body)
    };
    let mut skipped = 0;
    for (class, placement, bytes) in &samples {
        // Both engines get the request pre-parsed; one our parser refuses has no fair
        // counterpart in the C driver, so it is left out of the comparison (and counted).
        match RawRequest::parse(bytes) {
            Ok(raw) => write(class, placement, &raw).map_err(|e| e.to_string())?,
            Err(_) => skipped += 1,
        }
    }
    eprintln!(
        "{} requests written to {} ({skipped} unparseable left out)",
        samples.len() - skipped,
        path.display()
    );
    Ok(())
}

fn read(path: &str) -> Result<Vec<Record>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut pos = 0;
    let mut out = Vec::new();
    let line = |pos: &mut usize| -> Option<String> {
        let end = data[*pos..].iter().position(|&b| b == b'\n')? + *pos;
        let s = String::from_utf8_lossy(&data[*pos..end]).into_owned();
        *pos = end + 1;
        Some(s)
    };
    let ns = |pos: &mut usize| -> Option<Vec<u8>> {
        let colon = data[*pos..].iter().position(|&b| b == b':')? + *pos;
        let n: usize = std::str::from_utf8(&data[*pos..colon]).ok()?.parse().ok()?;
        let v = data.get(colon + 1..colon + 1 + n)?.to_vec();
        *pos = colon + 2 + n;
        Some(v)
    };
    while pos < data.len() {
        let at = pos;
        let bad = || format!("{path}: bad record at byte {at}");
        let head = line(&mut pos).ok_or_else(bad)?;
        let parts: Vec<&str> = head.split(' ').collect();
        let [_, class, placement, nh] = parts.as_slice() else {
            return Err(bad());
        };
        let nh: usize = nh.parse().map_err(|_| bad())?;
        let method = String::from_utf8_lossy(&ns(&mut pos).ok_or_else(bad)?).into_owned();
        let target = ns(&mut pos).ok_or_else(bad)?;
        let protocol = String::from_utf8_lossy(&ns(&mut pos).ok_or_else(bad)?).into_owned();
        let mut headers = Vec::with_capacity(nh);
        for _ in 0..nh {
            let n = ns(&mut pos).ok_or_else(bad)?;
            let v = ns(&mut pos).ok_or_else(bad)?;
            headers.push((n, v));
        }
        let body = ns(&mut pos).ok_or_else(bad)?;
        out.push(Record {
            class: class.to_string(),
            placement: placement.to_string(),
            raw: RawRequest {
                method,
                target,
                protocol,
                headers,
                body,
                trailing: Vec::new(),
            },
        });
    }
    Ok(out)
}

fn load(crs: &str, pl: &str) -> Result<(Engine, f64), String> {
    let mut config = Config::new(crs);
    config.paranoia = pl
        .parse()
        .map_err(|_| format!("paranoia {pl:?}: expected 1..4"))?;
    let t = Instant::now();
    let engine = Engine::load(&config).map_err(|e| e.to_string())?;
    Ok((engine, t.elapsed().as_secs_f64() * 1e3))
}

fn rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(-1)
}

fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn bench(crs: &str, pl: &str, file: &str, iters: &str) -> Result<(), String> {
    let records = read(file)?;
    let iters: u32 = iters.parse().map_err(|_| format!("iterations {iters:?}"))?;
    let before = rss_kb();
    let (engine, load_ms) = load(crs, pl)?;
    let after = rss_kb();
    println!(
        "load_ms {load_ms:.1}\nrss_kb {after}\nrss_rules_kb {}",
        after - before
    );
    // Only the fixed benchmark requests; the corpora are for `rates`.
    for r in records
        .iter()
        .filter(|r| r.class == "bench" || r.class.starts_with("size-"))
    {
        let headers = r.raw.header_refs();
        let req = r.raw.request(&headers);
        let status = engine.inspect(&req).blocks() as i32 * 403;
        let c0 = thread_cpu_us();
        let w0 = Instant::now();
        // ITERS runs, or fewer once 2 s are spent (as the C driver does); at least 3.
        let mut k = 0u32;
        while k < iters && (k < 3 || w0.elapsed().as_secs_f64() < 2.0) {
            std::hint::black_box(engine.inspect(std::hint::black_box(&req)));
            k += 1;
        }
        let cpu = (thread_cpu_us() - c0) / k as f64;
        let wall = w0.elapsed().as_secs_f64() * 1e6 / k as f64;
        println!(
            "req {} {} cpu_us {cpu:.1} wall_us {wall:.1} status {status}",
            r.class, r.placement
        );
    }
    println!("rss_end_kb {}", rss_kb());
    Ok(())
}

fn rates(crs: &str, pl: &str, file: &str) -> Result<(), String> {
    let records = read(file)?;
    let (engine, _) = load(crs, pl)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &records {
        let headers = r.raw.header_refs();
        let blocked = engine.inspect(&r.raw.request(&headers)).blocks();
        writeln!(out, "{} {} {}", r.class, r.placement, blocked as u8)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
