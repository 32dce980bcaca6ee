//! The decision for one name lookup, and its report.

use core::ffi::c_char;
use core::fmt::Write;

use guard_policy::DnsName;

use crate::buf::Buf;
use crate::config::Config;
use crate::event::{self, Event, Subject};
use crate::launch::{Decider, RuleText, fail_outcome, outcome};
use crate::policy;

unsafe extern "C" {
    fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> libc::c_int;
    fn inet_pton(af: libc::c_int, src: *const c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// An address literal, which resolvers answer without a lookup (`127.1` and `0x7f.1` count,
/// as `inet_aton` accepts them; IPv6 with or without a `%scope`).
pub fn is_numeric_host(host: &[u8]) -> bool {
    let mut text = Buf::<128>::new();
    let host = match host.iter().position(|&b| b == b'%') {
        Some(i) if host.contains(&b':') => host.get(..i).unwrap_or(host),
        _ => host,
    };
    if host.is_empty() || !text.push(host) {
        return false;
    }
    // SAFETY: text is NUL-terminated; the outputs are stack values of the right size.
    unsafe {
        let mut v4 = core::mem::zeroed::<libc::in_addr>();
        let mut v6 = [0u8; 16];
        inet_aton(text.as_ptr(), &mut v4) != 0
            || inet_pton(libc::AF_INET6, text.as_ptr(), v6.as_mut_ptr().cast()) == 1
    }
}

/// Decides a lookup of `name` (presentation form, as the application passed it), reports it,
/// and says whether it may go ahead. Address literals and text that is not a DNS name are
/// let through: they are not lookups the policy speaks about, and the real call handles
/// (or rejects) them.
pub fn decide(cfg: &Config, api: &'static str, name: &[u8]) -> bool {
    decide_recording(cfg, api, name).allow
}

/// A lookup's decision: whether it may go ahead, and whether its answers are addresses of
/// an allowed name (so `connect` may use them: not for address literals, nor for names
/// let through only by audit mode or a missing policy).
#[derive(Clone, Copy)]
pub struct Lookup {
    pub allow: bool,
    pub answers_allowed: bool,
}

/// [`decide`], also telling whether the answers count as an allowed name's.
pub fn decide_recording(cfg: &Config, api: &'static str, name: &[u8]) -> Lookup {
    let pass = Lookup {
        allow: true,
        answers_allowed: false,
    };
    if name.is_empty() || is_numeric_host(name) {
        return pass;
    }
    let Ok(parsed) = DnsName::from_text(name) else {
        return pass;
    };
    decide_full(cfg, api, &parsed)
}

/// Decides a lookup of an already parsed name (e.g. the QNAME of a `res_send` packet).
pub fn decide_name(cfg: &Config, api: &'static str, parsed: &DnsName) -> bool {
    decide_full(cfg, api, parsed).allow
}

fn decide_full(cfg: &Config, api: &'static str, parsed: &DnsName) -> Lookup {
    let mut answers_allowed = false;
    let mut version = "";
    let (out, decider) = match policy::recent(cfg.policy_bin()) {
        None => fail_outcome(cfg),
        Some(view) => {
            version = view.version();
            let d = view.decide_dns(parsed);
            answers_allowed = d.verdict != guard_policy::Verdict::Deny;
            (outcome(view.mode(), d.verdict), Decider::Rule(d.rule))
        }
    };
    if let Some(action) = out.action {
        let mut rule = RuleText::new();
        decider.write(&mut rule);
        let mut shown = Buf::<1100>::new();
        if write!(shown, "{parsed}").is_err() {
            shown.clear();
        }
        event::send(
            cfg,
            &Event {
                action,
                subject: Subject::Name(shown.as_bytes()),
                argv: core::ptr::null(),
                rule: rule.as_bytes(),
                version,
                api,
                reason: "",
            },
        );
    }
    Lookup {
        allow: out.allow,
        answers_allowed: answers_allowed && out.allow,
    }
}
