//! The guard's settings, snapshot once from the environment into one fixed buffer.

use core::ffi::CStr;

use guard_contract as contract;

use crate::buf::Buf;

/// The variables put back into a child's environment when a caller drops them.
pub const INJECTED: [&str; 4] = [
    contract::env::POLICY,
    contract::env::EVENTS,
    contract::env::CONTAINER,
    contract::env::FAIL,
];

/// Room for all the settings' text. They are packed one after the other (usually a few
/// hundred bytes in all), so a process writes one page for them, not one per field: every
/// page of the snapshot is a page fault in every process.
const TEXT_CAP: usize = 3584;

/// Longest value kept for each setting (a longer one is treated as unset).
const PATH_MAX_LEN: usize = 1023;
const SOCKET_MAX_LEN: usize = 107;
const CONTAINER_MAX_LEN: usize = 255;
const ENTRY_MAX_LEN: usize = 511;

/// Where one value sits in the text (`len` bytes, then a NUL).
#[derive(Clone, Copy, Default)]
struct Span {
    start: u16,
    len: u16,
}

/// Settings of one process. Built before any hook decides and never changed afterwards.
///
/// `repr(C)` with the text last: the fields written first sit at the start, next to the
/// beginning of the text, so a typical snapshot stays on one page.
#[repr(C)]
pub struct Config {
    policy_bin: Span,
    answers: Span,
    events: Span,
    container: Span,
    self_lib: Span,
    exe: Span,
    inject: [Span; 4],
    /// `GUARD_FAIL=open`: allow everything while no valid policy is available.
    pub fail_open: bool,
    text: Buf<TEXT_CAP>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    pub const fn new() -> Config {
        Config {
            policy_bin: Span { start: 0, len: 0 },
            answers: Span { start: 0, len: 0 },
            events: Span { start: 0, len: 0 },
            container: Span { start: 0, len: 0 },
            self_lib: Span { start: 0, len: 0 },
            exe: Span { start: 0, len: 0 },
            inject: [Span { start: 0, len: 0 }; 4],
            fail_open: false,
            text: Buf::new(),
        }
    }

    /// Appends `parts` as one value (at most `max` bytes); an empty span when it does not fit.
    fn put(&mut self, parts: &[&[u8]], max: usize) -> Span {
        let start = self.text.len();
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let fits = len <= max
            && u16::try_from(start + len).is_ok()
            && parts.iter().all(|p| self.text.push(p))
            && self.text.push_byte(0);
        if !fits {
            self.text.truncate(start);
            return Span::default();
        }
        Span {
            start: start as u16,
            len: len as u16,
        }
    }

    fn get(&self, span: Span) -> &[u8] {
        let start = usize::from(span.start);
        self.text
            .as_bytes()
            .get(start..start + usize::from(span.len))
            .unwrap_or(&[])
    }

    fn get_cstr(&self, span: Span) -> &CStr {
        let start = usize::from(span.start);
        self.text
            .as_bytes()
            .get(start..=start + usize::from(span.len))
            .and_then(|b| CStr::from_bytes_with_nul(b).ok())
            .unwrap_or(c"")
    }

    /// `policy.bin` beside `GUARD_POLICY` (default `/guard/run/policy.bin`).
    pub fn policy_bin(&self) -> &CStr {
        self.get_cstr(self.policy_bin)
    }

    /// The answers ledger beside `policy.bin` (`answers.bin`).
    pub fn answers(&self) -> &CStr {
        self.get_cstr(self.answers)
    }

    /// The sidecar's event socket (`GUARD_EVENTS`, default `/guard/run/events.sock`).
    pub fn events(&self) -> &[u8] {
        self.get(self.events)
    }

    pub fn container(&self) -> &[u8] {
        self.get(self.container)
    }

    /// The shim's own path, appended to `LD_PRELOAD` of children that lost it.
    pub fn self_lib(&self) -> &[u8] {
        self.get(self.self_lib)
    }

    /// This process's executable, for the constructor's check and the `exe` field of events.
    pub fn exe(&self) -> &CStr {
        self.get_cstr(self.exe)
    }

    /// `KEY=VALUE` of [`INJECTED`] variable `i` when it was set (else empty), for children
    /// that lost it.
    pub fn inject(&self, i: usize) -> &CStr {
        match self.inject.get(i) {
            Some(&span) => self.get_cstr(span),
            None => c"",
        }
    }

    pub fn set_exe(&mut self, exe: &[u8]) {
        self.exe = self.put(&[exe], PATH_MAX_LEN);
    }

    pub fn set_self_lib(&mut self, lib: &[u8]) {
        self.self_lib = self.put(&[lib], PATH_MAX_LEN);
    }

    /// Reads the settings through `get` (a `getenv`), after whatever was set already
    /// ([`Config::set_exe`] first: the constructor's check depends on it). Values that do not
    /// fit are treated as unset, so a bad value falls back to the contract's default.
    pub fn load<'a>(&mut self, get: &dyn Fn(&str) -> Option<&'a [u8]>) {
        let policy = get(contract::env::POLICY).filter(|p| !p.is_empty());
        let policy = policy.unwrap_or(contract::POLICY_JSON.as_bytes());
        let dir = match policy.iter().rposition(|&b| b == b'/') {
            Some(end) => policy.get(..=end).unwrap_or(b"/"),
            None => &[],
        };
        self.policy_bin = self.put(&[dir, contract::POLICY_BIN_FILE.as_bytes()], PATH_MAX_LEN);
        if self.policy_bin.len == 0 {
            self.policy_bin = self.put(&[contract::POLICY_BIN.as_bytes()], PATH_MAX_LEN);
            self.answers = self.put(&[contract::ANSWERS.as_bytes()], PATH_MAX_LEN);
        } else {
            self.answers = self.put(&[dir, contract::ANSWERS_FILE.as_bytes()], PATH_MAX_LEN);
        }

        let events = get(contract::env::EVENTS).filter(|p| !p.is_empty());
        self.events = events.map_or(Span::default(), |e| self.put(&[e], SOCKET_MAX_LEN));
        if self.events.len == 0 {
            self.events = self.put(&[contract::EVENTS_SOCK.as_bytes()], SOCKET_MAX_LEN);
        }
        self.fail_open = get(contract::env::FAIL) == Some(contract::FAIL_OPEN.as_bytes());
        if let Some(c) = get(contract::env::CONTAINER) {
            self.container = self.put(&[c], CONTAINER_MAX_LEN);
        }
        for (i, key) in INJECTED.iter().enumerate() {
            if let Some(value) = get(key) {
                let span = self.put(&[key.as_bytes(), b"=", value], ENTRY_MAX_LEN);
                if let Some(slot) = self.inject.get_mut(i) {
                    *slot = span;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_with_contract_defaults() {
        let mut cfg = Config::new();
        cfg.set_exe(b"/usr/bin/app");
        cfg.load(&|key| match key {
            "GUARD_POLICY" => Some(b"/x/run/policy.json"),
            "GUARD_CONTAINER" => Some(b"web"),
            "GUARD_FAIL" => Some(b"open"),
            _ => None,
        });
        cfg.set_self_lib(b"/guard/lib/libguard_preload.so");
        assert_eq!(cfg.policy_bin(), c"/x/run/policy.bin");
        assert_eq!(cfg.events(), contract::EVENTS_SOCK.as_bytes());
        assert_eq!(cfg.container(), b"web");
        assert!(cfg.fail_open);
        assert_eq!(cfg.exe(), c"/usr/bin/app");
        assert_eq!(cfg.self_lib(), b"/guard/lib/libguard_preload.so");
        assert_eq!(cfg.inject(0), c"GUARD_POLICY=/x/run/policy.json");
        assert_eq!(cfg.inject(1), c"");
        assert_eq!(cfg.inject(2), c"GUARD_CONTAINER=web");
        assert_eq!(cfg.inject(3), c"GUARD_FAIL=open");

        let mut unset = Config::new();
        unset.load(&|_| None);
        assert_eq!(
            unset.policy_bin().to_bytes(),
            contract::POLICY_BIN.as_bytes()
        );
        assert!(!unset.fail_open);
    }

    #[test]
    fn an_oversized_value_is_treated_as_unset_and_the_rest_still_fits() {
        let mut long = std::vec![b'a'; 2000];
        long[0] = b'/';
        long[1500] = b'/';
        let long = long.as_slice();
        let mut cfg = Config::new();
        cfg.set_exe(b"/bin/app");
        cfg.load(&|key| match key {
            "GUARD_POLICY" => Some(long),
            "GUARD_CONTAINER" => Some(long),
            "GUARD_EVENTS" => Some(b"/run/e.sock"),
            _ => None,
        });
        assert_eq!(cfg.policy_bin().to_bytes(), contract::POLICY_BIN.as_bytes());
        assert_eq!(cfg.container(), b"");
        assert_eq!(cfg.events(), b"/run/e.sock");
        assert_eq!(cfg.exe(), c"/bin/app");
    }
}
