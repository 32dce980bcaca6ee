//! The document schema: walks the format-neutral tree, collecting every error.

use crate::decision::{CnameMode, DnsAnswer, Mode, Verdict};
use crate::document::{DnsSection, Policy, ProcessSection};
use crate::error::PolicyError;
use crate::pattern;
use crate::tree::{Item, Node};

/// Default negative TTL of blocked answers.
pub(crate) const DEFAULT_BLOCK_TTL: u32 = 5;
/// Longest negative TTL (an hour: a longer one would outlive a policy change by too much).
pub(crate) const MAX_BLOCK_TTL: u32 = 3600;

/// Collects errors for one document.
pub(crate) struct Checker<'o> {
    origin: &'o str,
    pub(crate) errors: Vec<PolicyError>,
}

impl<'o> Checker<'o> {
    pub(crate) fn new(origin: &'o str) -> Checker<'o> {
        Checker {
            origin,
            errors: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, line: Option<usize>, field: &str, reason: impl Into<String>) {
        self.errors.push(PolicyError {
            origin: self.origin.to_string(),
            line,
            field: field.to_string(),
            reason: reason.into(),
        });
    }

    /// The whole document.
    pub(crate) fn policy(&mut self, root: &Item<'_>) -> Policy {
        let mut policy = Policy {
            mode: Mode::Enforce,
            dns: DnsSection {
                default: Verdict::Allow,
                answer: DnsAnswer::NxDomain,
                cname: CnameMode::Inspect,
                block_ttl: DEFAULT_BLOCK_TTL,
                allow: Vec::new(),
                deny: Vec::new(),
                alert: Vec::new(),
            },
            process: ProcessSection {
                default: Verdict::Allow,
                allow: Vec::new(),
                deny: Vec::new(),
                alert: Vec::new(),
            },
            net: None,
            waf: None,
        };
        let Some(entries) = self.table(root, "document") else {
            return policy;
        };
        self.duplicates(entries, "");
        for (key, line, item) in entries {
            match key.as_str() {
                "mode" => {
                    if let Some(m) = self.choice(
                        item,
                        "mode",
                        &[("enforce", Mode::Enforce), ("audit", Mode::Audit)],
                    ) {
                        policy.mode = m;
                    }
                }
                "dns" => self.dns(item, &mut policy.dns),
                "process" => self.process(item, &mut policy.process),
                "net" => policy.net = Some(self.net(item)),
                "waf" => policy.waf = Some(self.waf(item)),
                // Written by `CompiledPolicy::to_json`; derived from the content, so ignored.
                "version" => {
                    if !matches!(item.node, Node::Str(_)) {
                        self.error(
                            item.line,
                            "version",
                            format!("expected a string, found {}", item.node.kind()),
                        );
                    }
                }
                other => self.unknown(*line, other, "", &["mode", "dns", "process", "net", "waf"]),
            }
        }
        policy
    }

    fn dns(&mut self, item: &Item<'_>, dns: &mut DnsSection) {
        let Some(entries) = self.table(item, "dns") else {
            return;
        };
        self.duplicates(entries, "dns.");
        let mut default = None;
        for (key, line, item) in entries {
            let field = format!("dns.{key}");
            match key.as_str() {
                "default" => default = self.verdict_default(item, &field),
                "answer" => {
                    let choices = [
                        ("nxdomain", DnsAnswer::NxDomain),
                        ("nodata", DnsAnswer::NoData),
                        ("refused", DnsAnswer::Refused),
                    ];
                    if let Some(a) = self.choice(item, &field, &choices) {
                        dns.answer = a;
                    }
                }
                "cname" => {
                    if let Some(c) = self.choice(
                        item,
                        &field,
                        &[("inspect", CnameMode::Inspect), ("trust", CnameMode::Trust)],
                    ) {
                        dns.cname = c;
                    }
                }
                "block_ttl" => match item.node {
                    Node::Int(n) if (0..=i64::from(MAX_BLOCK_TTL)).contains(&n) => {
                        dns.block_ttl = n as u32
                    }
                    Node::Int(n) => self.error(
                        item.line,
                        &field,
                        format!("{n} is out of range; expected seconds from 0 to {MAX_BLOCK_TTL}"),
                    ),
                    ref other => self.error(
                        item.line,
                        &field,
                        format!(
                            "expected an integer (seconds from 0 to {MAX_BLOCK_TTL}), found {}",
                            other.kind()
                        ),
                    ),
                },
                "allow" => dns.allow = self.patterns(item, &field, pattern::dns),
                "deny" => dns.deny = self.patterns(item, &field, pattern::dns),
                "alert" => dns.alert = self.patterns(item, &field, pattern::dns),
                other => self.unknown(
                    *line,
                    other,
                    "dns.",
                    &[
                        "default",
                        "answer",
                        "cname",
                        "block_ttl",
                        "allow",
                        "deny",
                        "alert",
                    ],
                ),
            }
        }
        match default {
            Some(v) => dns.default = v,
            None => {
                if !entries.iter().any(|e| e.0 == "default") {
                    self.error(item.line, "dns.default", "missing; a [dns] section must say `default = \"allow\"` or `default = \"deny\"`");
                }
            }
        }
    }

    fn process(&mut self, item: &Item<'_>, process: &mut ProcessSection) {
        let Some(entries) = self.table(item, "process") else {
            return;
        };
        self.duplicates(entries, "process.");
        let mut default = None;
        for (key, line, item) in entries {
            let field = format!("process.{key}");
            match key.as_str() {
                "default" => default = self.verdict_default(item, &field),
                "allow" => process.allow = self.patterns(item, &field, pattern::process),
                "deny" => process.deny = self.patterns(item, &field, pattern::process),
                "alert" => process.alert = self.patterns(item, &field, pattern::process),
                other => self.unknown(
                    *line,
                    other,
                    "process.",
                    &["default", "allow", "deny", "alert"],
                ),
            }
        }
        match default {
            Some(v) => process.default = v,
            None => {
                if !entries.iter().any(|e| e.0 == "default") {
                    self.error(item.line, "process.default", "missing; a [process] section must say `default = \"allow\"` or `default = \"deny\"`");
                }
            }
        }
    }

    fn net(&mut self, item: &Item<'_>) -> crate::net::NetSection {
        use crate::net::{MAX_GRACE, NetSection, normalise};
        let mut net = NetSection::default();
        let Some(entries) = self.table(item, "net") else {
            return net;
        };
        self.duplicates(entries, "net.");
        let mut default = None;
        for (key, line, item) in entries {
            let field = format!("net.{key}");
            match key.as_str() {
                "default" => default = self.verdict_default(item, &field),
                "grace" => match item.node {
                    Node::Int(n) if (0..=i64::from(MAX_GRACE)).contains(&n) => net.grace = n as u32,
                    ref other => self.error(
                        item.line,
                        &field,
                        format!(
                            "expected seconds from 0 to {MAX_GRACE} (an integer), found {}",
                            match other {
                                Node::Int(n) => n.to_string(),
                                other => other.kind().to_string(),
                            }
                        ),
                    ),
                },
                "allow" => net.allow = self.patterns(item, &field, normalise),
                "deny" => net.deny = self.patterns(item, &field, normalise),
                "alert" => net.alert = self.patterns(item, &field, normalise),
                other => self.unknown(
                    *line,
                    other,
                    "net.",
                    &["default", "grace", "allow", "deny", "alert"],
                ),
            }
        }
        match default {
            Some(v) => net.default = v,
            None => {
                if !entries.iter().any(|e| e.0 == "default") {
                    self.error(item.line, "net.default", "missing; a [net] section must say `default = \"allow\"` or `default = \"deny\"`");
                }
            }
        }
        net
    }

    /// Reports keys that appear more than once (JSON allows it; TOML does not parse).
    pub(crate) fn duplicates(
        &mut self,
        entries: &[(String, Option<usize>, Item<'_>)],
        prefix: &str,
    ) {
        for (i, (key, line, _)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|e| e.0 == *key) {
                self.error(
                    *line,
                    &format!("{prefix}{key}"),
                    "duplicate field; each field may appear once",
                );
            }
        }
    }

    pub(crate) fn table<'i>(
        &mut self,
        item: &'i Item<'_>,
        field: &str,
    ) -> Option<&'i [(String, Option<usize>, Item<'i>)]> {
        match &item.node {
            Node::Table(entries) => Some(entries),
            other => {
                self.error(
                    item.line,
                    field,
                    format!("expected a table, found {}", other.kind()),
                );
                None
            }
        }
    }

    pub(crate) fn unknown(&mut self, line: Option<usize>, key: &str, prefix: &str, known: &[&str]) {
        self.error(
            line,
            &format!("{prefix}{key}"),
            format!("unknown field; expected one of: {}", known.join(", ")),
        );
    }

    pub(crate) fn choice<T: Copy>(
        &mut self,
        item: &Item<'_>,
        field: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let expected: Vec<String> = choices.iter().map(|c| format!("\"{}\"", c.0)).collect();
        let expected = expected.join(" or ");
        match &item.node {
            Node::Str(s) => match choices.iter().find(|c| c.0 == s) {
                Some(c) => Some(c.1),
                None => {
                    self.error(
                        item.line,
                        field,
                        format!("expected {expected}, found \"{s}\""),
                    );
                    None
                }
            },
            other => {
                self.error(
                    item.line,
                    field,
                    format!("expected {expected}, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn verdict_default(&mut self, item: &Item<'_>, field: &str) -> Option<Verdict> {
        self.choice(
            item,
            field,
            &[("allow", Verdict::Allow), ("deny", Verdict::Deny)],
        )
    }

    /// A list of patterns, each normalised; sorted and de-duplicated.
    fn patterns(
        &mut self,
        item: &Item<'_>,
        field: &str,
        normalise: fn(&str) -> Result<String, String>,
    ) -> Vec<String> {
        let Node::Array(items) = &item.node else {
            self.error(
                item.line,
                field,
                format!("expected an array of strings, found {}", item.node.kind()),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, element) in items.iter().enumerate() {
            // The element's field name is only formatted for an error: 100k rules.
            let at = || format!("{field}[{i}]");
            match &element.node {
                Node::Str(raw) => match normalise(raw) {
                    Ok(p) => out.push(p),
                    Err(reason) => self.error(element.line, &at(), format!("`{raw}`: {reason}")),
                },
                other => self.error(
                    element.line,
                    &at(),
                    format!("expected a string, found {}", other.kind()),
                ),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
