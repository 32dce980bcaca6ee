//! The policy layer over CRS: which protection a rule belongs to, the user's exceptions, and
//! the verdict (protections fired, strongest action, anomaly score).

use std::sync::Arc;

use crate::eval::{Outcome, Removal};
use crate::rule::{EngineMode, Rule};
use crate::seclang::variables::{Selector, Var};
use crate::{Action, Config, Exception, LoadError, Protection, RuleMatch, Verdict};

/// The protection of a CRS rule by its id range, else by its `attack-*` tag (users' rules).
pub fn protection_of(rule: &Rule) -> Option<Protection> {
    let by_range = match rule.id / 1000 {
        911 | 920 | 921 | 922 => Some(Protection::Protocol),
        913 => Some(Protection::Scanners),
        930 | 931 => Some(Protection::Lfi),
        932 => Some(Protection::Cmdi),
        933 | 934 | 944 => Some(Protection::Code),
        941 => Some(Protection::Xss),
        942 => Some(Protection::Sqli),
        943 => Some(Protection::Session),
        _ => None,
    };
    if by_range.is_some() || (900_000..1_000_000).contains(&rule.id) {
        return by_range;
    }
    for t in &rule.tags {
        let p = match t.to_ascii_lowercase().as_str() {
            "attack-sqli" => Protection::Sqli,
            "attack-xss" => Protection::Xss,
            "attack-rce" => Protection::Cmdi,
            "attack-injection-php" | "attack-injection-generic" | "attack-injection-java" => {
                Protection::Code
            }
            "attack-lfi" | "attack-rfi" => Protection::Lfi,
            "attack-reputation-scanner" => Protection::Scanners,
            "attack-protocol" | "attack-multipart-header" => Protection::Protocol,
            "attack-fixation" => Protection::Session,
            _ => continue,
        };
        return Some(p);
    }
    None
}

/// One exception, compiled: the rules it covers and the targets it removes.
#[derive(Debug)]
pub struct CompiledException {
    rules: Arc<Vec<bool>>,
    prefix: Option<String>,
    regex: Option<regex::Regex>,
    targets: Vec<(Var, Selector)>,
}

pub fn compile_exceptions(
    config: &Config,
    rules: &[Rule],
    protections: &[Option<Protection>],
) -> Result<Vec<CompiledException>, LoadError> {
    let mut out = Vec::new();
    for (n, e) in config.exceptions.iter().enumerate() {
        let bits: Vec<bool> = rules
            .iter()
            .zip(protections)
            .map(|(r, p)| covers(e, r.id, *p))
            .collect();
        let regex = match &e.path_regex {
            Some(r) => Some(regex::Regex::new(r).map_err(|err| {
                LoadError::Config(format!("waf exception {}: path_regex {r:?}: {err}", n + 1))
            })?),
            None => None,
        };
        let mut targets = Vec::new();
        for t in &e.targets {
            let (kind, name) = t.split_once(':').ok_or_else(|| {
                LoadError::Config(format!(
                    "waf exception {}: target {t:?}: expected args:NAME, headers:NAME or cookies:NAME",
                    n + 1
                ))
            })?;
            let sel = || Selector::Key(name.to_string());
            match kind.to_ascii_lowercase().as_str() {
                "args" => {
                    for v in [
                        Var::Args,
                        Var::ArgsGet,
                        Var::ArgsPost,
                        Var::ArgsNames,
                        Var::ArgsGetNames,
                        Var::ArgsPostNames,
                    ] {
                        targets.push((v, sel()));
                    }
                }
                "headers" => targets.push((Var::RequestHeaders, sel())),
                "cookies" => {
                    targets.push((Var::RequestCookies, sel()));
                    targets.push((Var::RequestCookiesNames, sel()));
                }
                _ => {
                    return Err(LoadError::Config(format!(
                        "waf exception {}: target {t:?}: expected args:, headers: or cookies:",
                        n + 1
                    )));
                }
            }
        }
        out.push(CompiledException {
            rules: Arc::new(bits),
            prefix: e.path_prefix.clone(),
            regex,
            targets,
        });
    }
    Ok(out)
}

fn covers(e: &Exception, id: u32, p: Option<Protection>) -> bool {
    let by_prot = e.protections.is_empty() || p.is_some_and(|p| e.protections.contains(&p));
    let by_rule = e.rules.is_empty() || e.rules.contains(&id);
    by_prot && by_rule && (p.is_some() || !e.rules.is_empty())
}

/// The request path for exceptions: decoded and with dot segments removed, so
/// `/api/upload/../admin` is not under `/api/upload`.
pub fn normal_path(target: &[u8]) -> String {
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    let dec = crate::request::url_decode(path);
    let s = String::from_utf8_lossy(&dec).replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    let mut out = String::from("/");
    out.push_str(&parts.join("/"));
    if s.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    out
}

/// Applies the exceptions whose path matches: whole rules off, or targets removed.
pub fn apply_exceptions(
    exc: &[CompiledException],
    target: &[u8],
    removed: &mut [bool],
    removals: &mut Vec<Removal>,
) {
    if exc.is_empty() {
        return;
    }
    let path = normal_path(target);
    for e in exc {
        if e.prefix
            .as_ref()
            .is_some_and(|p| !path.starts_with(p.as_str()))
        {
            continue;
        }
        if e.regex.as_ref().is_some_and(|r| !r.is_match(&path)) {
            continue;
        }
        if e.targets.is_empty() {
            for (r, on) in removed.iter_mut().zip(e.rules.iter()) {
                *r |= *on;
            }
        } else {
            for (v, s) in &e.targets {
                removals.push(Removal::ExcTarget(e.rules.clone(), *v, s.clone()));
            }
        }
    }
}

/// The verdict: when CRS blocks (anomaly score at the threshold, or a denying rule), the
/// protections behind the score fire with their actions; if the protections that prevent do
/// not reach the threshold on their own, the request is only alerted.
pub fn verdict(
    config: &Config,
    rules: &[Rule],
    prot: &[Option<Protection>],
    out: Outcome,
) -> Verdict {
    let mut v = Verdict::clean();
    v.anomaly_score = out.score;
    let mut blocking_score = 0u32;
    for h in &out.hits {
        let p = prot[h.rule];
        if h.score > 0 {
            let a = p.map(|p| config.action(p)).unwrap_or(config.default_action);
            if matches!(a, Action::Prevent | Action::Ban) {
                blocking_score += h.score;
            }
        }
        v.matches.push(RuleMatch {
            id: rules[h.rule].id,
            msg: h.msg.clone(),
            protection: p,
            variable: h.variable.clone(),
            data: h.data.clone(),
            score: h.score,
        });
    }
    let threshold = config.inbound_threshold.max(1);
    let fired = match out.denied_by {
        Some(i) => {
            let r = &rules[i];
            // CRS's own blocking evaluation (949) is the anomaly decision.
            if r.id / 1000 == 949 {
                true
            } else {
                let a = prot[i]
                    .map(|p| config.action(p))
                    .unwrap_or(config.default_action);
                if a != Action::Disable {
                    if let Some(p) = prot[i] {
                        v.protections.push(p);
                    }
                    v.action = Some(a);
                }
                false
            }
        }
        None => out.score >= threshold,
    };
    if fired {
        let mut best: Option<Action> = None;
        for h in &out.hits {
            if h.score == 0 {
                continue;
            }
            if let Some(p) = prot[h.rule] {
                let a = config.action(p);
                if a == Action::Disable {
                    continue;
                }
                if !v.protections.contains(&p) {
                    v.protections.push(p);
                }
                best = best.max(Some(a));
            }
        }
        if best.is_none() && out.denied_by.is_some() {
            best = Some(config.default_action);
        }
        if matches!(best, Some(Action::Prevent | Action::Ban)) && blocking_score < threshold {
            best = Some(Action::Alert);
        }
        v.action = best.max(v.action);
    }
    if out.mode != EngineMode::On && v.blocks() {
        v.action = Some(Action::Alert);
    }
    v.protections
        .sort_by_key(|p| std::cmp::Reverse(config.action(*p)));
    v
}
