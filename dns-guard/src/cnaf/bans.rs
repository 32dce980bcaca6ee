//! Banned clients and per-client request rates, in memory (a sidecar restart forgets them,
//! as a task restart would).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Rate windows: the burst window and the average window.
const BURST: Duration = Duration::from_secs(5);
const AVERAGE: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Bans {
    until: DashMap<IpAddr, Instant>,
    rates: DashMap<IpAddr, Windows>,
}

/// Fixed windows: cheap, and at most a factor of two off at a window edge.
struct Windows {
    burst_start: Instant,
    burst: u32,
    average_start: Instant,
    average: u32,
}

impl Bans {
    /// Refuses `ip` until `ban` from now (from its last attack).
    pub fn ban(&self, ip: IpAddr, ban: Duration) {
        self.until.insert(ip, Instant::now() + ban);
    }

    pub fn banned(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        match self.until.get(&ip).map(|t| *t) {
            Some(t) if t > now => true,
            Some(_) => {
                self.until.remove_if(&ip, |_, t| *t <= now);
                false
            }
            None => false,
        }
    }

    pub fn active(&self) -> usize {
        let now = Instant::now();
        self.until.retain(|_, t| *t > now);
        self.until.len()
    }

    /// Counts one request; true when it goes over `burst` in 5 s or `average`/s over 120 s.
    pub fn over_rate(&self, ip: IpAddr, burst: u32, average: u32) -> bool {
        let now = Instant::now();
        let mut w = self.rates.entry(ip).or_insert(Windows {
            burst_start: now,
            burst: 0,
            average_start: now,
            average: 0,
        });
        if now.duration_since(w.burst_start) >= BURST {
            w.burst_start = now;
            w.burst = 0;
        }
        if now.duration_since(w.average_start) >= AVERAGE {
            w.average_start = now;
            w.average = 0;
        }
        w.burst += 1;
        w.average += 1;
        (burst > 0 && w.burst > burst)
            || (average > 0 && u64::from(w.average) > u64::from(average) * AVERAGE.as_secs())
    }
}
