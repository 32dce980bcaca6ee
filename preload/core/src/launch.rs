//! The decision for one process launch, and its report.

use core::ffi::{CStr, c_char};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use guard_policy::{Decision, Mode, PolicyView, Verdict};

use crate::buf::Buf;
use crate::config::Config;
use crate::event::{self, Event, Subject};
use crate::path::{self, PathBuf};
use crate::policy;
use crate::sys;
use guard_contract::event::{
    ACTION_ALERTED, ACTION_BLOCKED, ACTION_UNPROTECTED, ACTION_WOULD_BLOCK,
};

/// Rule text of decisions made without a policy under `GUARD_FAIL=closed`.
pub const RULE_FAIL_CLOSED: &str = "fail-closed";

pub type RuleText = Buf<512>;

/// What to do with a decision in the policy's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Let the call go ahead.
    pub allow: bool,
    /// The event action to report, if any.
    pub action: Option<&'static str>,
}

pub fn outcome(mode: Mode, verdict: Verdict) -> Outcome {
    match (verdict, mode) {
        (Verdict::Allow, _) => Outcome {
            allow: true,
            action: None,
        },
        (Verdict::Alert, _) => Outcome {
            allow: true,
            action: Some(ACTION_ALERTED),
        },
        (Verdict::Deny, Mode::Enforce) => Outcome {
            allow: false,
            action: Some(ACTION_BLOCKED),
        },
        (Verdict::Deny, Mode::Audit) => Outcome {
            allow: true,
            action: Some(ACTION_WOULD_BLOCK),
        },
    }
}

/// The outcome when no valid policy is available, and what decided it.
pub(crate) fn fail_outcome(cfg: &Config) -> (Outcome, Decider) {
    if cfg.fail_open {
        let out = Outcome {
            allow: true,
            action: None,
        };
        (out, Decider::Nothing)
    } else {
        let out = Outcome {
            allow: false,
            action: Some(ACTION_BLOCKED),
        };
        (out, Decider::FailClosed)
    }
}

/// What decided a launch or a lookup, turned into rule text only when it is reported or
/// asked for: formatting it for every decision would page `core::fmt`'s code into every
/// launch and cost each name lookup the formatting.
#[derive(Clone, Copy)]
pub(crate) enum Decider {
    Rule(guard_policy::RuleRef<'static>),
    FailClosed,
    Nothing,
}

impl Decider {
    pub(crate) fn write(self, rule: &mut RuleText) {
        rule.clear();
        match self {
            Decider::Rule(r) => {
                let _ = write!(rule, "{r}");
            }
            Decider::FailClosed => {
                rule.set(RULE_FAIL_CLOSED.as_bytes());
            }
            Decider::Nothing => {}
        }
    }
}

/// The stricter decision over every name the program is known by (see
/// [`path::for_each_candidate`]).
pub fn decide_program(view: &PolicyView<'static>, abs: &CStr) -> Option<Decision<'static>> {
    match decide_candidates::<{ path::SHORT_CAP }>(view, abs) {
        (decided, true) => decided,
        (_, false) => decide_program_long(view, abs),
    }
}

/// [`decide_program`] for a path or link that did not fit the short buffers (rare: its
/// frame is large, so it stays out of the common path). Nothing larger to try: what does
/// not fit here is left out, as the kernel would refuse it too (ENAMETOOLONG).
#[cold]
#[inline(never)]
fn decide_program_long(view: &PolicyView<'static>, abs: &CStr) -> Option<Decision<'static>> {
    decide_candidates::<{ path::PATH_CAP }>(view, abs).0
}

fn combine(combined: &mut Option<Decision<'static>>, d: Decision<'static>) {
    *combined = Some(match combined.take() {
        Some(c) => c.stricter(d),
        None => d,
    });
}

/// The stricter decision over the candidates that fit buffers of size `N`, and whether all
/// of them did.
fn decide_candidates<const N: usize>(
    view: &PolicyView<'static>,
    abs: &CStr,
) -> (Option<Decision<'static>>, bool) {
    let mut combined = None;
    let complete =
        path::for_each_candidate::<N>(abs, &mut |c| combine(&mut combined, view.decide_process(c)));
    (combined, complete)
}

/// One launch to decide.
pub struct Launch<'a> {
    /// The hooked call, for the event.
    pub api: &'static str,
    /// The program as it will be executed: absolute and normalised.
    pub program: &'a CStr,
    /// Its NULL-terminated argv (or NULL).
    pub argv: *const *const c_char,
    /// Why the launch cannot be followed even when allowed (e.g. fileless), or "".
    pub note: &'a str,
    /// The shim's constructor checking its own process: `program` is the kernel's
    /// canonical `/proc/self/exe` (or `argv[0]`), so no symlink candidates are looked up,
    /// and only `blocked` is reported (a hooked parent already reported alerts and
    /// would-blocks of this launch).
    pub constructor: bool,
}

/// Rule text of launches refused because their path cannot be resolved into a buffer.
pub const RULE_UNRESOLVABLE: &str = "unresolvable-path";

/// A launch whose program path cannot be made absolute (longer than `PATH_MAX` with the
/// current directory, or no current directory): refused (reported as `blocked`, in audit mode
/// or with `GUARD_FAIL=open` and no policy let through as `would-block`), since letting it
/// through unchecked would be a way around the policy.
pub fn unresolvable(
    cfg: &Config,
    api: &'static str,
    invoked: &[u8],
    argv: *const *const c_char,
) -> bool {
    let view = policy::current(cfg.policy_bin());
    let allow = match view {
        Some(v) => v.mode() == Mode::Audit,
        None => cfg.fail_open,
    };
    event::send(
        cfg,
        &Event {
            action: if allow {
                ACTION_WOULD_BLOCK
            } else {
                ACTION_BLOCKED
            },
            subject: Subject::Program(invoked),
            argv,
            rule: RULE_UNRESOLVABLE.as_bytes(),
            version: view.map(|v| v.version()).unwrap_or(""),
            api,
            reason: "path too long to resolve",
        },
    );
    allow
}

/// Decides a launch, reports it, and says whether it may go ahead.
pub fn decide(cfg: &Config, launch: &Launch<'_>) -> bool {
    decide_inner(cfg, launch, None, false) == Attempt::Allow
}

/// [`decide`], also handing back the text of the deciding rule (empty when none decided).
pub fn decide_with_rule(cfg: &Config, launch: &Launch<'_>, rule: &mut RuleText) -> bool {
    decide_inner(cfg, launch, Some(rule), false) == Attempt::Allow
}

/// The decision on one attempt of an `exec*` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Allow,
    Deny,
    /// Not allowed, and the file does not exist: fail with `ENOENT` (what the kernel says),
    /// nothing reported.
    Absent,
}

/// Last reported exec attempt: a hash of (real path, call, arguments, argv pointer, pid). Shells (dash) and
/// CPython's `_posixsubprocess` try `execve` on every `PATH` entry in turn and go on after
/// `EACCES`, so one denied `nc` would otherwise be reported as `/usr/bin/nc` and again as
/// `/bin/nc` (the same file through the merged-/usr symlink). The pid and argv pointer keep
/// a later launch of the same program (a new child) reported.
static LAST_REPORTED: AtomicU64 = AtomicU64::new(0);

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[inline(never)]
fn attempt_key(launch: &Launch<'_>) -> u64 {
    let (program, argv) = (launch.program, launch.argv);
    let mut real = PathBuf::new();
    let name = if path::realpath(program.to_bytes(), &mut real).is_ok() {
        real.as_bytes()
    } else {
        program.to_bytes()
    };
    // FNV-1a over the real path, the call and the first arguments, then the argv pointer
    // and the pid.
    let mut h = fnv(0xcbf2_9ce4_8422_2325, name);
    h = fnv(h, launch.api.as_bytes());
    if !argv.is_null() {
        for i in 0..8 {
            // SAFETY: argv is the caller's NULL-terminated array; we stop at its NULL.
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                break;
            }
            // SAFETY: a C string of the caller's argv.
            h = fnv(h ^ 0xff, unsafe { sys::cstr(arg) });
        }
    }
    let pid = sys::getpid() as u64;
    h ^= (argv as usize as u64).rotate_left(17) ^ pid.rotate_left(41);
    h | 1
}

/// [`decide`] for one attempt of an `exec*` call, which may be one of several tried in turn
/// over `PATH`: only the attempt on a file that exists is reported, and once (see
/// [`LAST_REPORTED`]). Every attempt is still decided: an absent program the policy would
/// refuse is refused as [`Attempt::Absent`] rather than handed to the kernel, so a file
/// created in between cannot slip through.
pub fn decide_attempt(cfg: &Config, launch: &Launch<'_>) -> Attempt {
    decide_inner(cfg, launch, None, true)
}

fn absent(program: &CStr) -> bool {
    matches!(sys::stat(program), Err(libc::ENOENT | libc::ENOTDIR))
}

fn decide_inner(
    cfg: &Config,
    launch: &Launch<'_>,
    want_rule: Option<&mut RuleText>,
    attempt: bool,
) -> Attempt {
    let mut version = "";
    let (out, decider) = match policy::current(cfg.policy_bin()) {
        None => fail_outcome(cfg),
        Some(view) => {
            version = view.version();
            let decided = if launch.constructor {
                Some(view.decide_process(launch.program.to_bytes()))
            } else {
                decide_program(&view, launch.program)
            };
            match decided {
                Some(d) => (outcome(view.mode(), d.verdict), Decider::Rule(d.rule)),
                None => {
                    let out = Outcome {
                        allow: true,
                        action: None,
                    };
                    (out, Decider::Nothing)
                }
            }
        }
    };
    // For exec attempts: None until the first report asks whether to report at all.
    let mut quiet: Option<bool> = if attempt { None } else { Some(false) };
    let mut gone = false;
    let mut report = |action: &'static str, reason: &str| {
        let skip = *quiet.get_or_insert_with(|| {
            if absent(launch.program) {
                gone = true;
                return true;
            }
            let key = attempt_key(launch);
            LAST_REPORTED.swap(key, Ordering::Relaxed) == key
        });
        if skip {
            return;
        }
        let mut rule = RuleText::new();
        decider.write(&mut rule);
        event::send(
            cfg,
            &Event {
                action,
                subject: Subject::Program(launch.program.to_bytes()),
                argv: launch.argv,
                rule: rule.as_bytes(),
                version,
                api: launch.api,
                reason,
            },
        );
    };
    match out.action {
        Some(action) if action == ACTION_BLOCKED || !launch.constructor => report(action, ""),
        _ => {}
    }
    if out.allow && !launch.constructor {
        let reason = if launch.note.is_empty() {
            crate::protect::unprotected_reason(launch.program).unwrap_or("")
        } else {
            launch.note
        };
        if !reason.is_empty() {
            report(ACTION_UNPROTECTED, reason);
        }
    }
    if let Some(rule) = want_rule {
        decider.write(rule);
    }
    match (out.allow, gone) {
        (true, _) => Attempt::Allow,
        (false, true) => Attempt::Absent,
        (false, false) => Attempt::Deny,
    }
}
