//! Command line of guard-exec.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: guard-exec [OPTIONS] [--] PROGRAM [ARGS...]

Starts PROGRAM under TaskGuard: waits for the sidecar's policy,
checks PROGRAM against the process policy, appends the preload shim to LD_PRELOAD and sets
the GUARD_* defaults.

options:
  --resolver IP        point /etc/resolv.conf at IP (the sidecar, 127.0.0.1) so resolvers
                       that bypass libc (dig, Go, c-ares) go through the guard too
                       (default $GUARD_RESOLVER; unset or empty: leave it alone)
  --resolv-conf PATH   the file --resolver rewrites (default /etc/resolv.conf)
  --preload-lib PATH   the shim to preload (default $GUARD_PRELOAD_LIB or
                       /guard/lib/libguard_preload.so)
  -h, --help           this text

environment: GUARD_POLICY, GUARD_EVENTS, GUARD_CONTAINER, GUARD_FAIL (closed|open),
GUARD_WAIT (seconds, default 30), GUARD_RESOLVER (IP, as --resolver), GUARD_PRELOAD_LIB,
GUARD_SUPERVISE (off: no seccomp supervisor; guard-exec then becomes PROGRAM, same PID).

By default guard-exec stays as PROGRAM's parent (the container's init): it runs PROGRAM with
no_new_privs under a seccomp filter and decides every execve/execveat of PROGRAM and its
children (static programs and raw system calls included) with the same policy, forwards
signals, reaps orphans and exits with PROGRAM's status (128+N after signal N).
exit status: PROGRAM's own, or 125 (guard-exec error, e.g. no policy with GUARD_FAIL=closed),
126 (PROGRAM denied by the policy), 127 (PROGRAM not found).";

#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub resolver: Option<IpAddr>,
    pub resolv_conf: Option<PathBuf>,
    pub preload_lib: Option<PathBuf>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Parses everything after argv[0]. Options stop at `--` or at the first non-option.
pub fn parse(argv: Vec<OsString>) -> Result<Parsed, String> {
    let mut args = Args::default();
    let mut it = argv.into_iter();
    let value = |it: &mut std::vec::IntoIter<OsString>, flag: &str| {
        it.next()
            .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
    };
    loop {
        let Some(arg) = it.next() else {
            return Err(format!("no PROGRAM given\n\n{USAGE}"));
        };
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(Parsed::Help),
            Some("--") => {
                let Some(program) = it.next() else {
                    return Err(format!("no PROGRAM given after --\n\n{USAGE}"));
                };
                args.program = program;
                break;
            }
            Some("--resolver") => {
                let v = value(&mut it, "--resolver")?;
                let text = v.to_string_lossy();
                let ip = text.parse::<IpAddr>().map_err(|_| {
                    format!("--resolver: `{text}` is not an IP address (expected e.g. 127.0.0.1)")
                })?;
                args.resolver = Some(ip);
            }
            Some("--resolv-conf") => {
                args.resolv_conf = Some(value(&mut it, "--resolv-conf")?.into())
            }
            Some("--preload-lib") => {
                args.preload_lib = Some(value(&mut it, "--preload-lib")?.into())
            }
            Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option `{flag}`\n\n{USAGE}"));
            }
            _ => {
                args.program = arg;
                break;
            }
        }
    }
    args.args = it.collect();
    Ok(Parsed::Run(args))
}

/// `GUARD_RESOLVER`, used when `--resolver` is not given: `None` when unset or empty.
pub fn resolver_from_env(value: Option<OsString>) -> Result<Option<IpAddr>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<IpAddr>().map(Some).map_err(|_| {
        format!("GUARD_RESOLVER: `{text}` is not an IP address (expected e.g. 127.0.0.1)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_stop_at_the_program() {
        let Parsed::Run(a) =
            parse(os(&["--resolver", "127.0.0.1", "--", "sh", "-c", "x"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.resolver, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(a.program, "sh");
        assert_eq!(a.args, os(&["-c", "x"]));
        let Parsed::Run(a) = parse(os(&["node", "--resolver"])).unwrap() else {
            panic!()
        };
        assert_eq!(a.program, "node");
        assert_eq!(a.args, os(&["--resolver"]));
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(
            parse(os(&["--resolver", "nope", "x"]))
                .unwrap_err()
                .contains("not an IP")
        );
        assert!(parse(os(&[])).unwrap_err().contains("no PROGRAM"));
        assert!(
            parse(os(&["--bogus", "x"]))
                .unwrap_err()
                .contains("unknown option")
        );
        assert_eq!(parse(os(&["--help"])).unwrap(), Parsed::Help);
    }

    #[test]
    fn resolver_variable() {
        assert_eq!(resolver_from_env(None), Ok(None));
        assert_eq!(resolver_from_env(Some(" ".into())), Ok(None));
        assert_eq!(
            resolver_from_env(Some("127.0.0.1".into())),
            Ok(Some("127.0.0.1".parse().unwrap()))
        );
        assert!(
            resolver_from_env(Some("sidecar".into()))
                .unwrap_err()
                .contains("GUARD_RESOLVER: `sidecar` is not an IP")
        );
    }
}
