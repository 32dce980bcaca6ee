//! guard-waf: a web application firewall engine that loads the OWASP Core Rule Set (SecLang
//! rule files), inspects one HTTP request at a time and returns a [`Verdict`]: the protections
//! that fired, every matching rule, the anomaly score and the action the policy asks for.
//!
//! The crate has no network code: the CNAF proxy in `dns-guard` owns the sockets and calls
//! [`Engine::inspect`] once a request's head (and, within the body limit, its body) is read.
//! The types in this file are the contract between the two; keep them stable.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// A class of attack, as a user switches and tunes it (Prisma's protections). Each CRS rule
/// belongs to one protection by its id range and tags.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    /// SQL injection (CRS 942, libinjection).
    Sqli,
    /// Cross-site scripting (CRS 941, libinjection).
    Xss,
    /// Unix and Windows command injection, shellshock (CRS 932).
    Cmdi,
    /// Code injection: PHP (933), generic/Node (934), Java (944).
    Code,
    /// Local and remote file inclusion, path traversal (930, 931).
    Lfi,
    /// Attack tools and scanners (913).
    Scanners,
    /// Malformed HTTP, smuggling, multipart attacks (920, 921, 922).
    Protocol,
    /// Session fixation (943).
    Session,
    /// NoSQL operator injection (our detector).
    Nosql,
    /// Server-side template injection (our detector).
    Ssti,
    /// LDAP filter injection (our detector).
    Ldap,
    /// CRLF / header injection (our detector beside CRS 921).
    Crlf,
}

impl Protection {
    pub const ALL: [Protection; 12] = [
        Protection::Sqli,
        Protection::Xss,
        Protection::Cmdi,
        Protection::Code,
        Protection::Lfi,
        Protection::Scanners,
        Protection::Protocol,
        Protection::Session,
        Protection::Nosql,
        Protection::Ssti,
        Protection::Ldap,
        Protection::Crlf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Sqli => "sqli",
            Protection::Xss => "xss",
            Protection::Cmdi => "cmdi",
            Protection::Code => "code",
            Protection::Lfi => "lfi",
            Protection::Scanners => "scanners",
            Protection::Protocol => "protocol",
            Protection::Session => "session",
            Protection::Nosql => "nosql",
            Protection::Ssti => "ssti",
            Protection::Ldap => "ldap",
            Protection::Crlf => "crlf",
        }
    }

    pub fn parse(s: &str) -> Option<Protection> {
        Protection::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What happens when a protection fires.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The protection does not run.
    Disable,
    /// Forward the request and report it.
    Alert,
    /// Answer with the block page; the app never sees the request.
    Prevent,
    /// Prevent, and refuse every request of this client for the ban duration.
    Ban,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Disable => "disable",
            Action::Alert => "alert",
            Action::Prevent => "prevent",
            Action::Ban => "ban",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [Action::Disable, Action::Alert, Action::Prevent, Action::Ban]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// A user's exception: where a protection or rule does not apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exception {
    /// Protections the exception applies to (empty: all).
    pub protections: Vec<Protection>,
    /// Rule ids the exception applies to (empty: all rules of the protections).
    pub rules: Vec<u32>,
    /// Path prefix the request's path must start with (None: any path).
    pub path_prefix: Option<String>,
    /// Path regex the request's path must match (None: any path).
    pub path_regex: Option<String>,
    /// Argument, header or cookie names the exception removes from inspection
    /// (`args:name`, `headers:name`, `cookies:name`; empty: the whole request).
    pub targets: Vec<String>,
}

/// Everything the engine needs to load; the `[waf]` policy section maps onto it.
#[derive(Clone, Debug)]
pub struct Config {
    /// A CRS directory: `crs-setup.conf` (or `crs-setup.conf.example`) and `rules/*.conf`.
    pub crs_dir: PathBuf,
    /// CRS paranoia level, 1..=4.
    pub paranoia: u8,
    /// CRS inbound anomaly score threshold (CRS default 5).
    pub inbound_threshold: u32,
    /// The user's own SecLang files, loaded after CRS.
    pub extra_rules: Vec<PathBuf>,
    /// Action per protection; a protection missing here takes `default_action`.
    pub actions: BTreeMap<Protection, Action>,
    /// The action of protections the map does not name.
    pub default_action: Action,
    pub exceptions: Vec<Exception>,
}

impl Config {
    /// The configuration of a fresh `[waf]` section: PL1, threshold 5, every protection prevents.
    pub fn new(crs_dir: impl Into<PathBuf>) -> Config {
        Config {
            crs_dir: crs_dir.into(),
            paranoia: 1,
            inbound_threshold: 5,
            extra_rules: Vec::new(),
            actions: BTreeMap::new(),
            default_action: Action::Prevent,
            exceptions: Vec::new(),
        }
    }

    pub fn action(&self, p: Protection) -> Action {
        self.actions.get(&p).copied().unwrap_or(self.default_action)
    }
}

/// One HTTP request as the proxy read it. Borrowed: the engine copies nothing it does not
/// need to transform.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub client: IpAddr,
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The request target as sent: `/path?query` (or an absolute URI), not decoded.
    pub target: &'a [u8],
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub protocol: &'a str,
    /// Header names and values in the order received, names as sent.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body read so far (up to the proxy's inspection limit).
    pub body: &'a [u8],
    /// True when the body was longer than `body` (the rest was not inspected).
    pub body_truncated: bool,
}

/// One rule that matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleMatch {
    pub id: u32,
    pub msg: String,
    pub protection: Option<Protection>,
    /// The variable that matched, as CRS names it: `ARGS:q`, `REQUEST_HEADERS:User-Agent`.
    pub variable: String,
    /// The matched data, truncated to a short excerpt.
    pub data: String,
    /// The anomaly score this rule added.
    pub score: u32,
}

/// The engine's decision about one request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The strongest action among the protections that fired (`None`: nothing fired).
    pub action: Option<Action>,
    /// CRS inbound anomaly score.
    pub anomaly_score: u32,
    /// Protections that fired (their action is not `disable`), strongest action first.
    pub protections: Vec<Protection>,
    pub matches: Vec<RuleMatch>,
}

impl Verdict {
    pub fn clean() -> Verdict {
        Verdict {
            action: None,
            anomaly_score: 0,
            protections: Vec::new(),
            matches: Vec::new(),
        }
    }

    /// True when the proxy must not forward the request.
    pub fn blocks(&self) -> bool {
        matches!(self.action, Some(Action::Prevent | Action::Ban))
    }
}

/// Why rules could not be loaded. Each names the file and line, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}:{line}: unsupported {construct}")]
    Unsupported {
        path: PathBuf,
        line: usize,
        construct: String,
    },
    #[error("{0}")]
    Config(String),
}

/// A loaded rule set, shared by every request (immutable; `Send + Sync`).
#[derive(Debug)]
pub struct Engine {
    config: Config,
    set: load::RuleSet,
    protections: Vec<Option<Protection>>,
    removed: Vec<bool>,
    exceptions: Vec<protect::CompiledException>,
    regex_cache: std::sync::Mutex<std::collections::HashMap<String, Option<regex::bytes::Regex>>>,
}

impl Engine {
    /// Loads CRS from `config.crs_dir`, then `config.extra_rules`.
    pub fn load(config: &Config) -> Result<Engine, LoadError> {
        if !(1..=4).contains(&config.paranoia) {
            return Err(LoadError::Config(format!(
                "paranoia {}: expected 1 to 4",
                config.paranoia
            )));
        }
        let mut set = load::load(config)?;
        let mut chains: std::collections::HashMap<Vec<rule::Step>, u32> = Default::default();
        for r in &mut set.rules {
            let mut link = Some(r);
            while let Some(l) = link {
                let n = chains.len() as u32;
                l.chain_id = *chains.entry(l.steps.clone()).or_insert(n);
                link = l.next.as_deref_mut();
            }
        }
        let protections: Vec<Option<Protection>> =
            set.rules.iter().map(protect::protection_of).collect();
        let removed = protections
            .iter()
            .map(|p| p.is_some_and(|p| config.action(p) == Action::Disable))
            .collect();
        let exceptions = protect::compile_exceptions(config, &set.rules, &protections)?;
        Ok(Engine {
            config: config.clone(),
            set,
            protections,
            removed,
            exceptions,
            regex_cache: Default::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of rules loaded (a chain counts once).
    pub fn rule_count(&self) -> usize {
        self.set.rules.len()
    }

    /// What the engine accepts but cannot do fully (e.g. `@geoLookup` without a database).
    pub fn notes(&self) -> &[String] {
        &self.set.notes
    }

    /// Inspects one request. Never panics, whatever the input. Stops early once the request
    /// is certain to be prevented, so later rules do not show in the verdict.
    pub fn inspect(&self, request: &Request<'_>) -> Verdict {
        self.run(request, true)
    }

    /// Like [`Engine::inspect`], but evaluates every rule (for explaining and conformance
    /// tests that look for specific rule ids).
    pub fn inspect_full(&self, request: &Request<'_>) -> Verdict {
        self.run(request, false)
    }

    fn run(&self, request: &Request<'_>, early: bool) -> Verdict {
        let mut st = eval::State::new(
            request,
            &self.set,
            self.removed.clone(),
            self.config.paranoia,
        );
        protect::apply_exceptions(
            &self.exceptions,
            request.target,
            &mut st.removed,
            &mut st.removals,
        );
        let threshold = self.config.inbound_threshold.max(1);
        let early_exit: Option<eval::EarlyExit<'_>> = if early {
            Some(Box::new(move |st: &eval::State<'_>, hits: &[eval::Hit]| {
                if st.score() < threshold {
                    return false;
                }
                let blocking: u32 = hits
                    .iter()
                    .filter(|h| {
                        self.protections[h.rule].is_some_and(|p| {
                            matches!(self.config.action(p), Action::Prevent | Action::Ban)
                        })
                    })
                    .map(|h| h.score)
                    .sum();
                blocking >= threshold
            }))
        } else {
            None
        };
        let ev = eval::Evaluator {
            set: &self.set,
            regex_cache: &self.regex_cache,
            early_exit,
        };
        let out = ev.run(&mut st);
        protect::verdict(&self.config, &self.set.rules, &self.protections, out)
    }
}

mod body;
mod eval;
mod load;
mod macros;
mod protect;
mod request;
mod rule;
pub mod seclang;

pub mod detect;
pub mod operator;
pub mod raw;
pub mod transform;

#[cfg(test)]
mod crs_tests;

#[cfg(test)]
mod eval_tests;
