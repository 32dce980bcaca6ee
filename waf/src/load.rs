//! Loading rule files in CRS order: `crs-setup.conf` (or `.example`, or Debian's
//! `owasp-crs.load` with its `Include`s), the policy's settings, `rules/*.conf` sorted, then the
//! user's extra files. Every directive is either compiled or named as accepted-and-ignored;
//! anything else is a [`LoadError`] with file and line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rule::{self, Defaults, EngineMode, Rule, RuleSel};
use crate::seclang::{actions, lexer, variables};
use crate::{Config, LoadError};

#[derive(Debug, Clone)]
pub enum Entry {
    Rule { idx: usize, jump: Option<usize> },
    Marker(String),
}

#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Phase 1..=5 evaluation order (index 0 unused).
    pub phases: [Vec<Entry>; 6],
    pub engine_mode: Option<EngineMode>,
    pub body_access: bool,
    pub notes: Vec<String>,
    pub files: Vec<PathBuf>,
}

struct Loader {
    set: RuleSet,
    defaults: [Defaults; 6],
    chain: Vec<Rule>,
    chain_at: Option<(Arc<Path>, usize)>,
    removes: Vec<RuleSel>,
    updates: Vec<(RuleSel, Vec<variables::Target>)>,
    config_action: Option<String>,
    depth: usize,
}

fn unsupported(path: &Path, line: usize, construct: impl Into<String>) -> LoadError {
    LoadError::Unsupported {
        path: path.to_path_buf(),
        line,
        construct: construct.into(),
    }
}

/// Directives that configure logging, limits or the host server and do not change how a
/// request is evaluated here (the proxy owns limits).
const ACCEPTED: &[&str] = &[
    "seccomponentsignature",
    "seccollectiontimeout",
    "secresponsebodyaccess",
    "secrequestbodylimit",
    "secrequestbodynofileslimit",
    "secrequestbodylimitaction",
    "secrequestbodyinmemorylimit",
    "secresponsebodymimetype",
    "secresponsebodylimit",
    "secresponsebodylimitaction",
    "secpcrematchlimit",
    "secpcrematchlimitrecursion",
    "sectmpdir",
    "secdatadir",
    "secauditengine",
    "secauditlog",
    "secauditlog2",
    "secauditlogparts",
    "secauditlogrelevantstatus",
    "secauditlogtype",
    "secauditlogstoragedir",
    "secauditlogformat",
    "secauditlogdirmode",
    "secauditlogfilemode",
    "secdebuglog",
    "secdebugloglevel",
    "secargumentseparator",
    "seccookieformat",
    "secunicodemapfile",
    "secunicodecodepage",
    "secstatusengine",
    "sectmpsaveuploadedfiles",
    "secuploaddir",
    "secuploadkeepfiles",
    "secuploadfilemode",
    "secuploadfilelimit",
    "secserversignature",
    "secwebappid",
    "secxmlexternalentity",
    "sechashengine",
    "secgeolookupdb",
    "secsensorid",
    "secconnengine",
    "secinterceptonerror",
    "secruleinheritance",
    "secrulescript",
    "secruleperftime",
    "secstreaminbodyinspection",
    "secstreamoutbodyinspection",
    "secdisablebackendcompression",
    "secgsblookupdb",
    "sechttpblkey",
    "secremoterules",
    "secremoterulesfailaction",
    "secchrootdir",
    "seccontentinjection",
    "secreadstatelimit",
    "secwritestatelimit",
    "secconnreadstatelimit",
    "secconnwritestatelimit",
];

pub fn load(config: &Config) -> Result<RuleSet, LoadError> {
    let mut l = Loader {
        set: RuleSet {
            body_access: true,
            ..RuleSet::default()
        },
        defaults: Default::default(),
        chain: Vec::new(),
        chain_at: None,
        removes: Vec::new(),
        updates: Vec::new(),
        config_action: Some(config_action(config)),
        depth: 0,
    };
    let dir = &config.crs_dir;
    if !dir.is_dir() {
        return Err(LoadError::Config(format!(
            "{}: not a CRS directory",
            dir.display()
        )));
    }
    let setup = ["crs-setup.conf", "crs-setup.conf.example"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let debian = dir.join("owasp-crs.load");
    if let Some(setup) = setup {
        l.file(&setup)?;
        l.inject_config()?;
        let mut rules =
            glob(&dir.join("rules").join("*.conf")).map_err(|source| LoadError::Io {
                path: dir.join("rules"),
                source,
            })?;
        rules.sort();
        if rules.is_empty() {
            return Err(LoadError::Config(format!(
                "{}: no rules/*.conf",
                dir.display()
            )));
        }
        for f in rules {
            l.file(&f)?;
        }
    } else if debian.is_file() {
        l.file(&debian)?;
        l.inject_config()?;
    } else {
        return Err(LoadError::Config(format!(
            "{}: no crs-setup.conf, crs-setup.conf.example or owasp-crs.load",
            dir.display()
        )));
    }
    for f in &config.extra_rules {
        l.file(f)?;
    }
    if let Some((p, line)) = &l.chain_at {
        return Err(LoadError::Syntax {
            path: p.to_path_buf(),
            line: *line,
            message: "chain without a following SecRule".into(),
        });
    }
    l.finish()
}

/// The policy's paranoia level and threshold, as a SecAction after crs-setup (so it wins over
/// the setup file and 901's defaults). Both CRS 3 and 4 variable names are set.
fn config_action(c: &Config) -> String {
    let pl = c.paranoia.clamp(1, 4);
    format!(
        "id:9000001,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level={pl},setvar:tx.executing_paranoia_level={pl},setvar:tx.blocking_paranoia_level={pl},setvar:tx.detection_paranoia_level={pl},setvar:tx.inbound_anomaly_score_threshold={},setvar:tx.outbound_anomaly_score_threshold=4",
        c.inbound_threshold
    )
}

fn glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = pattern
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let Some((pre, post)) = name.split_once('*') else {
        return Ok(if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        });
    };
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

impl Loader {
    fn inject_config(&mut self) -> Result<(), LoadError> {
        if let Some(a) = self.config_action.take() {
            let p: Arc<Path> = Arc::from(Path::new("<policy>"));
            self.action_rule(&p, 0, None, None, &a)?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path) -> Result<(), LoadError> {
        self.depth += 1;
        if self.depth > 16 {
            return Err(LoadError::Config(format!(
                "{}: Include nested too deeply",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.set.files.push(path.to_path_buf());
        let lines = lexer::lines(&text).map_err(|e| LoadError::Syntax {
            path: path.to_path_buf(),
            line: e.line,
            message: e.message,
        })?;
        let p: Arc<Path> = Arc::from(path);
        for line in lines {
            self.directive(&p, line.number, &line.words)?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn directive(&mut self, p: &Arc<Path>, n: usize, w: &[String]) -> Result<(), LoadError> {
        let syntax = |m: String| LoadError::Syntax {
            path: p.to_path_buf(),
            line: n,
            message: m,
        };
        let name = w[0].to_ascii_lowercase();
        let arg = |i: usize| -> Result<&str, LoadError> {
            w.get(i)
                .map(|s| s.as_str())
                .ok_or_else(|| syntax(format!("{} needs {} argument(s)", w[0], i)))
        };
        if self.chain_at.is_some() && name != "secrule" {
            return Err(syntax(format!(
                "{} where a chained SecRule was expected",
                w[0]
            )));
        }
        match name.as_str() {
            "secrule" => {
                let acts = w.get(3).map(|s| s.as_str()).unwrap_or("");
                self.action_rule(p, n, Some(arg(1)?), Some(arg(2)?), acts)?
            }
            "secaction" => self.action_rule(p, n, None, None, arg(1)?)?,
            "secmarker" => {
                let m = arg(1)?.to_string();
                for ph in 1..=5 {
                    self.set.phases[ph].push(Entry::Marker(m.clone()));
                }
            }
            "secdefaultaction" => {
                let acts = actions::parse(arg(1)?).map_err(syntax)?;
                let parsed = rule::compile(
                    None,
                    None,
                    &acts,
                    &Default::default(),
                    p,
                    n,
                    Path::new("."),
                    false,
                )
                .map_err(|c| unsupported(p, n, c))?;
                let r = parsed.rule;
                self.defaults[r.phase as usize] = Defaults {
                    steps: r.steps,
                    disruptive: r.disruptive,
                    log: Some(r.log),
                };
            }
            "secruleengine" => {
                self.set.engine_mode = Some(rule::engine_mode(arg(1)?).ok_or_else(|| {
                    syntax(format!("SecRuleEngine {}: On, Off or DetectionOnly", w[1]))
                })?)
            }
            "secrequestbodyaccess" => self.set.body_access = arg(1)?.eq_ignore_ascii_case("on"),
            "secruleremovebyid" => {
                let ids = w[1..].join(" ");
                self.removes
                    .push(rule::parse_rule_sel(&ids, "id").map_err(syntax)?)
            }
            "secruleremovebytag" => self.removes.push(RuleSel::Tag(arg(1)?.to_string())),
            "secruleremovebymsg" => self.removes.push(RuleSel::Msg(arg(1)?.to_string())),
            "secruleupdatetargetbyid" | "secruleupdatetargetbytag" | "secruleupdatetargetbymsg" => {
                let by = &name["secruleupdatetargetby".len()..];
                let sel = rule::parse_rule_sel(arg(1)?, by).map_err(syntax)?;
                if w.len() > 3 {
                    return Err(unsupported(
                        p,
                        n,
                        format!("{} with a replacement target", w[0]),
                    ));
                }
                let t = variables::parse_list(arg(2)?).map_err(|c| unsupported(p, n, c))?;
                self.updates.push((sel, t));
            }
            "include" | "includeoptional" => {
                let target = Path::new(arg(1)?);
                let target = if target.is_absolute() {
                    target.to_path_buf()
                } else {
                    p.parent().unwrap_or(Path::new(".")).join(target)
                };
                let files = glob(&target).map_err(|source| LoadError::Io {
                    path: target.clone(),
                    source,
                })?;
                if files.is_empty() && name == "include" {
                    return Err(syntax(format!(
                        "Include {}: no such file",
                        target.display()
                    )));
                }
                for f in files {
                    self.file(&f)?;
                    let is_setup = f
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("crs-setup"));
                    if is_setup {
                        self.inject_config()?;
                    }
                }
            }
            other if ACCEPTED.contains(&other) => {}
            _ => return Err(unsupported(p, n, format!("directive {}", w[0]))),
        }
        Ok(())
    }

    fn action_rule(
        &mut self,
        p: &Arc<Path>,
        n: usize,
        targets: Option<&str>,
        op: Option<&str>,
        acts: &str,
    ) -> Result<(), LoadError> {
        let raw = actions::parse(acts).map_err(|m| LoadError::Syntax {
            path: p.to_path_buf(),
            line: n,
            message: m,
        })?;
        let in_chain = self.chain_at.is_some();
        let data_dir = p.parent().unwrap_or(Path::new(".")).to_path_buf();
        let parsed = rule::compile(targets, op, &raw, &self.defaults, p, n, &data_dir, in_chain)
            .map_err(|c| unsupported(p, n, c))?;
        let mut r = parsed.rule;
        if !in_chain && !parsed.phase_given && targets.is_none() && r.id == 0 {
            return Err(unsupported(p, n, "SecAction without id"));
        }
        if let rule::Op::Dynamic { name, .. } = &r.op
            && !crate::eval::DYNAMIC_OPS.contains(&name.as_str())
        {
            {
                return Err(unsupported(
                    p,
                    n,
                    format!("operator @{name} with a macro argument"),
                ));
            }
        }
        if let rule::Op::Never { .. } = &r.op
            && op.is_some()
        {
            {
                self.set.notes.push(format!(
                    "{}:{}: rule {}: @geoLookup/@rbl never match (no GeoIP database, no DNS lookups from the engine)",
                    p.display(),
                    n,
                    r.id
                ));
            }
        }
        let chained = r.chained;
        if in_chain {
            r.phase = self.chain[0].phase;
        }
        self.chain.push(r);
        if chained {
            self.chain_at = Some((p.clone(), n));
            return Ok(());
        }
        self.chain_at = None;
        let mut links = std::mem::take(&mut self.chain);
        let mut next: Option<Box<Rule>> = None;
        while links.len() > 1 {
            let mut last = links.pop().expect("len > 1");
            last.next = next.take();
            next = Some(Box::new(last));
        }
        let mut head = links.pop().expect("one rule");
        head.next = next;
        let idx = self.set.rules.len();
        let phase = head.phase as usize;
        self.set.rules.push(head);
        self.set.phases[phase].push(Entry::Rule { idx, jump: None });
        Ok(())
    }

    fn finish(mut self) -> Result<RuleSet, LoadError> {
        let removes = std::mem::take(&mut self.removes);
        let updates = std::mem::take(&mut self.updates);
        let mut removed = vec![false; self.set.rules.len()];
        for (i, r) in self.set.rules.iter_mut().enumerate() {
            if removes.iter().any(|s| selects(s, r)) {
                removed[i] = true;
            }
            for (s, t) in &updates {
                if selects(s, r) {
                    r.targets.extend(t.iter().cloned());
                }
            }
        }
        for ph in 1..=5 {
            let list = std::mem::take(&mut self.set.phases[ph]);
            let list: Vec<Entry> = list
                .into_iter()
                .filter(|e| !matches!(e, Entry::Rule { idx, .. } if removed[*idx]))
                .collect();
            let mut out = list.clone();
            for (pos, e) in list.iter().enumerate() {
                if let Entry::Rule { idx, .. } = e
                    && let Some(m) = &self.set.rules[*idx].skip_after
                {
                    {
                        let target = list[pos + 1..]
                            .iter()
                            .position(|x| matches!(x, Entry::Marker(n) if n == m))
                            .map(|off| pos + 1 + off);
                        let Some(t) = target else {
                            let r = &self.set.rules[*idx];
                            return Err(LoadError::Syntax {
                                path: r.file.to_path_buf(),
                                line: r.line,
                                message: format!(
                                    "skipAfter:{m}: no SecMarker {m} after rule {}",
                                    r.id
                                ),
                            });
                        };
                        out[pos] = Entry::Rule {
                            idx: *idx,
                            jump: Some(t),
                        };
                    }
                }
            }
            self.set.phases[ph] = out;
        }
        Ok(self.set)
    }
}

pub fn selects(s: &RuleSel, r: &Rule) -> bool {
    match s {
        RuleSel::Ids(ids) => ids.iter().any(|(a, b)| (*a..=*b).contains(&r.id)),
        RuleSel::Tag(t) => r.tags.iter().any(|x| x.eq_ignore_ascii_case(t)),
        RuleSel::Msg(m) => r.msg.as_ref().is_some_and(|x| x.literal() == *m),
    }
}
