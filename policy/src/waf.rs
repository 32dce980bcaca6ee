//! The `[waf]` section: the CNAF reverse proxy in front of the task's web app.
//!
//! Only the sidecar reads it (the shims ignore it: it is not in the blob). It is validated
//! here, with the same file/line/field errors as the rest of the document, so a bad section
//! refuses the whole policy before the proxy sees it; the rule files themselves are loaded
//! (and their errors reported) by the sidecar with `guard-waf`.
//!
//! The serialised form uses the document's field names, so the canonical `policy.json` reads
//! back to an equal section.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::schema::Checker;
use crate::tree::{Item, Node};

/// The protections `guard-waf` knows (its `Protection::as_str` names; a test in dns-guard
/// keeps the two lists equal).
pub const PROTECTIONS: [&str; 12] = [
    "sqli", "xss", "cmdi", "code", "lfi", "scanners", "protocol", "session", "nosql", "ssti",
    "ldap", "crlf",
];
/// The actions a protection may take (`guard-waf`'s `Action` names).
pub const ACTIONS: [&str; 4] = ["disable", "alert", "prevent", "ban"];

pub const DEFAULT_CRS: &str = "/usr/share/modsecurity-crs";
pub const DEFAULT_BAN_SECONDS: u32 = 300;
pub const DEFAULT_BODY_LIMIT: u32 = 128 * 1024;
/// Largest body the proxy buffers for inspection (a sidecar shares the task's memory).
pub const MAX_BODY_LIMIT: u32 = 16 * 1024 * 1024;

/// `[waf]`, normalised.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WafSection {
    /// The exposed address, e.g. `0.0.0.0:80`.
    pub listen: SocketAddr,
    /// The app's address, e.g. `127.0.0.1:8080`.
    pub app: SocketAddr,
    /// The CRS directory (`crs-setup.conf` + `rules/`).
    pub crs: String,
    pub paranoia: u8,
    pub inbound_threshold: u32,
    /// `None`: the policy's own `mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<WafMode>,
    /// Action per protection (name → action name); the others take `default_action`.
    pub actions: BTreeMap<String, String>,
    pub default_action: String,
    pub exceptions: Vec<WafException>,
    pub extra_rules: Vec<String>,
    /// Seconds a banned client stays refused after its last attack.
    pub ban_seconds: u32,
    /// Bytes of body buffered and inspected.
    pub body_limit: u32,
    /// What happens to a body longer than the limit: `disable` (forward, not reported),
    /// `alert` (forward, reported), `prevent` (block page).
    pub body_over_limit: String,
    pub block_page: BlockPage,
    /// The client is the first `X-Forwarded-For` address instead of the peer.
    pub behind_load_balancer: bool,
    pub clients: ClientLists,
    pub headers: Vec<HeaderRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    pub limits: Limits,
    pub response: ResponseSwitches,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WafMode {
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WafException {
    pub protections: Vec<String>,
    pub rules: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// `args:name`, `headers:name`, `cookies:name`.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockPage {
    pub status: u16,
    /// `{event_id}` is replaced with the event's id.
    pub body: String,
}

impl Default for BlockPage {
    fn default() -> Self {
        BlockPage {
            status: 403,
            body: "Request blocked by TaskGuard. Event id: {event_id}\n".to_string(),
        }
    }
}

/// Client networks (IPv4 and IPv6 CIDR, normalised to the network address).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientLists {
    /// Refused before inspection.
    pub deny: Vec<String>,
    /// Forwarded without inspection.
    pub exempt: Vec<String>,
}

/// A header the request must (not) carry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeaderRule {
    /// Lower case.
    pub name: String,
    /// Regexes over the value; a match fires the rule (empty: any value).
    pub values: Vec<String>,
    /// The rule fires when the header is missing (and `values`, if any, are ignored).
    pub required: bool,
    pub action: String,
}

/// Requests per client: `burst` in any 5 s, `average` per second over 120 s.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RateLimit {
    pub burst: u32,
    pub average: u32,
    /// `alert` or `ban`.
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    pub header_bytes: u32,
    pub header_count: u32,
    pub request_line: u32,
    pub header_timeout: u32,
    pub idle_timeout: u32,
    pub max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: 16 * 1024,
            header_count: 100,
            request_line: 8 * 1024,
            header_timeout: 10,
            idle_timeout: 60,
            max_connections: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResponseSwitches {
    /// `X-Frame-Options` value set on every response (`DENY`, `SAMEORIGIN`), `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_options: Option<String>,
    /// `SameSite` added to `Set-Cookie` without one (`Lax`, `Strict`, `None`), `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
    /// Remove `Server`, `X-Powered-By`, `X-AspNet-Version`, `X-AspNetMvc-Version`.
    pub strip_server_headers: bool,
}

impl Default for ResponseSwitches {
    fn default() -> Self {
        ResponseSwitches {
            frame_options: None,
            same_site: None,
            strip_server_headers: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tls {
    pub cert: String,
    pub key: String,
}

type Entries<'i> = [(String, Option<usize>, Item<'i>)];

impl Checker<'_> {
    pub(crate) fn waf(&mut self, item: &Item<'_>) -> WafSection {
        let unspecified: SocketAddr = ([0, 0, 0, 0], 0).into();
        let mut waf = WafSection {
            listen: unspecified,
            app: unspecified,
            crs: DEFAULT_CRS.to_string(),
            paranoia: 1,
            inbound_threshold: 5,
            mode: None,
            actions: BTreeMap::new(),
            default_action: "prevent".to_string(),
            exceptions: Vec::new(),
            extra_rules: Vec::new(),
            ban_seconds: DEFAULT_BAN_SECONDS,
            body_limit: DEFAULT_BODY_LIMIT,
            body_over_limit: "alert".to_string(),
            block_page: BlockPage::default(),
            behind_load_balancer: false,
            clients: ClientLists::default(),
            headers: Vec::new(),
            rate_limit: None,
            limits: Limits::default(),
            response: ResponseSwitches::default(),
            tls: None,
        };
        let Some(entries) = self.table(item, "waf") else {
            return waf;
        };
        self.duplicates(entries, "waf.");
        for (key, line, item) in entries {
            let field = format!("waf.{key}");
            match key.as_str() {
                "listen" => waf.listen = self.addr(item, &field).unwrap_or(unspecified),
                "app" => waf.app = self.addr(item, &field).unwrap_or(unspecified),
                "crs" => waf.crs = self.path(item, &field).unwrap_or_default(),
                "paranoia" => waf.paranoia = self.int(item, &field, 1, 4).unwrap_or(1) as u8,
                "inbound_threshold" => {
                    waf.inbound_threshold = self.int(item, &field, 1, 10_000).unwrap_or(5)
                }
                "mode" => {
                    waf.mode = self.choice(
                        item,
                        &field,
                        &[("enforce", WafMode::Enforce), ("audit", WafMode::Audit)],
                    )
                }
                "actions" => waf.actions = self.actions(item, &field),
                "default_action" => {
                    if let Some(a) = self.action(item, &field, &ACTIONS) {
                        waf.default_action = a;
                    }
                }
                "exceptions" => waf.exceptions = self.exceptions(item, &field),
                "extra_rules" => {
                    waf.extra_rules = self.list(item, &field, |c, i, f| c.path(i, f));
                }
                "ban_seconds" => {
                    waf.ban_seconds = self.int(item, &field, 1, 86_400).unwrap_or_default()
                }
                "body_limit" => {
                    waf.body_limit = self
                        .int(item, &field, 0, MAX_BODY_LIMIT)
                        .unwrap_or_default()
                }
                "body_over_limit" => {
                    if let Some(a) = self.action(item, &field, &["disable", "alert", "prevent"]) {
                        waf.body_over_limit = a;
                    }
                }
                "block_page" => self.block_page(item, &field, &mut waf.block_page),
                "behind_load_balancer" => {
                    waf.behind_load_balancer = self.bool(item, &field).unwrap_or_default()
                }
                "clients" => self.clients(item, &field, &mut waf.clients),
                "headers" => waf.headers = self.list(item, &field, Checker::header_rule),
                "rate_limit" => waf.rate_limit = self.rate_limit(item, &field),
                "limits" => self.limits(item, &field, &mut waf.limits),
                "response" => self.response(item, &field, &mut waf.response),
                "tls" => waf.tls = self.tls(item, &field),
                other => self.unknown(
                    *line,
                    other,
                    "waf.",
                    &[
                        "listen",
                        "app",
                        "crs",
                        "paranoia",
                        "inbound_threshold",
                        "mode",
                        "actions",
                        "default_action",
                        "exceptions",
                        "extra_rules",
                        "ban_seconds",
                        "body_limit",
                        "body_over_limit",
                        "block_page",
                        "behind_load_balancer",
                        "clients",
                        "headers",
                        "rate_limit",
                        "limits",
                        "response",
                        "tls",
                    ],
                ),
            }
        }
        for required in ["listen", "app"] {
            if !entries.iter().any(|e| e.0 == required) {
                self.error(
                    item.line,
                    &format!("waf.{required}"),
                    "missing; a [waf] section must name `listen` (the exposed address, e.g. \"0.0.0.0:80\") and `app` (the app's address, e.g. \"127.0.0.1:8080\")",
                );
            }
        }
        if entries.iter().any(|e| e.0 == "listen") && waf.listen == waf.app {
            self.error(
                item.line,
                "waf.app",
                "must differ from waf.listen (the proxy would forward to itself)",
            );
        }
        waf
    }

    fn string(&mut self, item: &Item<'_>, field: &str, what: &str) -> Option<String> {
        match &item.node {
            Node::Str(s) => Some(s.to_string()),
            other => {
                self.error(
                    item.line,
                    field,
                    format!("expected {what}, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn addr(&mut self, item: &Item<'_>, field: &str) -> Option<SocketAddr> {
        let what = "an address with a port as a string, e.g. \"0.0.0.0:80\" or \"[::1]:8080\"";
        let s = self.string(item, field, what)?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(item.line, field, format!("expected {what}, found \"{s}\""));
                None
            }
        }
    }

    fn path(&mut self, item: &Item<'_>, field: &str) -> Option<String> {
        let s = self.string(item, field, "a file path as a string")?;
        if s.is_empty() {
            self.error(item.line, field, "expected a file path, found \"\"");
            return None;
        }
        Some(s)
    }

    fn int(&mut self, item: &Item<'_>, field: &str, min: u32, max: u32) -> Option<u32> {
        match item.node {
            Node::Int(n) if (i64::from(min)..=i64::from(max)).contains(&n) => Some(n as u32),
            Node::Int(n) => {
                self.error(
                    item.line,
                    field,
                    format!("{n} is out of range; expected an integer from {min} to {max}"),
                );
                None
            }
            ref other => {
                self.error(
                    item.line,
                    field,
                    format!(
                        "expected an integer from {min} to {max}, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }

    fn bool(&mut self, item: &Item<'_>, field: &str) -> Option<bool> {
        match item.node {
            Node::Bool(b) => Some(b),
            ref other => {
                self.error(
                    item.line,
                    field,
                    format!("expected true or false, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn action(&mut self, item: &Item<'_>, field: &str, allowed: &[&str]) -> Option<String> {
        let pairs: Vec<(&str, &str)> = allowed.iter().map(|a| (*a, *a)).collect();
        self.choice(item, field, &pairs).map(str::to_string)
    }

    fn protection(&mut self, item: &Item<'_>, field: &str) -> Option<String> {
        let pairs: Vec<(&str, &str)> = PROTECTIONS.iter().map(|a| (*a, *a)).collect();
        self.choice(item, field, &pairs).map(str::to_string)
    }

    fn regex(&mut self, item: &Item<'_>, field: &str) -> Option<String> {
        let s = self.string(item, field, "a regular expression as a string")?;
        match regex::Regex::new(&s) {
            Ok(_) => Some(s),
            Err(e) => {
                self.error(
                    item.line,
                    field,
                    format!("`{s}` is not a valid regular expression: {e}"),
                );
                None
            }
        }
    }

    /// An array; each element checked by `each` (which reports its own errors).
    fn list<T>(
        &mut self,
        item: &Item<'_>,
        field: &str,
        mut each: impl FnMut(&mut Self, &Item<'_>, &str) -> Option<T>,
    ) -> Vec<T> {
        let Node::Array(items) = &item.node else {
            self.error(
                item.line,
                field,
                format!("expected an array, found {}", item.node.kind()),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, e)| each(self, e, &format!("{field}[{i}]")))
            .collect()
    }

    fn entries<'i>(&mut self, item: &'i Item<'_>, field: &str) -> Option<&'i Entries<'i>> {
        let entries = self.table(item, field)?;
        self.duplicates(entries, &format!("{field}."));
        Some(entries)
    }

    fn actions(&mut self, item: &Item<'_>, field: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.entries(item, field) else {
            return out;
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            if !PROTECTIONS.contains(&key.as_str()) {
                self.unknown(*line, key, &format!("{field}."), &PROTECTIONS);
                continue;
            }
            if let Some(a) = self.action(value, &f, &ACTIONS) {
                out.insert(key.clone(), a);
            }
        }
        out
    }

    fn exceptions(&mut self, item: &Item<'_>, field: &str) -> Vec<WafException> {
        self.list(item, field, |c, item, field| {
            let entries = c.entries(item, field)?;
            let mut e = WafException::default();
            for (key, line, value) in entries {
                let f = format!("{field}.{key}");
                match key.as_str() {
                    "protections" => e.protections = c.list(value, &f, Checker::protection),
                    "rules" => e.rules = c.list(value, &f, |c, i, f| c.int(i, f, 1, u32::MAX)),
                    "path_prefix" => {
                        e.path_prefix =
                            c.string(value, &f, "a path prefix as a string, e.g. \"/api/\"")
                    }
                    "path_regex" => e.path_regex = c.regex(value, &f),
                    "targets" => {
                        e.targets = c.list(value, &f, |c, i, f| {
                            let what = "`args:NAME`, `headers:NAME` or `cookies:NAME`";
                            let t = c.string(i, f, what)?;
                            match t.split_once(':') {
                                Some(("args" | "headers" | "cookies", name))
                                    if !name.is_empty() =>
                                {
                                    Some(t)
                                }
                                _ => {
                                    c.error(i.line, f, format!("expected {what}, found \"{t}\""));
                                    None
                                }
                            }
                        })
                    }
                    other => c.unknown(
                        *line,
                        other,
                        &format!("{field}."),
                        &[
                            "protections",
                            "rules",
                            "path_prefix",
                            "path_regex",
                            "targets",
                        ],
                    ),
                }
            }
            e.protections.sort();
            e.protections.dedup();
            e.rules.sort_unstable();
            e.rules.dedup();
            Some(e)
        })
    }

    fn block_page(&mut self, item: &Item<'_>, field: &str, page: &mut BlockPage) {
        let Some(entries) = self.entries(item, field) else {
            return;
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            match key.as_str() {
                "status" => {
                    if let Some(s) = self.int(value, &f, 400, 599) {
                        page.status = s as u16;
                    }
                }
                "body" => {
                    if let Some(b) = self.string(value, &f, "the page as a string") {
                        page.body = b;
                    }
                }
                other => self.unknown(*line, other, &format!("{field}."), &["status", "body"]),
            }
        }
    }

    fn cidr(&mut self, item: &Item<'_>, field: &str) -> Option<String> {
        let what = "an IPv4 or IPv6 network as a string, e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or \"192.0.2.7\"";
        let s = self.string(item, field, what)?;
        match normalise_cidr(&s) {
            Some(n) => Some(n),
            None => {
                self.error(item.line, field, format!("expected {what}, found \"{s}\""));
                None
            }
        }
    }

    fn clients(&mut self, item: &Item<'_>, field: &str, clients: &mut ClientLists) {
        let Some(entries) = self.entries(item, field) else {
            return;
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            let list = match key.as_str() {
                "deny" => &mut clients.deny,
                "exempt" => &mut clients.exempt,
                other => {
                    self.unknown(*line, other, &format!("{field}."), &["deny", "exempt"]);
                    continue;
                }
            };
            let mut v = self.list(value, &f, Checker::cidr);
            v.sort();
            v.dedup();
            *list = v;
        }
    }

    fn header_rule(&mut self, item: &Item<'_>, field: &str) -> Option<HeaderRule> {
        let entries = self.entries(item, field)?;
        let mut rule = HeaderRule {
            name: String::new(),
            values: Vec::new(),
            required: false,
            action: "prevent".to_string(),
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            match key.as_str() {
                "name" => {
                    let what = "a header name as a string, e.g. \"X-Api-Key\"";
                    if let Some(n) = self.string(value, &f, what) {
                        let valid = !n.is_empty()
                            && n.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
                            });
                        if valid {
                            rule.name = n.to_ascii_lowercase();
                        } else {
                            self.error(value.line, &f, format!("expected {what}, found \"{n}\""));
                        }
                    }
                }
                "values" => rule.values = self.list(value, &f, Checker::regex),
                "required" => rule.required = self.bool(value, &f).unwrap_or_default(),
                "action" => {
                    if let Some(a) = self.action(value, &f, &["alert", "prevent", "ban"]) {
                        rule.action = a;
                    }
                }
                other => self.unknown(
                    *line,
                    other,
                    &format!("{field}."),
                    &["name", "values", "required", "action"],
                ),
            }
        }
        if !entries.iter().any(|e| e.0 == "name") {
            self.error(
                item.line,
                &format!("{field}.name"),
                "missing; a header rule names its header",
            );
        }
        Some(rule)
    }

    fn rate_limit(&mut self, item: &Item<'_>, field: &str) -> Option<RateLimit> {
        let entries = self.entries(item, field)?;
        let mut rate = RateLimit {
            burst: 0,
            average: 0,
            action: "alert".to_string(),
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            match key.as_str() {
                "burst" => rate.burst = self.int(value, &f, 0, 1_000_000).unwrap_or_default(),
                "average" => rate.average = self.int(value, &f, 0, 1_000_000).unwrap_or_default(),
                "action" => {
                    if let Some(a) = self.action(value, &f, &["alert", "ban"]) {
                        rate.action = a;
                    }
                }
                other => self.unknown(
                    *line,
                    other,
                    &format!("{field}."),
                    &["burst", "average", "action"],
                ),
            }
        }
        if rate.burst == 0
            && rate.average == 0
            && !entries.iter().any(|e| e.0 == "burst" || e.0 == "average")
        {
            self.error(
                item.line,
                field,
                "needs `burst` (requests per client in any 5 s) or `average` (requests per second per client over 120 s)",
            );
        }
        Some(rate)
    }

    fn limits(&mut self, item: &Item<'_>, field: &str, limits: &mut Limits) {
        let Some(entries) = self.entries(item, field) else {
            return;
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            let (slot, min, max) = match key.as_str() {
                "header_bytes" => (&mut limits.header_bytes, 1024, 1024 * 1024),
                "header_count" => (&mut limits.header_count, 1, 10_000),
                "request_line" => (&mut limits.request_line, 64, 1024 * 1024),
                "header_timeout" => (&mut limits.header_timeout, 1, 3600),
                "idle_timeout" => (&mut limits.idle_timeout, 1, 86_400),
                "max_connections" => (&mut limits.max_connections, 1, 1_000_000),
                other => {
                    self.unknown(
                        *line,
                        other,
                        &format!("{field}."),
                        &[
                            "header_bytes",
                            "header_count",
                            "request_line",
                            "header_timeout",
                            "idle_timeout",
                            "max_connections",
                        ],
                    );
                    continue;
                }
            };
            if let Some(v) = self.int(value, &f, min, max) {
                *slot = v;
            }
        }
    }

    fn response(&mut self, item: &Item<'_>, field: &str, response: &mut ResponseSwitches) {
        let Some(entries) = self.entries(item, field) else {
            return;
        };
        for (key, line, value) in entries {
            let f = format!("{field}.{key}");
            match key.as_str() {
                "frame_options" => {
                    response.frame_options = self.switch(value, &f, &["DENY", "SAMEORIGIN"])
                }
                "same_site" => {
                    response.same_site = self.switch(value, &f, &["Lax", "Strict", "None"])
                }
                "strip_server_headers" => {
                    response.strip_server_headers = self.bool(value, &f).unwrap_or(true)
                }
                other => self.unknown(
                    *line,
                    other,
                    &format!("{field}."),
                    &["frame_options", "same_site", "strip_server_headers"],
                ),
            }
        }
    }

    /// `false` (off) or one of `values`.
    fn switch(&mut self, item: &Item<'_>, field: &str, values: &[&str]) -> Option<String> {
        let expected: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        let expected = format!("false or {}", expected.join(" or "));
        match &item.node {
            Node::Bool(false) => None,
            Node::Str(s) if values.contains(&s.as_ref()) => Some(s.to_string()),
            Node::Str(s) => {
                self.error(
                    item.line,
                    field,
                    format!("expected {expected}, found \"{s}\""),
                );
                None
            }
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

    fn tls(&mut self, item: &Item<'_>, field: &str) -> Option<Tls> {
        let entries = self.entries(item, field)?;
        let (mut cert, mut key) = (None, None);
        for (k, line, value) in entries {
            let f = format!("{field}.{k}");
            match k.as_str() {
                "cert" => cert = self.path(value, &f),
                "key" => key = self.path(value, &f),
                other => self.unknown(*line, other, &format!("{field}."), &["cert", "key"]),
            }
        }
        for (name, v) in [("cert", &cert), ("key", &key)] {
            if v.is_none() && !entries.iter().any(|e| e.0 == name) {
                self.error(
                    item.line,
                    &format!("{field}.{name}"),
                    "missing; TLS needs `cert` and `key` (PEM file paths)",
                );
            }
        }
        Some(Tls {
            cert: cert?,
            key: key?,
        })
    }
}

/// `a.b.c.d[/n]` or `v6[/n]` to `network/prefix` with the host bits cleared.
fn normalise_cidr(s: &str) -> Option<String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix {
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => p.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    if prefix > max {
        return None;
    }
    Some(match addr {
        std::net::IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            format!("{}/{prefix}", std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        std::net::IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            format!(
                "{}/{prefix}",
                std::net::Ipv6Addr::from(u128::from(a) & mask)
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::normalise_cidr;

    #[test]
    fn cidrs_are_normalised() {
        assert_eq!(normalise_cidr("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(normalise_cidr("192.0.2.7").as_deref(), Some("192.0.2.7/32"));
        assert_eq!(normalise_cidr("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            normalise_cidr("2001:db8::1/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(normalise_cidr("10.0.0.0/33"), None);
        assert_eq!(normalise_cidr("10.0.0.0/-1"), None);
        assert_eq!(normalise_cidr("example.com"), None);
    }
}
