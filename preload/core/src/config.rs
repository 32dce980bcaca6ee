//! The guard's settings, snapshot once from the environment into fixed buffers.

use guard_contract as contract;

use crate::buf::Buf;

/// The variables put back into a child's environment when a caller drops them.
pub const INJECTED: [&str; 4] = [
    contract::env::POLICY,
    contract::env::EVENTS,
    contract::env::CONTAINER,
    contract::env::FAIL,
];

/// Room for one `KEY=VALUE` (a longer value is not put back into children).
pub type EnvEntry = Buf<512>;

/// Settings of one process. Built before any hook decides and never changed afterwards.
pub struct Config {
    /// `policy.bin` beside `GUARD_POLICY` (default `/guard/run/policy.bin`).
    pub policy_bin: Buf<1024>,
    /// The sidecar's event socket (`GUARD_EVENTS`, default `/guard/run/events.sock`).
    pub events: Buf<108>,
    pub container: Buf<256>,
    /// `GUARD_FAIL=open`: allow everything while no valid policy is available.
    pub fail_open: bool,
    /// The shim's own path, appended to `LD_PRELOAD` of children that lost it.
    pub self_lib: Buf<1024>,
    /// This process's executable, for the `exe` field of events.
    pub exe: Buf<1024>,
    /// `KEY=VALUE` of each [`INJECTED`] variable that was set, for children that lost it.
    pub inject: [EnvEntry; 4],
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    pub const fn new() -> Config {
        Config {
            policy_bin: Buf::new(),
            events: Buf::new(),
            container: Buf::new(),
            fail_open: false,
            self_lib: Buf::new(),
            exe: Buf::new(),
            inject: [const { Buf::new() }; 4],
        }
    }

    /// Reads the settings through `get` (a `getenv`). Values that do not fit their buffer
    /// are treated as unset, so a bad value falls back to the contract's default.
    pub fn load<'a>(&mut self, get: &dyn Fn(&str) -> Option<&'a [u8]>) {
        let policy = get(contract::env::POLICY).filter(|p| !p.is_empty());
        let policy = policy.unwrap_or(contract::POLICY_JSON.as_bytes());
        let dir_end = policy.iter().rposition(|&b| b == b'/');
        self.policy_bin.clear();
        let ok = match dir_end {
            Some(end) => self.policy_bin.push(policy.get(..=end).unwrap_or(b"/")),
            None => true,
        } && self.policy_bin.push(contract::POLICY_BIN_FILE.as_bytes());
        if !ok {
            self.policy_bin.set(contract::POLICY_BIN.as_bytes());
        }

        let events = get(contract::env::EVENTS).filter(|p| !p.is_empty());
        if !events.is_some_and(|e| self.events.set(e)) {
            self.events.set(contract::EVENTS_SOCK.as_bytes());
        }
        self.container.clear();
        if let Some(c) = get(contract::env::CONTAINER) {
            self.container.set(c);
        }
        self.fail_open = get(contract::env::FAIL) == Some(contract::FAIL_OPEN.as_bytes());
        for (slot, key) in self.inject.iter_mut().zip(INJECTED) {
            slot.clear();
            if let Some(value) = get(key)
                && !(slot.push(key.as_bytes()) && slot.push_byte(b'=') && slot.push(value))
            {
                slot.clear();
            }
        }
    }
}
