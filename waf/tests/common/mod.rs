//! What the WAF quality tests share: finding `../shared`, loading CRS v4.28.0, turning raw
//! bytes into an engine verdict.

#![allow(dead_code)]

pub mod corpus;

use std::path::PathBuf;

use guard_waf::raw::{RawError, RawRequest};
use guard_waf::{Action, Config, Engine, Verdict};

/// True under CI (`CI=true`), where a test that cannot run is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The CRS v4.28.0 corpus beside the repo, or None (after printing why) outside CI when it
/// is missing. Under CI a missing corpus panics: nothing passes by not running.
pub fn crs_dir(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/crs-v4.28.0");
    if dir.join("rules").is_dir() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "{test}: cannot run under CI: {} is missing",
        dir.display()
    );
    eprintln!("{test}: skipped: {} is missing", dir.display());
    None
}

/// CRS at `paranoia`, the CRS default threshold, every protection preventing: what a user
/// of a fresh `[waf]` section runs.
pub fn engine(crs: &std::path::Path, paranoia: u8) -> Engine {
    let mut config = Config::new(crs);
    config.paranoia = paranoia;
    Engine::load(&config).unwrap_or_else(|e| panic!("loading CRS at PL{paranoia}: {e}"))
}

/// CRS at `paranoia` reporting every rule that matches: every protection only alerts and the
/// threshold is out of reach, so no early exit hides a later rule (the regression suite
/// asserts on rule ids, as go-ftw does on the audit log).
pub fn audit_engine(crs: &std::path::Path, paranoia: u8) -> Engine {
    let mut config = Config::new(crs);
    config.paranoia = paranoia;
    config.inbound_threshold = 1_000_000;
    config.default_action = Action::Alert;
    Engine::load(&config).unwrap_or_else(|e| panic!("loading CRS at PL{paranoia}: {e}"))
}

/// Parses `bytes` and inspects them.
pub fn inspect(engine: &Engine, bytes: &[u8]) -> Result<Verdict, RawError> {
    let raw = RawRequest::parse(bytes)?;
    let headers = raw.header_refs();
    Ok(engine.inspect(&raw.request(&headers)))
}

/// A CRS directory as CRS's own regression setup configures it (tests/regression/README.md:
/// the argument and file-size limits the 920 rules test, UTF-8 validation on), built at test
/// time under the target directory: `crs-setup.conf` is the shipped example plus that
/// SecAction, `rules` links to the corpus. Nothing of CRS is copied into the repository.
pub fn regression_crs_dir(crs: &std::path::Path) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crs-v4.28.0-regression");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the regression CRS directory");
    let mut setup = std::fs::read_to_string(crs.join("crs-setup.conf.example"))
        .expect("reading crs-setup.conf.example");
    // The README's rule, without ctl:ruleEngine (the harness only reads the verdict) and
    // without the paranoia level (each case runs at its rule's level).
    setup.push_str(
        "\nSecAction \"id:900005,phase:1,nolog,pass,ctl:ruleRemoveById=910000,\
         setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,\
         setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,\
         setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535\"\n",
    );
    std::fs::write(dir.join("crs-setup.conf"), setup).expect("writing crs-setup.conf");
    std::os::unix::fs::symlink(crs.join("rules"), dir.join("rules"))
        .expect("linking the CRS rules");
    dir
}
