//! The compiled matcher agrees with a naive reference matcher, written straight from the
//! precedence rules, on random rule sets and random queries.

use guard_policy::{DnsName, Policy, RuleRef, Verdict};
use proptest::prelude::*;

const VERDICTS: [Verdict; 3] = [Verdict::Allow, Verdict::Alert, Verdict::Deny];

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn build(section: &str, default: Verdict, lists: &[Vec<String>; 3]) -> Policy {
    let text = format!(
        "[{section}]\ndefault = \"{}\"\nallow = {}\nalert = {}\ndeny = {}\n",
        if default == Verdict::Deny {
            "deny"
        } else {
            "allow"
        },
        toml_list(&lists[0]),
        toml_list(&lists[1]),
        toml_list(&lists[2]),
    );
    Policy::from_toml(&text, "random.toml").expect("generated policy is valid")
}

fn rules_of(lists: [&Vec<String>; 3]) -> Vec<(String, Verdict)> {
    let mut out = Vec::new();
    for (list, v) in lists.iter().zip(VERDICTS) {
        out.extend(list.iter().map(|p| (p.clone(), v)));
    }
    out
}

// ---- DNS ----------------------------------------------------------------------------------

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "c",
        "A",
        "xn--bcher-kva",
        "_s",
        "com",
        "ex-1",
    ])
    .prop_map(str::to_string)
}

fn name(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(label(), 1..=max)
}

fn dns_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        name(4).prop_map(|l| l.join(".")),
        name(3).prop_map(|l| format!("{}.", l.join("."))),
        (label(), name(3)).prop_map(|(a, mut l)| {
            l.insert(0, a);
            format!("*.{}", l.join("."))
        }),
    ]
}

/// The reference: exact rule, else the wildcard with the most labels, else the default;
/// deny > alert > allow among equals.
fn reference_dns(policy: &Policy, query: &[String]) -> (Verdict, Option<String>) {
    let q: Vec<String> = query.iter().map(|l| l.to_ascii_lowercase()).collect();
    let rules = rules_of([&policy.dns.allow, &policy.dns.alert, &policy.dns.deny]);
    let mut best: Option<(usize, Verdict, String)> = None;
    for (pattern, v) in rules {
        let (wild, base) = match pattern.strip_prefix("*.") {
            Some(b) => (true, b),
            None => (false, pattern.as_str()),
        };
        let base: Vec<&str> = base.split('.').collect();
        let matches = if wild {
            q.len() > base.len()
                && q[q.len() - base.len()..]
                    .iter()
                    .zip(&base)
                    .all(|(a, b)| a == b)
        } else {
            q.len() == base.len() && q.iter().zip(&base).all(|(a, b)| a == b)
        };
        if matches {
            // Exact beats every wildcard; a longer wildcard beats a shorter one.
            let rank = if wild { base.len() } else { usize::MAX };
            if best.as_ref().is_none_or(|(r, bv, _)| (rank, v) > (*r, *bv)) {
                best = Some((rank, v, pattern.clone()));
            }
        }
    }
    match best {
        Some((_, v, p)) => (v, Some(p)),
        None => (policy.dns.default, None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn dns_view_agrees_with_reference(
        lists in prop::array::uniform3(prop::collection::vec(dns_pattern(), 0..8)),
        default_deny in any::<bool>(),
        queries in prop::collection::vec(name(5), 1..20),
    ) {
        let default = if default_deny { Verdict::Deny } else { Verdict::Allow };
        let policy = build("dns", default, &lists);
        let compiled = policy.compile();
        let view = compiled.view();
        for q in &queries {
            let text = q.join(".");
            let d = view.decide_dns(&DnsName::from_text(text.as_bytes()).unwrap());
            let (v, pattern) = reference_dns(&policy, q);
            prop_assert_eq!(d.verdict, v, "query {}", text);
            match (d.rule, pattern) {
                (RuleRef::Default { .. }, None) => {}
                (RuleRef::Pattern { list, pattern: got, .. }, Some(want)) => {
                    prop_assert_eq!(list, v);
                    prop_assert_eq!(got, want.as_str(), "query {}", text);
                }
                (got, want) => prop_assert!(false, "query {}: got {:?}, want {:?}", text, got, want),
            }
        }
    }
}

// ---- processes ------------------------------------------------------------------------------

/// Reference glob matcher: recursive, straight from the definition.
fn glob(p: &[u8], t: &[u8], at_segment_start: bool) -> bool {
    if p.is_empty() {
        return t.is_empty();
    }
    if p.starts_with(b"**") {
        if at_segment_start && p.get(2) == Some(&b'/') {
            // `**/`: zero or more whole segments.
            if glob(&p[3..], t, true) {
                return true;
            }
            return (0..t.len()).any(|i| t[i] == b'/' && glob(&p[3..], &t[i + 1..], true));
        }
        return (0..=t.len()).any(|i| glob(&p[2..], &t[i..], false));
    }
    if p[0] == b'*' {
        let max = t.iter().position(|&b| b == b'/').unwrap_or(t.len());
        return (0..=max).any(|i| glob(&p[1..], &t[i..], false));
    }
    match t.first() {
        Some(&c) if (p[0] == b'?' && c != b'/') || p[0] == c => glob(&p[1..], &t[1..], c == b'/'),
        _ => false,
    }
}

fn is_glob(p: &str) -> bool {
    p.contains('*') || p.contains('?')
}

fn literal(p: &str) -> usize {
    p.bytes().filter(|&b| b != b'*' && b != b'?').count()
}

/// The reference: exact path > exact name > path glob > name glob > default; more literal
/// characters, then deny > alert > allow. Returns the verdict and every pattern that could
/// be reported (equally good).
fn reference_process(policy: &Policy, path: &str) -> (Verdict, Vec<String>) {
    let file = path.rsplit('/').next().unwrap_or(path);
    let rules = rules_of([
        &policy.process.allow,
        &policy.process.alert,
        &policy.process.deny,
    ]);
    let matches = |pattern: &str, category: u8| -> bool {
        match category {
            0 => pattern.contains('/') && !is_glob(pattern) && pattern == path,
            1 => !pattern.contains('/') && !is_glob(pattern) && pattern == file,
            2 => {
                pattern.contains('/')
                    && is_glob(pattern)
                    && glob(pattern.as_bytes(), path.as_bytes(), false)
            }
            _ => {
                !pattern.contains('/')
                    && is_glob(pattern)
                    && glob(pattern.as_bytes(), file.as_bytes(), true)
            }
        }
    };
    for category in 0..4 {
        let found: Vec<&(String, Verdict)> =
            rules.iter().filter(|(p, _)| matches(p, category)).collect();
        if let Some(best) = found.iter().map(|(p, v)| (literal(p), *v)).max() {
            let patterns = found
                .iter()
                .filter(|(p, v)| (literal(p), *v) == best)
                .map(|(p, _)| p.clone())
                .collect();
            return (best.1, patterns);
        }
    }
    (policy.process.default, Vec::new())
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "bin", "usr", "x.sh", "nc", "ab"])
}

fn glob_segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "bin", "usr", "nc", "*", "**", "?", "a*", "*b", "?in", "*.sh", "x.*", "a**", "**b",
    ])
}

fn process_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(segment(), 1..4).prop_map(|s| format!("/{}", s.join("/"))),
        prop::collection::vec(glob_segment(), 1..5).prop_map(|s| format!("/{}", s.join("/"))),
        segment().prop_map(str::to_string),
        glob_segment().prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn process_view_agrees_with_reference(
        lists in prop::array::uniform3(prop::collection::vec(process_pattern(), 0..8)),
        default_deny in any::<bool>(),
        paths in prop::collection::vec(prop::collection::vec(segment(), 1..6), 1..20),
    ) {
        let default = if default_deny { Verdict::Deny } else { Verdict::Allow };
        let policy = build("process", default, &lists);
        let compiled = policy.compile();
        let view = compiled.view();
        for p in &paths {
            let path = format!("/{}", p.join("/"));
            let d = view.decide_process(path.as_bytes());
            let (v, patterns) = reference_process(&policy, &path);
            prop_assert_eq!(d.verdict, v, "path {}", path);
            match d.rule {
                RuleRef::Default { .. } => prop_assert!(patterns.is_empty(), "path {}: {:?}", path, patterns),
                RuleRef::Pattern { list, pattern, .. } => {
                    prop_assert_eq!(list, v);
                    prop_assert!(patterns.iter().any(|p| p == pattern), "path {}: got {}, want one of {:?}", path, pattern, patterns);
                }
                RuleRef::Builtin { .. } => prop_assert!(false, "path {}: a built-in rule", path),
            }
        }
    }

    #[test]
    fn glob_matcher_agrees_with_reference(
        pattern in prop::collection::vec(glob_segment(), 1..6),
        path in prop::collection::vec(segment(), 1..7),
    ) {
        let pattern = format!("/{}", pattern.join("/"));
        let path = format!("/{}", path.join("/"));
        let policy = build("process", Verdict::Allow, &[vec![], vec![], vec![pattern.clone()]]);
        let got = policy.compile().view().decide_process(path.as_bytes()).verdict == Verdict::Deny;
        prop_assert_eq!(got, glob(pattern.as_bytes(), path.as_bytes(), false), "{} vs {}", pattern, path);
    }
}
