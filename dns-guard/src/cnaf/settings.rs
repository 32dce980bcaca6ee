//! `[waf]` made ready to serve: the loaded engine, parsed networks, compiled header rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use guard_policy::{CompiledPolicy, Policy, WafMode, WafSection};
use guard_waf::{Action, Config, Engine, Exception, Protection};
use ipnet::IpNet;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("waf: the compiled policy does not read back: {0}")]
    Policy(String),
    #[error("waf.crs / waf.extra_rules: cannot load the rules: {0}")]
    Rules(#[from] guard_waf::LoadError),
    #[error("waf.{field}: {reason}")]
    Field { field: String, reason: String },
}

/// One header rule, compiled.
pub struct HeaderRule {
    pub name: String,
    pub values: Vec<regex::Regex>,
    pub required: bool,
    pub action: Action,
}

/// Everything a request needs, immutable; swapped whole on reload.
pub struct Settings {
    pub version: Arc<str>,
    pub listen: SocketAddr,
    pub app: SocketAddr,
    pub engine: Engine,
    /// Audit mode: prevent and ban become `would-block`.
    pub audit: bool,
    pub ban: Duration,
    pub body_limit: usize,
    pub body_over_limit: Action,
    pub block_status: u16,
    pub block_body: String,
    pub behind_load_balancer: bool,
    pub deny: Vec<IpNet>,
    pub exempt: Vec<IpNet>,
    pub headers: Vec<HeaderRule>,
    /// (requests in any 5 s, requests per second over 120 s, action); 0 = no limit.
    pub rate: Option<(u32, u32, Action)>,
    pub limits: guard_policy::Limits,
    pub response: guard_policy::ResponseSwitches,
}

fn action(s: &str) -> Action {
    // The policy validated the name against the same list.
    Action::parse(s).unwrap_or(Action::Prevent)
}

impl Settings {
    pub fn from_compiled(compiled: &CompiledPolicy) -> Result<Option<Settings>, SettingsError> {
        let policy = Policy::from_json(compiled.to_json(), "policy.json")
            .map_err(|e| SettingsError::Policy(e.to_string()))?;
        let Some(waf) = &policy.waf else {
            return Ok(None);
        };
        let audit = match waf.mode {
            Some(m) => m == WafMode::Audit,
            None => policy.mode == guard_policy::Mode::Audit,
        };
        Settings::new(waf, audit, compiled.version().into()).map(Some)
    }

    pub fn new(
        waf: &WafSection,
        audit: bool,
        version: Arc<str>,
    ) -> Result<Settings, SettingsError> {
        let mut config = Config::new(&waf.crs);
        config.paranoia = waf.paranoia;
        config.inbound_threshold = waf.inbound_threshold;
        config.extra_rules = waf.extra_rules.iter().map(Into::into).collect();
        config.default_action = action(&waf.default_action);
        for (p, a) in &waf.actions {
            let p = Protection::parse(p).ok_or_else(|| SettingsError::Field {
                field: format!("actions.{p}"),
                reason: "not a protection of this guard-waf".into(),
            })?;
            config.actions.insert(p, action(a));
        }
        for e in &waf.exceptions {
            config.exceptions.push(Exception {
                protections: e
                    .protections
                    .iter()
                    .filter_map(|p| Protection::parse(p))
                    .collect(),
                rules: e.rules.clone(),
                path_prefix: e.path_prefix.clone(),
                path_regex: e.path_regex.clone(),
                targets: e.targets.clone(),
            });
        }
        if !std::path::Path::new(&waf.crs).is_dir() {
            return Err(SettingsError::Field {
                field: "crs".into(),
                reason: format!(
                    "{} is not a directory (expected a CRS directory with rules/)",
                    waf.crs
                ),
            });
        }
        let engine = Engine::load(&config)?;
        let nets = |list: &[String], field: &str| -> Result<Vec<IpNet>, SettingsError> {
            list.iter()
                .map(|n| {
                    n.parse().map_err(|_| SettingsError::Field {
                        field: field.into(),
                        reason: format!("{n} is not a network"),
                    })
                })
                .collect()
        };
        let mut headers = Vec::new();
        for (i, h) in waf.headers.iter().enumerate() {
            let mut values = Vec::new();
            for v in &h.values {
                values.push(regex::Regex::new(v).map_err(|e| SettingsError::Field {
                    field: format!("headers[{i}].values"),
                    reason: e.to_string(),
                })?);
            }
            headers.push(HeaderRule {
                name: h.name.clone(),
                values,
                required: h.required,
                action: action(&h.action),
            });
        }
        Ok(Settings {
            version,
            listen: waf.listen,
            app: waf.app,
            engine,
            audit,
            ban: Duration::from_secs(u64::from(waf.ban_seconds)),
            body_limit: waf.body_limit as usize,
            body_over_limit: action(&waf.body_over_limit),
            block_status: waf.block_page.status,
            block_body: waf.block_page.body.clone(),
            behind_load_balancer: waf.behind_load_balancer,
            deny: nets(&waf.clients.deny, "clients.deny")?,
            exempt: nets(&waf.clients.exempt, "clients.exempt")?,
            headers,
            rate: waf
                .rate_limit
                .as_ref()
                .map(|r| (r.burst, r.average, action(&r.action))),
            limits: waf.limits.clone(),
            response: waf.response.clone(),
        })
    }

    pub fn denied(&self, ip: IpAddr) -> bool {
        self.deny.iter().any(|n| n.contains(&ip))
    }

    pub fn exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_knows_every_protection_of_the_engine() {
        let engine: Vec<&str> = guard_waf::Protection::ALL
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert_eq!(engine, guard_policy::waf_protections());
    }
}
