//! `guard-exec`: starts an app container's entrypoint under TaskGuard.
//!
//! It waits for the sidecar's policy, checks the program with the same code the preload shim
//! uses (`guard-preload-core`), puts the shim into `LD_PRELOAD` (appending, never replacing)
//! with the `GUARD_*` defaults, and replaces itself with the program (same PID, so signals and
//! exit codes are the app's). Linked statically so it runs in distroless and Alpine images.

mod cli;
mod elf;
mod glibc;
mod net;
mod notify;
mod report;
mod resolv_conf;
mod seccomp;
mod supervise;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use guard_contract as contract;
use guard_preload_core::event::{self, Event, Subject};
use guard_preload_core::launch::{self, Launch, RuleText};
use guard_preload_core::path::{self, PathBuf as StackPath};
use guard_preload_core::{Config, policy, protect};

/// guard-exec itself failed (usage, no policy under fail-closed).
const EXIT_ERROR: u8 = 125;
const EXIT_NOT_FOUND: u8 = 127;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let args = match cli::parse(argv) {
        Ok(cli::Parsed::Run(args)) => args,
        Ok(cli::Parsed::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("guard-exec: {message}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    run(args)
}

fn env_bytes(key: &str) -> Option<Vec<u8>> {
    std::env::var_os(key).map(OsStringExt::into_vec)
}

fn run(args: cli::Args) -> ExitCode {
    let mut cfg = Box::new(Config::new());
    let values: Vec<(&str, Option<Vec<u8>>)> = [
        contract::env::POLICY,
        contract::env::EVENTS,
        contract::env::CONTAINER,
        contract::env::FAIL,
    ]
    .into_iter()
    .map(|k| (k, env_bytes(k)))
    .collect();
    match std::env::current_exe() {
        Ok(exe) => cfg.set_exe(exe.as_os_str().as_bytes()),
        Err(_) => cfg.set_exe(b"guard-exec"),
    }
    cfg.load(&|key| {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_deref())
    });

    let resolver = args.resolver.or_else(|| {
        match cli::resolver_from_env(std::env::var_os(contract::env::RESOLVER)) {
            Ok(ip) => ip,
            Err(message) => {
                // Pointing resolv.conf at the sidecar is best effort (it may be read-only),
                // so a bad value does not stop the app either.
                eprintln!("guard-exec: {message}; leaving resolv.conf alone");
                None
            }
        }
    });
    if let Some(ip) = resolver {
        let file = args
            .resolv_conf
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"));
        match resolv_conf::point_at(&file, ip) {
            Ok(()) => eprintln!("guard-exec: {} now points at {ip}", file.display()),
            Err(e) => eprintln!(
                "guard-exec: cannot point {} at {ip} ({e}); resolvers that bypass libc (dig, Go, c-ares) are not guarded",
                file.display()
            ),
        }
    }

    if !wait_for_policy(&cfg) {
        let bin = String::from_utf8_lossy(cfg.policy_bin().to_bytes()).into_owned();
        if cfg.fail_open {
            eprintln!(
                "guard-exec: no valid policy at {bin}; GUARD_FAIL=open: starting without one"
            );
        } else {
            eprintln!(
                "guard-exec: no valid policy at {bin} after {}s and GUARD_FAIL=closed: not starting {} (is the sidecar running and sharing its volume?)",
                wait_secs(),
                args.program.to_string_lossy()
            );
            return ExitCode::from(EXIT_ERROR);
        }
    }

    let mut program = StackPath::new();
    let search = env_bytes("PATH");
    if !path::search_path(args.program.as_bytes(), search.as_deref(), &mut program) {
        eprintln!("guard-exec: {}: not found", args.program.to_string_lossy());
        return ExitCode::from(EXIT_NOT_FOUND);
    }
    let program_path = PathBuf::from(std::ffi::OsStr::from_bytes(program.as_bytes()));

    // The event carries the argv as the program will see it.
    let c_args: Vec<CString> = std::iter::once(&args.program)
        .chain(&args.args)
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    c_argv.push(std::ptr::null());
    let mut rule = RuleText::new();
    let launch = Launch {
        api: "guard-exec",
        program: program.as_cstr(),
        argv: c_argv.as_ptr(),
        note: "",
        constructor: false,
    };
    if !launch::decide_with_rule(&cfg, &launch, &mut rule) {
        eprintln!(
            "guard-exec: {} is denied by the policy (rule {})",
            program_path.display(),
            String::from_utf8_lossy(rule.as_bytes())
        );
        return ExitCode::from(contract::EXIT_DENIED as u8);
    }
    if let Some(reason) = protect::unprotected_reason(program.as_cstr()) {
        eprintln!(
            "guard-exec: warning: {} cannot be guarded from inside: {reason}; launches and lookups it makes itself are not checked",
            program_path.display()
        );
    }

    let lib = args
        .preload_lib
        .or_else(|| std::env::var_os("GUARD_PRELOAD_LIB").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(contract::LIB_PRELOAD));
    let mut envs: Vec<(OsString, OsString)> = Vec::new();
    let mut shim_name = Vec::new();
    if protect::is_musl(program.as_cstr()) {
        // The shim is a glibc build; musl's loader does load it, but that is not what the
        // tests cover, so guard-exec stays out of musl programs.
        eprintln!(
            "guard-exec: warning: {} is a musl program: not preloading the glibc shim; launches and lookups inside the app are not checked",
            program_path.display()
        );
        report_unprotected(
            &cfg,
            &program,
            c_argv.as_ptr(),
            "musl program (the shim is a glibc build)",
        );
    } else if let Some(libc) = glibc::too_old(Path::new("/")) {
        // The loader would refuse the shim and fail every process of the container.
        eprintln!(
            "guard-exec: warning: {libc} is older than {} (needed by the shim): not preloading it; launches and lookups inside the app are not checked",
            glibc::REQUIRED
        );
        report_unprotected(
            &cfg,
            &program,
            c_argv.as_ptr(),
            "glibc older than 2.34 (the shim cannot load)",
        );
    } else if !lib.exists() {
        eprintln!(
            "guard-exec: warning: the shim {} is missing: launches and lookups inside the app are not checked",
            lib.display()
        );
    } else {
        shim_name = lib
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        envs.push((
            contract::env::LD_PRELOAD.into(),
            preload_value(std::env::var_os("LD_PRELOAD"), &lib),
        ));
    }
    set_default(&mut envs, contract::env::POLICY, contract::POLICY_JSON);
    set_default(&mut envs, contract::env::EVENTS, contract::EVENTS_SOCK);
    set_default(&mut envs, contract::env::FAIL, contract::FAIL_CLOSED);
    if supervise::enabled()
        && supervise::kernel_supports(&cfg, program.as_bytes())
        && let Ok(path) = CString::new(program.as_bytes())
    {
        let launch = supervise::Launch {
            path,
            argv: c_args,
            env: supervise::env_block(&envs),
            program: program.as_bytes().to_vec(),
        };
        supervise::run(cfg, launch, shim_name);
    }
    let mut cmd = Command::new(&program_path);
    cmd.arg0(&args.program).args(&args.args).envs(envs);
    let err = cmd.exec();
    eprintln!(
        "guard-exec: cannot execute {}: {err}",
        program_path.display()
    );
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        126
    })
}

fn report_unprotected(
    cfg: &Config,
    program: &StackPath,
    argv: *const *const libc::c_char,
    reason: &str,
) {
    event::send(
        cfg,
        &Event {
            action: contract::event::ACTION_UNPROTECTED,
            subject: Subject::Program(program.as_bytes()),
            argv,
            rule: b"",
            version: "",
            api: "guard-exec",
            reason,
        },
    );
}

fn set_default(envs: &mut Vec<(OsString, OsString)>, key: &str, value: &str) {
    if std::env::var_os(key).is_none_or(|v| v.is_empty()) {
        envs.push((key.into(), value.into()));
    }
}

/// `LD_PRELOAD` with the shim appended (kept as is when it already names it).
fn preload_value(existing: Option<OsString>, lib: &Path) -> OsString {
    let lib_bytes = lib.as_os_str().as_bytes();
    let Some(existing) = existing.filter(|v| !v.is_empty()) else {
        return lib.as_os_str().to_owned();
    };
    let present = existing
        .as_bytes()
        .split(|&b| b == b':' || b == b' ')
        .any(|entry| entry == lib_bytes);
    if present {
        return existing;
    }
    let mut v = existing.into_vec();
    v.push(b':');
    v.extend_from_slice(lib_bytes);
    OsString::from_vec(v)
}

fn wait_secs() -> u64 {
    std::env::var(contract::env::WAIT)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::from(contract::DEFAULT_WAIT_SECS))
}

/// Polls for a valid `policy.bin` for up to `GUARD_WAIT` seconds (the sidecar may start after
/// the app container).
fn wait_for_policy(cfg: &Config) -> bool {
    let deadline = Instant::now() + Duration::from_secs(wait_secs());
    let mut told = false;
    loop {
        if policy::current(cfg.policy_bin()).is_some() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        if !told {
            eprintln!(
                "guard-exec: waiting up to {}s for the policy at {}",
                wait_secs(),
                String::from_utf8_lossy(cfg.policy_bin().to_bytes())
            );
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_is_appended_once() {
        let lib = Path::new("/guard/lib/libguard_preload.so");
        assert_eq!(preload_value(None, lib), "/guard/lib/libguard_preload.so");
        assert_eq!(
            preload_value(Some("/a.so".into()), lib),
            "/a.so:/guard/lib/libguard_preload.so"
        );
        assert_eq!(
            preload_value(Some("/a.so /guard/lib/libguard_preload.so".into()), lib),
            "/a.so /guard/lib/libguard_preload.so"
        );
    }
}
