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
}

impl Engine {
    /// Loads CRS from `config.crs_dir`, then `config.extra_rules`.
    pub fn load(config: &Config) -> Result<Engine, LoadError> {
        Ok(Engine {
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Inspects one request. Never panics, whatever the input.
    pub fn inspect(&self, _request: &Request<'_>) -> Verdict {
        Verdict::clean()
    }
}

pub mod detect;
pub mod operator;
pub mod raw;
pub mod transform;
