//! A compiled rule: targets, one transformation chain, one operator, and the actions that run
//! when the whole chain matches.

use std::path::Path;

use crate::macros::Macro;
use crate::operator::Operator;
use crate::seclang::actions::RawAction;
use crate::seclang::variables::{self, Target};
use crate::transform::Transform;

/// One step of a transformation chain. Two that CRS uses are not in `crate::transform`'s set
/// and are small enough to do here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    T(Transform),
    HexEncode,
    RemoveCommentsChar,
}

pub fn parse_step(name: &str) -> Option<Step> {
    let t = match name.to_ascii_lowercase().as_str() {
        "hexencode" => return Some(Step::HexEncode),
        "removecommentschar" => return Some(Step::RemoveCommentsChar),
        "lowercase" => Transform::Lowercase,
        "urldecode" => Transform::UrlDecode,
        "urldecodeuni" => Transform::UrlDecodeUni,
        "htmlentitydecode" => Transform::HtmlEntityDecode,
        "jsdecode" => Transform::JsDecode,
        "cssdecode" => Transform::CssDecode,
        "cmdline" => Transform::CmdLine,
        "removenulls" => Transform::RemoveNulls,
        "compresswhitespace" => Transform::CompressWhitespace,
        "removewhitespace" => Transform::RemoveWhitespace,
        "replacecomments" => Transform::ReplaceComments,
        "removecomments" => Transform::RemoveComments,
        "normalisepath" | "normalizepath" => Transform::NormalisePath,
        "normalisepathwin" | "normalizepathwin" => Transform::NormalisePathWin,
        "utf8tounicode" => Transform::Utf8ToUnicode,
        "base64decode" => Transform::Base64Decode,
        "base64decodeext" => Transform::Base64DecodeExt,
        "escapeseqdecode" => Transform::EscapeSeqDecode,
        "hexdecode" => Transform::HexDecode,
        "length" => Transform::Length,
        "sha1" => Transform::Sha1,
        "md5" => Transform::Md5,
        "trim" => Transform::Trim,
        "trimleft" => Transform::TrimLeft,
        "trimright" => Transform::TrimRight,
        "replacenulls" => Transform::ReplaceNulls,
        "sqlhexdecode" => Transform::SqlHexDecode,
        _ => return None,
    };
    Some(Step::T(t))
}

impl Step {
    /// Same contract as [`Transform::apply`]: false (and `out` empty) when unchanged.
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Step::T(t) => t.apply(input, out),
            Step::HexEncode => {
                for b in input {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.as_slice() != input
            }
            Step::RemoveCommentsChar => {
                let mut i = 0;
                while i < input.len() {
                    let two = input.get(i..i + 2);
                    if matches!(two, Some(b"/*") | Some(b"*/") | Some(b"--")) {
                        i += 2;
                    } else if input[i] == b'#' {
                        i += 1;
                    } else {
                        out.push(input[i]);
                        i += 1;
                    }
                }
                if out.len() == input.len() {
                    out.clear();
                    false
                } else {
                    true
                }
            }
        }
    }
}

/// Operators the engine accepts. `crate::operator` compiles them; the few whose argument
/// holds a macro are evaluated here, since their argument is only known per request.
pub const OPERATORS: &[&str] = &[
    "rx",
    "pm",
    "pmf",
    "pmfromfile",
    "detectsqli",
    "detectxss",
    "streq",
    "contains",
    "containsword",
    "beginswith",
    "endswith",
    "within",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ipmatch",
    "ipmatchfromfile",
    "ipmatchf",
    "validatebyterange",
    "validateurlencoding",
    "validateutf8encoding",
    "unconditionalmatch",
    "nomatch",
    "strmatch",
    "geolookup",
    "rbl",
];

#[derive(Debug)]
pub enum Op {
    Static(Operator),
    /// Argument with a macro: compared in the engine after expansion.
    Dynamic {
        name: String,
        arg: Macro,
        negated: bool,
    },
    /// `@geoLookup` and `@rbl`: no GeoIP database and no DNS lookups from the engine by design,
    /// so they never match (named at load in `Engine::notes`).
    Never {
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    Block,
    Deny,
    Allow,
}

#[derive(Debug, Clone)]
pub enum SetOp {
    Assign(Macro),
    Add(Macro),
    Sub(Macro),
    Delete,
}

#[derive(Debug, Clone)]
pub enum RuleSel {
    Ids(Vec<(u32, u32)>),
    Tag(String),
    Msg(String),
}

#[derive(Debug, Clone)]
pub enum Ctl {
    RemoveRules(RuleSel),
    RemoveTarget(RuleSel, Target),
    RuleEngine(EngineMode),
    BodyProcessor(String),
    BodyAccess(bool),
    /// Audit-log and limit controls: no effect on the verdict.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    On,
    DetectionOnly,
    Off,
}

#[derive(Debug, Clone)]
pub enum Act {
    SetVar {
        collection: crate::seclang::variables::Var,
        key: Macro,
        op: SetOp,
    },
    Ctl(Ctl),
}

#[derive(Debug)]
pub struct Rule {
    pub id: u32,
    pub phase: u8,
    pub file: std::sync::Arc<Path>,
    pub line: usize,
    pub targets: Vec<Target>,
    pub op: Op,
    pub negated: bool,
    pub steps: Vec<Step>,
    /// Interned transformation chain (see `crate::eval`).
    pub chain_id: u32,
    pub multi_match: bool,
    pub capture: bool,
    pub acts: Vec<Act>,
    pub disruptive: Option<Disruptive>,
    pub log: bool,
    pub msg: Option<Macro>,
    pub logdata: Option<Macro>,
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    pub skip: u32,
    pub skip_after: Option<String>,
    pub chained: bool,
    pub next: Option<Box<Rule>>,
}

pub fn severity(v: &str) -> Option<u8> {
    Some(match v.to_ascii_uppercase().as_str() {
        "EMERGENCY" | "0" => 0,
        "ALERT" | "1" => 1,
        "CRITICAL" | "2" => 2,
        "ERROR" | "3" => 3,
        "WARNING" | "4" => 4,
        "NOTICE" | "5" => 5,
        "INFO" | "6" => 6,
        "DEBUG" | "7" => 7,
        _ => return None,
    })
}

/// Default actions of one phase (`SecDefaultAction`).
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub steps: Vec<Step>,
    pub disruptive: Option<Disruptive>,
    pub log: Option<bool>,
}

pub struct Parsed {
    pub rule: Rule,
    pub phase_given: bool,
}

pub fn parse_rule_sel(v: &str, by: &str) -> Result<RuleSel, String> {
    Ok(match by {
        "id" => {
            let mut ids = Vec::new();
            for part in v.split([' ', ',']).filter(|s| !s.is_empty()) {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let a: u32 = a.trim().parse().map_err(|_| format!("rule id {part}"))?;
                let b: u32 = b.trim().parse().map_err(|_| format!("rule id {part}"))?;
                ids.push((a, b));
            }
            RuleSel::Ids(ids)
        }
        "tag" => RuleSel::Tag(v.to_string()),
        _ => RuleSel::Msg(v.to_string()),
    })
}

fn parse_ctl(v: &str) -> Result<Ctl, String> {
    let (name, val) = v.split_once('=').ok_or_else(|| format!("ctl {v}"))?;
    let name = name.trim().to_ascii_lowercase();
    let val = val.trim();
    Ok(match name.as_str() {
        "ruleremovebyid" => Ctl::RemoveRules(parse_rule_sel(val, "id")?),
        "ruleremovebytag" => Ctl::RemoveRules(parse_rule_sel(val, "tag")?),
        "ruleremovebymsg" => Ctl::RemoveRules(parse_rule_sel(val, "msg")?),
        "ruleremovetargetbyid" | "ruleremovetargetbytag" | "ruleremovetargetbymsg" => {
            let (sel, target) = val
                .split_once(';')
                .ok_or_else(|| format!("ctl {name} needs 'rule;TARGET'"))?;
            let by = &name["ruleremovetargetby".len()..];
            let mut t = variables::parse_list(target)?;
            if t.len() != 1 {
                return Err(format!("ctl {name}: one target expected"));
            }
            Ctl::RemoveTarget(parse_rule_sel(sel, by)?, t.remove(0))
        }
        "ruleengine" => {
            Ctl::RuleEngine(engine_mode(val).ok_or_else(|| format!("ruleEngine {val}"))?)
        }
        "requestbodyprocessor" => Ctl::BodyProcessor(val.to_ascii_uppercase()),
        "requestbodyaccess" => Ctl::BodyAccess(val.eq_ignore_ascii_case("on")),
        "auditengine"
        | "auditlogparts"
        | "forcerequestbodyvariable"
        | "requestbodylimit"
        | "responsebodyaccess"
        | "responsebodylimit"
        | "debugloglevel" => Ctl::Ignored,
        _ => return Err(format!("ctl:{name}")),
    })
}

pub fn engine_mode(v: &str) -> Option<EngineMode> {
    match v.to_ascii_lowercase().as_str() {
        "on" => Some(EngineMode::On),
        "off" => Some(EngineMode::Off),
        "detectiononly" => Some(EngineMode::DetectionOnly),
        _ => None,
    }
}

fn parse_setvar(v: &str) -> Result<Act, String> {
    let (lhs, op) = if let Some(rest) = v.strip_prefix('!') {
        (rest, SetOp::Delete)
    } else if let Some((l, r)) = v.split_once('=') {
        let op = if let Some(x) = r.strip_prefix('+') {
            SetOp::Add(Macro::parse(x)?)
        } else if let Some(x) = r.strip_prefix('-') {
            SetOp::Sub(Macro::parse(x)?)
        } else {
            SetOp::Assign(Macro::parse(r)?)
        };
        (l, op)
    } else {
        (v, SetOp::Assign(Macro::parse("1")?))
    };
    let (col, key) = lhs
        .split_once('.')
        .ok_or_else(|| format!("setvar {v}: collection.key expected"))?;
    let collection =
        variables::Var::parse(col.trim()).ok_or_else(|| format!("setvar collection {col}"))?;
    Ok(Act::SetVar {
        collection,
        key: Macro::parse(&key.trim().to_ascii_lowercase())?,
        op,
    })
}

#[allow(clippy::too_many_arguments)]
/// Compiles one `SecRule`/`SecAction` (targets and operator absent for `SecAction`).
pub fn compile(
    targets: Option<&str>,
    operator: Option<&str>,
    actions: &[RawAction],
    defaults: &[Defaults; 6],
    file: &std::sync::Arc<Path>,
    line: usize,
    data_dir: &Path,
    in_chain: bool,
) -> Result<Parsed, String> {
    let targets = match targets {
        Some(t) => variables::parse_list(t)?,
        None => Vec::new(),
    };
    let mut rule = Rule {
        id: 0,
        phase: 2,
        file: file.clone(),
        line,
        targets,
        op: Op::Never { negated: true },
        negated: false,
        steps: Vec::new(),
        chain_id: 0,
        multi_match: false,
        capture: false,
        acts: Vec::new(),
        disruptive: None,
        log: true,
        msg: None,
        logdata: None,
        severity: None,
        tags: Vec::new(),
        skip: 0,
        skip_after: None,
        chained: false,
        next: None,
    };
    let mut phase_given = false;
    let mut steps: Option<Vec<Step>> = None;
    let mut log = None;
    for a in actions {
        let v = a.value.as_deref().unwrap_or("");
        match a.name.as_str() {
            "id" => rule.id = v.parse().map_err(|_| format!("rule id {v:?}"))?,
            "phase" => {
                rule.phase = match v.to_ascii_lowercase().as_str() {
                    "request" => 2,
                    "response" => 4,
                    "logging" => 5,
                    n => n
                        .parse()
                        .ok()
                        .filter(|p| (1..=5).contains(p))
                        .ok_or_else(|| format!("phase {v}"))?,
                };
                phase_given = true;
            }
            "t" => {
                if v.eq_ignore_ascii_case("none") {
                    steps = Some(Vec::new());
                } else {
                    let s = parse_step(v).ok_or_else(|| format!("transformation t:{v}"))?;
                    steps.get_or_insert_with(Vec::new).push(s);
                }
            }
            "msg" => rule.msg = Some(Macro::parse(v)?),
            "logdata" => rule.logdata = Some(Macro::parse(v)?),
            "severity" => rule.severity = Some(severity(v).ok_or_else(|| format!("severity {v}"))?),
            "tag" => rule.tags.push(v.to_string()),
            "chain" => rule.chained = true,
            "capture" => rule.capture = true,
            "multimatch" => rule.multi_match = true,
            "setvar" => rule.acts.push(parse_setvar(v)?),
            "ctl" => rule.acts.push(Act::Ctl(parse_ctl(v)?)),
            "skip" => rule.skip = v.parse().map_err(|_| format!("skip {v}"))?,
            "skipafter" => rule.skip_after = Some(v.to_string()),
            "block" => rule.disruptive = Some(Disruptive::Block),
            "pass" => rule.disruptive = Some(Disruptive::Pass),
            "deny" | "drop" | "redirect" => rule.disruptive = Some(Disruptive::Deny),
            "allow" => rule.disruptive = Some(Disruptive::Allow),
            "log" => log = Some(true),
            "nolog" => log = Some(false),
            // Metadata and logging controls that do not change what matches.
            "ver"
            | "rev"
            | "maturity"
            | "accuracy"
            | "auditlog"
            | "noauditlog"
            | "status"
            | "sanitisematched"
            | "sanitizematched"
            | "sanitisearg"
            | "sanitizearg"
            | "sanitisematchedbytes"
            | "sanitizematchedbytes" => {}
            // Persistent collections live only for the request here (no shared state
            // between requests), so expiry has nothing to do.
            "initcol" | "expirevar" | "setsid" | "setuid" | "deprecatevar" => {}
            other => return Err(format!("action {other}")),
        }
    }
    let d = &defaults[rule.phase as usize];
    rule.steps = match steps {
        Some(s) => s,
        None if !in_chain => d.steps.clone(),
        None => Vec::new(),
    };
    rule.log = log.or(d.log).unwrap_or(true);
    if rule.disruptive.is_none() && !in_chain {
        rule.disruptive = d.disruptive;
    }
    // `block` means the phase's default disruptive action (`pass` in CRS's anomaly mode).
    if rule.disruptive == Some(Disruptive::Block) {
        rule.disruptive = match d.disruptive {
            Some(Disruptive::Deny) => Some(Disruptive::Deny),
            _ => Some(Disruptive::Pass),
        };
    }
    if let Some(op) = operator {
        let (neg, body) = match op.trim_start().strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, op.trim_start()),
        };
        let (name, arg) = match body.strip_prefix('@') {
            Some(r) => match r.split_once([' ', '\t']) {
                Some((n, a)) => (n.to_string(), a.trim_start().to_string()),
                None => (r.to_string(), String::new()),
            },
            None => ("rx".to_string(), body.to_string()),
        };
        let lname = name.to_ascii_lowercase();
        if !OPERATORS.contains(&lname.as_str()) {
            return Err(format!("operator @{name}"));
        }
        rule.negated = neg;
        rule.op = if lname == "geolookup" || lname == "rbl" {
            Op::Never { negated: neg }
        } else if arg.contains("%{") {
            Op::Dynamic {
                name: lname,
                arg: Macro::parse(&arg)?,
                negated: neg,
            }
        } else {
            Op::Static(
                Operator::compile(&name, &arg, neg, data_dir)
                    .map_err(|e| format!("operator @{name}: {e}"))?,
            )
        };
    } else {
        rule.op = Op::Never { negated: true };
    }
    Ok(Parsed { rule, phase_given })
}
