//! Evaluation of one request: phases 1 and 2 in rule order, chains, skips, setvar, ctl,
//! captures, with transformation results shared between rules of the same chain.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::load::{Entry, RuleSet, selects};
use crate::macros::{Macro, Part};
use crate::request::{self, Data};
use crate::rule::{Act, Ctl, Disruptive, EngineMode, Op, Rule, RuleSel, SetOp, Step};
use crate::seclang::variables::{Selector, Target, Var};

/// Operators whose argument may hold a macro (compared here after expansion).
pub const DYNAMIC_OPS: &[&str] = &[
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "streq",
    "within",
    "contains",
    "beginswith",
    "endswith",
    "rx",
];

/// A rule that matched, before the protection layer judges it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: usize,
    pub msg: String,
    pub variable: String,
    pub data: String,
    pub score: u32,
}

pub struct Outcome {
    pub hits: Vec<Hit>,
    /// Set when a rule denied (949110 in CRS anomaly mode, or a user's deny rule).
    pub denied_by: Option<usize>,
    pub score: u32,
    pub mode: EngineMode,
}

pub enum Removal {
    Rules(RuleSel),
    Target(RuleSel, Target),
    /// From the policy's exceptions: the rules of this bitmap lose this target.
    ExcTarget(std::sync::Arc<Vec<bool>>, Var, Selector),
}

pub struct State<'a> {
    pub data: Data,
    pub cols: HashMap<Var, BTreeMap<String, Vec<u8>>>,
    pub removed: Vec<bool>,
    pub removals: Vec<Removal>,
    cache: HashMap<(u16, u32, u32), Vec<u8>>,
    buf: Vec<u8>,
    values: Vec<Value>,
    matched_var: Vec<u8>,
    matched_name: String,
    matched: Vec<(String, Vec<u8>)>,
    prev_matched: Vec<(String, Vec<u8>)>,
    mode: EngineMode,
    processor: Option<String>,
    body_access: bool,
    start: Instant,
    req: &'a crate::Request<'a>,
    paranoia: u8,
}

fn int(v: &[u8]) -> i64 {
    let s = std::str::from_utf8(v).unwrap_or("").trim();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    s[..end].parse().unwrap_or(0)
}

impl<'a> State<'a> {
    pub fn new(
        req: &'a crate::Request<'a>,
        set: &RuleSet,
        removed: Vec<bool>,
        paranoia: u8,
    ) -> State<'a> {
        State {
            data: request::phase1(req),
            cols: HashMap::new(),
            removed,
            removals: Vec::new(),
            cache: HashMap::new(),
            buf: Vec::new(),
            values: Vec::new(),
            matched_var: Vec::new(),
            matched_name: String::new(),
            matched: Vec::new(),
            prev_matched: Vec::new(),
            mode: set.engine_mode.unwrap_or(EngineMode::On),
            processor: None,
            body_access: set.body_access,
            start: Instant::now(),
            req,
            paranoia,
        }
    }

    fn expand(&self, m: &Macro, rule: &Rule) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &m.parts {
            match p {
                Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Part::Var(v, key) => self.macro_var(*v, key.as_deref(), rule, &mut out),
            }
        }
        out
    }

    fn macro_var(&self, v: Var, key: Option<&str>, rule: &Rule, out: &mut Vec<u8>) {
        match v {
            Var::MatchedVar => out.extend_from_slice(&self.matched_var),
            Var::MatchedVarName => out.extend_from_slice(self.matched_name.as_bytes()),
            Var::Rule => match key {
                Some("id") => out.extend_from_slice(rule.id.to_string().as_bytes()),
                Some("msg") => {
                    if let Some(m) = &rule.msg {
                        out.extend_from_slice(m.literal().as_bytes())
                    }
                }
                Some("severity") => {
                    out.extend_from_slice(rule.severity.unwrap_or(0).to_string().as_bytes())
                }
                _ => {}
            },
            Var::Duration => {
                out.extend_from_slice(self.start.elapsed().as_micros().to_string().as_bytes())
            }
            Var::UniqueId => out.extend_from_slice(b"0"),
            _ if is_store(v) => {
                if let Some(val) = key.and_then(|k| self.cols.get(&v)?.get(k)) {
                    out.extend_from_slice(val);
                }
            }
            _ => {
                let items = self.data.get(v);
                let item = match key {
                    Some(k) => items
                        .iter()
                        .find(|i| i.key.eq_ignore_ascii_case(k.as_bytes())),
                    None => items.first(),
                };
                if let Some(i) = item {
                    out.extend_from_slice(&i.value);
                }
            }
        }
    }

    pub fn score(&self) -> u32 {
        let Some(tx) = self.cols.get(&Var::Tx) else {
            return 0;
        };
        let mut s = 0i64;
        for pl in 1..=self.paranoia {
            for fam in ["inbound_anomaly_score_pl", "anomaly_score_pl"] {
                if let Some(v) = tx.get(&format!("{fam}{pl}")) {
                    s += int(v);
                }
            }
        }
        s.max(0) as u32
    }
}

pub(crate) fn is_store(v: Var) -> bool {
    matches!(
        v,
        Var::Tx
            | Var::Ip
            | Var::Global
            | Var::Session
            | Var::User
            | Var::Resource
            | Var::Geo
            | Var::Env
    )
}

fn apply_steps(steps: &[Step], input: &[u8], out: &mut Vec<u8>, stages: Option<&mut Vec<Vec<u8>>>) {
    out.clear();
    out.extend_from_slice(input);
    let mut tmp = Vec::new();
    let mut stages = stages;
    for s in steps {
        if s.apply(out, &mut tmp) {
            std::mem::swap(out, &mut tmp);
        }
        if let Some(st) = stages.as_deref_mut() {
            st.push(out.clone());
        }
    }
}

/// Decides, after a rule raised the score, whether the request is certainly prevented.
pub type EarlyExit<'e> = Box<dyn Fn(&State<'_>, &[Hit]) -> bool + 'e>;

/// A value to test: its name (`ARGS:q`), bytes, and its cache slot when it is request data.
enum Value {
    Data(Var, u32),
    Owned(String, Vec<u8>),
}

pub struct Evaluator<'e> {
    pub set: &'e RuleSet,
    pub regex_cache: &'e std::sync::Mutex<HashMap<String, Option<regex::bytes::Regex>>>,
    pub early_exit: Option<EarlyExit<'e>>,
}

impl Evaluator<'_> {
    pub fn run(&self, st: &mut State<'_>) -> Outcome {
        let mut hits = Vec::new();
        let mut denied_by = None;
        'phases: for phase in 1..=2usize {
            if phase == 2 {
                if st.body_access {
                    let proc = st.processor.clone();
                    request::phase2(&mut st.data, st.req, proc.as_deref());
                } else {
                    st.data.set_scalar(Var::RequestBodyLength, b"0");
                }
            }
            let list = &self.set.phases[phase];
            let mut pos = 0;
            let mut skip = 0u32;
            while pos < list.len() {
                if st.mode == EngineMode::Off {
                    break 'phases;
                }
                let Entry::Rule { idx, jump } = &list[pos] else {
                    pos += 1;
                    continue;
                };
                pos += 1;
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let idx = *idx;
                let rule = &self.set.rules[idx];
                if st.removed[idx] || self.removed_at_runtime(st, rule) {
                    continue;
                }
                let before = st.score();
                if !self.eval_chain(st, idx, rule) {
                    continue;
                }
                let after = st.score();
                if rule.log {
                    let msg = rule
                        .msg
                        .as_ref()
                        .map(|m| st.expand(m, rule))
                        .unwrap_or_default();
                    hits.push(Hit {
                        rule: idx,
                        msg: String::from_utf8_lossy(&msg).into_owned(),
                        variable: st.matched_name.clone(),
                        data: excerpt(&st.matched_var),
                        score: after.saturating_sub(before),
                    });
                }
                match rule.disruptive {
                    Some(Disruptive::Deny) if st.mode == EngineMode::On => {
                        denied_by = Some(idx);
                        break 'phases;
                    }
                    Some(Disruptive::Allow) => break 'phases,
                    _ => {}
                }
                if let Some(j) = jump {
                    pos = *j;
                } else if rule.skip > 0 {
                    skip = rule.skip;
                }
                if phase == 2
                    && after > before
                    && self.early_exit.as_ref().is_some_and(|f| f(st, &hits))
                {
                    break 'phases;
                }
            }
        }
        Outcome {
            hits,
            denied_by,
            score: st.score(),
            mode: st.mode,
        }
    }

    fn removed_at_runtime(&self, st: &State<'_>, rule: &Rule) -> bool {
        st.removals
            .iter()
            .any(|r| matches!(r, Removal::Rules(s) if selects(s, rule)))
    }

    /// Evaluates a rule and its chain; on a full match runs the actions of every link.
    fn eval_chain(&self, st: &mut State<'_>, idx: usize, head: &Rule) -> bool {
        let mut link = Some(head);
        let mut first: Option<(String, Vec<u8>)> = None;
        while let Some(r) = link {
            st.prev_matched = std::mem::take(&mut st.matched);
            if !self.eval_link(st, idx, r) {
                return false;
            }
            if first.is_none() {
                first = Some((st.matched_name.clone(), st.matched_var.clone()));
            }
            // As ModSecurity does, a link's setvar and ctl run as soon as that link matches:
            // later links read them (920420 sets tx.content_type for its second link).
            if !r.per_value {
                for a in &r.acts {
                    self.act(st, r, a);
                }
            }
            link = r.next.as_deref();
        }
        // The head's variable names the finding (later links check context).
        if let Some((n, v)) = first.filter(|(n, _)| !n.starts_with("TX")) {
            st.matched_name = n;
            st.matched_var = v;
        }
        true
    }

    fn eval_link(&self, st: &mut State<'_>, idx: usize, r: &Rule) -> bool {
        if r.targets.is_empty() {
            // SecAction, or a rule whose operator is absent: always matches.
            return true;
        }
        let want_all = r.next.is_some() || r.per_value;
        let mut any = false;
        let mut caps: Vec<Vec<u8>> = Vec::new();
        let mut buf = std::mem::take(&mut st.buf);
        let mut values = std::mem::take(&mut st.values);
        let mut cache = std::mem::take(&mut st.cache);
        'targets: for t in r.targets.iter().filter(|t| !t.exclude) {
            if t.var.is_response() {
                continue;
            }
            values.clear();
            self.collect(st, idx, r, t, &mut values);
            for v in values.iter() {
                let value: &[u8] = match v {
                    Value::Data(var, i) => &st.data.get(*var)[*i as usize].value,
                    Value::Owned(_, b) => b,
                };
                // ModSecurity and Coraza keep the transformed value that matched in
                // MATCHED_VAR(S): 944120's chain tests lowercased `processbuilder`.
                let mut hit: Option<Vec<u8>> = None;
                if r.multi_match {
                    let mut stages = vec![value.to_vec()];
                    apply_steps(&r.steps, value, &mut buf, Some(&mut stages));
                    hit = stages.into_iter().find(|s| self.op(st, r, s, &mut caps));
                } else if r.steps.is_empty() {
                    if self.op(st, r, value, &mut caps) {
                        hit = Some(value.to_vec());
                    }
                } else if let Value::Data(var, i) = v {
                    let input = cache
                        .entry((*var as u16, *i, r.chain_id))
                        .or_insert_with(|| {
                            let mut b = Vec::new();
                            apply_steps(&r.steps, value, &mut b, None);
                            b
                        });
                    if self.op(st, r, input, &mut caps) {
                        hit = Some(input.clone());
                    }
                } else {
                    apply_steps(&r.steps, value, &mut buf, None);
                    if self.op(st, r, &buf, &mut caps) {
                        hit = Some(buf.clone());
                    }
                }
                let matched = hit.is_some();
                if matched {
                    any = true;
                    let name = match v {
                        Value::Data(var, i) => {
                            let item = &st.data.get(*var)[*i as usize];
                            if item.key.is_empty() {
                                var.name().to_string()
                            } else {
                                format!("{}:{}", var.name(), String::from_utf8_lossy(&item.key))
                            }
                        }
                        Value::Owned(n, _) => n.clone(),
                    };
                    let value = hit.unwrap_or_default();
                    if r.capture && !caps.is_empty() {
                        let tx = st.cols.entry(Var::Tx).or_default();
                        for (i, c) in caps.iter().take(10).enumerate() {
                            tx.insert(i.to_string(), c.clone());
                        }
                    }
                    st.matched_name.clone_from(&name);
                    st.matched_var.clone_from(&value);
                    st.matched.push((name, value));
                    if r.per_value {
                        for a in &r.acts {
                            self.act(st, r, a);
                        }
                    }
                    if !want_all {
                        break 'targets;
                    }
                }
            }
        }
        st.buf = buf;
        st.values = values;
        st.cache = cache;
        any
    }

    fn op(&self, st: &State<'_>, r: &Rule, input: &[u8], caps: &mut Vec<Vec<u8>>) -> bool {
        match &r.op {
            Op::Static(o) => {
                if r.capture {
                    caps.clear();
                    o.matches(input, Some(caps))
                } else {
                    o.matches(input, None)
                }
            }
            Op::Never { negated } => *negated,
            Op::Dynamic { name, arg, negated } => {
                let a = st.expand(arg, r);
                let m = match name.as_str() {
                    "eq" => int(input) == int(&a),
                    "ge" => int(input) >= int(&a),
                    "gt" => int(input) > int(&a),
                    "le" => int(input) <= int(&a),
                    "lt" => int(input) < int(&a),
                    "streq" => input == a.as_slice(),
                    "within" => input.is_empty() || a.windows(input.len()).any(|w| w == input),
                    "contains" => a.is_empty() || input.windows(a.len()).any(|w| w == a.as_slice()),
                    "beginswith" => input.starts_with(&a),
                    "endswith" => input.ends_with(&a),
                    "rx" => {
                        let pat = String::from_utf8_lossy(&a).into_owned();
                        let mut cache = match self.regex_cache.lock() {
                            Ok(c) => c,
                            Err(p) => p.into_inner(),
                        };
                        let re = cache
                            .entry(pat.clone())
                            .or_insert_with(|| regex::bytes::Regex::new(&pat).ok());
                        re.as_ref().is_some_and(|re| re.is_match(input))
                    }
                    _ => false,
                };
                m != *negated
            }
        }
    }

    fn collect(&self, st: &State<'_>, idx: usize, r: &Rule, t: &Target, out: &mut Vec<Value>) {
        let removed = |key: &[u8]| {
            r.targets
                .iter()
                .filter(|e| e.exclude)
                .any(|e| e.var == t.var && e.selector.matches(key))
                || st.removals.iter().any(|rm| match rm {
                    Removal::Target(s, tt) => {
                        tt.var == t.var
                            && tt.selector.matches(key)
                            && selects(s, &self.set.rules[idx])
                    }
                    Removal::ExcTarget(bits, v, sel) => {
                        *v == t.var && bits.get(idx).copied().unwrap_or(false) && sel.matches(key)
                    }
                    Removal::Rules(_) => false,
                })
        };
        let mut count = 0usize;
        match t.var {
            Var::MatchedVar => {
                if !st.matched_var.is_empty() || !st.matched_name.is_empty() {
                    out.push(Value::Owned(
                        st.matched_name.clone(),
                        st.matched_var.clone(),
                    ));
                }
            }
            Var::MatchedVarName => out.push(Value::Owned(
                "MATCHED_VAR_NAME".into(),
                st.matched_name.clone().into_bytes(),
            )),
            Var::MatchedVars => {
                for (n, v) in &st.prev_matched {
                    if t.selector.matches(n.as_bytes()) {
                        out.push(Value::Owned(n.clone(), v.clone()));
                    }
                }
            }
            Var::MatchedVarsNames => {
                for (n, _) in &st.prev_matched {
                    out.push(Value::Owned(n.clone(), n.clone().into_bytes()));
                }
            }
            Var::Duration => out.push(Value::Owned(
                "DURATION".into(),
                st.start.elapsed().as_micros().to_string().into_bytes(),
            )),
            Var::UniqueId => out.push(Value::Owned("UNIQUE_ID".into(), b"0".to_vec())),
            v if is_store(v) => {
                if let Some(c) = st.cols.get(&v) {
                    match &t.selector {
                        Selector::Key(k) => {
                            if let Some(val) = c.get(&k.to_ascii_lowercase()) {
                                count += 1;
                                if !t.count {
                                    out.push(Value::Owned(
                                        format!("{}:{}", v.name(), k),
                                        val.clone(),
                                    ));
                                }
                            }
                        }
                        sel => {
                            for (k, val) in c {
                                if sel.matches(k.as_bytes()) && !removed(k.as_bytes()) {
                                    count += 1;
                                    if !t.count {
                                        out.push(Value::Owned(
                                            format!("{}:{}", v.name(), k),
                                            val.clone(),
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            v => {
                for (i, item) in st.data.get(v).iter().enumerate() {
                    if !t.selector.matches(&item.key)
                        || (!item.key.is_empty() && removed(&item.key))
                    {
                        continue;
                    }
                    count += 1;
                    if !t.count {
                        out.push(Value::Data(v, i as u32));
                    }
                }
            }
        }
        if t.count {
            out.push(Value::Owned(
                format!("&{}", t.var.name()),
                count.to_string().into_bytes(),
            ));
        }
    }

    fn act(&self, st: &mut State<'_>, r: &Rule, a: &Act) {
        match a {
            Act::SetVar {
                collection,
                key,
                op,
            } => {
                let k = String::from_utf8_lossy(&st.expand(key, r)).to_ascii_lowercase();
                let val = match op {
                    SetOp::Assign(m) | SetOp::Add(m) | SetOp::Sub(m) => st.expand(m, r),
                    SetOp::Delete => Vec::new(),
                };
                let c = st.cols.entry(*collection).or_default();
                match op {
                    SetOp::Assign(_) => {
                        c.insert(k, val);
                    }
                    SetOp::Add(_) | SetOp::Sub(_) => {
                        let cur = c.get(&k).map(|v| int(v)).unwrap_or(0);
                        let d = int(&val);
                        let n = if matches!(op, SetOp::Add(_)) {
                            cur + d
                        } else {
                            cur - d
                        };
                        c.insert(k, n.to_string().into_bytes());
                    }
                    SetOp::Delete => {
                        c.remove(&k);
                    }
                }
            }
            Act::Ctl(c) => match c {
                Ctl::RemoveRules(s) => st.removals.push(Removal::Rules(s.clone())),
                Ctl::RemoveTarget(s, t) => st.removals.push(Removal::Target(s.clone(), t.clone())),
                Ctl::RuleEngine(m) => st.mode = *m,
                Ctl::BodyProcessor(p) => st.processor = Some(p.clone()),
                Ctl::BodyAccess(b) => st.body_access = *b,
                Ctl::Ignored => {}
            },
        }
    }
}

pub fn excerpt(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    if s.chars().count() > 120 {
        let mut t: String = s.chars().take(120).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}
