//! Engine semantics on small rule sets: chains, skipAfter, setvar arithmetic, ctl, anomaly
//! scoring, protections and exceptions. The operators here take macro arguments, which the
//! engine itself evaluates, so these tests do not depend on `crate::operator`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::{Action, Config, Engine, Exception, Protection, Request};

fn crs(rules: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "waf-eval-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::write(
        d.join("crs-setup.conf"),
        "SecDefaultAction \"phase:1,log,auditlog,pass\"\nSecDefaultAction \"phase:2,log,auditlog,pass\"\n\
         SecAction \"id:900100,phase:1,nolog,pass,setvar:tx.needle=evil,setvar:tx.critical=5\"\n",
    )
    .unwrap();
    std::fs::write(d.join("rules/REQUEST-900-TEST.conf"), rules).unwrap();
    d
}

const BLOCKING: &str = r#"
SecRule TX:INBOUND_ANOMALY_SCORE_PL1 "@ge %{tx.inbound_anomaly_score_threshold}" "id:949110,phase:2,deny,msg:'Inbound Anomaly Score Exceeded (Total Score: %{TX.INBOUND_ANOMALY_SCORE_PL1})'"
"#;

fn req<'a>(target: &'a str) -> Request<'a> {
    Request {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        method: "GET",
        target: target.as_bytes(),
        protocol: "HTTP/1.1",
        headers: &[(b"Host", b"x")],
        body: b"",
        body_truncated: false,
    }
}

fn engine(rules: &str, f: impl FnOnce(&mut Config)) -> Engine {
    let mut c = Config::new(crs(&format!("{rules}{BLOCKING}")));
    f(&mut c);
    Engine::load(&c).unwrap_or_else(|e| panic!("{e}"))
}

const SQLI: &str = r#"
SecRule ARGS "@streq %{tx.needle}" "id:942999,phase:2,block,t:none,t:lowercase,msg:'needle in %{MATCHED_VAR_NAME}',setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical}'"
"#;

#[test]
fn anomaly_score_blocks_with_the_protection() {
    let e = engine(SQLI, |_| {});
    let v = e.inspect(&req("/?a=EVIL"));
    assert!(v.blocks(), "{v:?}");
    assert_eq!(v.protections, vec![Protection::Sqli]);
    assert_eq!(v.anomaly_score, 5);
    assert_eq!(v.matches[0].id, 942999);
    assert_eq!(v.matches[0].variable, "ARGS:a");
    assert_eq!(v.matches[0].msg, "needle in ARGS:a");
    assert_eq!(v.matches[0].score, 5);
    assert!(!e.inspect(&req("/?a=good")).blocks());
}

#[test]
fn alert_protection_reports_without_blocking_and_disable_removes() {
    let e = engine(SQLI, |c| {
        c.actions.insert(Protection::Sqli, Action::Alert);
    });
    let v = e.inspect(&req("/?a=evil"));
    assert_eq!(v.action, Some(Action::Alert));
    let e = engine(SQLI, |c| {
        c.actions.insert(Protection::Sqli, Action::Disable);
    });
    assert_eq!(e.inspect(&req("/?a=evil")).action, None);
}

#[test]
fn exceptions_by_path_and_target() {
    let e = engine(SQLI, |c| {
        c.exceptions.push(Exception {
            protections: vec![Protection::Sqli],
            path_prefix: Some("/api/search".into()),
            targets: vec!["args:q".into()],
            ..Exception::default()
        });
    });
    assert!(!e.inspect(&req("/api/search?q=evil")).blocks());
    assert!(e.inspect(&req("/api/search?other=evil")).blocks());
    assert!(e.inspect(&req("/api/search/../admin?q=evil")).blocks());
    assert!(e.inspect(&req("/elsewhere?q=evil")).blocks());
}

#[test]
fn chain_skipafter_and_setvar_arithmetic() {
    let rules = r#"
SecAction "id:100,phase:1,nolog,pass,setvar:tx.n=10,setvar:tx.n=-3,setvar:tx.n=+1,setvar:tx.eight=8"
SecRule TX:n "@eq %{tx.eight}" "id:101,phase:1,pass,nolog,setvar:tx.ok=1"
SecRule ARGS:skip "@streq %{tx.ok}" "id:102,phase:2,pass,nolog,skipAfter:END"
SecRule ARGS:a "@streq %{tx.needle}" "id:942100,phase:2,block,chain,msg:'chained'"
    SecRule REQUEST_METHOD "@streq %{tx.method}" "setvar:'tx.inbound_anomaly_score_pl1=+5'"
SecMarker END
"#;
    let e = engine(
        &format!("SecAction \"id:99,phase:1,nolog,pass,setvar:tx.method=GET\"\n{rules}"),
        |_| {},
    );
    assert!(e.inspect(&req("/?a=evil")).blocks());
    assert!(
        !e.inspect(&req("/?a=evil&skip=1")).blocks(),
        "skipAfter skips the chain"
    );
    let mut r = req("/?a=evil");
    r.method = "POST";
    assert!(!r.method.is_empty());
    assert!(
        !e.inspect(&r).blocks(),
        "the chain's second link does not match"
    );
}

#[test]
fn ctl_removes_rules_and_targets() {
    let rules = format!(
        "SecAction \"id:1000,phase:1,pass,nolog,setvar:tx.up=/upload,setvar:tx.form=/form\"\n\
         SecRule REQUEST_FILENAME \"@streq %{{tx.up}}\" \"id:1001,phase:1,pass,nolog,ctl:ruleRemoveById=942999\"\n\
         SecRule REQUEST_FILENAME \"@streq %{{tx.form}}\" \"id:1002,phase:1,pass,nolog,ctl:ruleRemoveTargetById=942999;ARGS:body\"\n{SQLI}"
    );
    let e = engine(&rules, |_| {});
    assert!(!e.inspect(&req("/upload?a=evil")).blocks());
    assert!(!e.inspect(&req("/form?body=evil")).blocks());
    assert!(e.inspect(&req("/form?other=evil")).blocks());
}

#[test]
fn counting_and_exclusions() {
    let rules = r#"
SecRule &ARGS "@ge %{tx.critical}" "id:920999,phase:2,block,msg:'too many',setvar:'tx.inbound_anomaly_score_pl1=+5'"
SecRule ARGS|!ARGS:safe "@streq %{tx.needle}" "id:941999,phase:2,block,setvar:'tx.inbound_anomaly_score_pl1=+5'"
"#;
    let e = engine(rules, |_| {});
    assert!(e.inspect(&req("/?a=1&b=2&c=3&d=4&e=5")).blocks());
    assert!(!e.inspect(&req("/?a=1&b=2")).blocks());
    assert!(!e.inspect(&req("/?safe=evil")).blocks());
    assert!(e.inspect(&req("/?unsafe=evil")).blocks());
}

#[test]
fn json_body_is_flattened_into_args() {
    let e = engine(SQLI, |_| {});
    let headers: &[(&[u8], &[u8])] = &[(b"Content-Type", b"application/json")];
    let r = Request {
        method: "POST",
        headers,
        body: br#"{"user":{"name":"evil"}}"#,
        ..req("/api")
    };
    let v = e.inspect(&r);
    assert!(v.blocks(), "{v:?}");
    assert_eq!(v.matches[0].variable, "ARGS:json.user.name");
}

#[test]
fn unknown_constructs_are_load_errors() {
    for (bad, what) in [
        (
            "SecRule ARGS \"@nope x\" \"id:1,phase:2,pass\"",
            "operator @nope",
        ),
        (
            "SecRule NOPE \"@rx x\" \"id:1,phase:2,pass\"",
            "variable NOPE",
        ),
        (
            "SecRule ARGS \"@rx x\" \"id:1,phase:2,frob\"",
            "action frob",
        ),
        ("SecRule ARGS \"@rx x\" \"id:1,phase:2,t:frob\"", "t:frob"),
        (
            "SecRule ARGS \"@rx x\" \"id:1,phase:2,skipAfter:NOWHERE\"",
            "NOWHERE",
        ),
    ] {
        let err = Engine::load(&Config::new(crs(bad)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REQUEST-900-TEST.conf:1") && err.contains(what),
            "{err}"
        );
    }
}
