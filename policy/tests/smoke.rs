use guard_policy::{DnsName, Policy, Verdict};

#[test]
fn smoke() {
    let p = Policy::from_toml(
        r#"
mode = "enforce"
[dns]
default = "deny"
allow = ["api.github.com", "*.amazonaws.com", "bücher.example"]
deny  = ["*.ngrok.io"]
alert = ["*.pastebin.com"]
[process]
default = "allow"
deny  = ["/usr/bin/nc", "ncat", "/tmp/*"]
alert = ["curl"]
"#,
        "t.toml",
    )
    .unwrap();
    let c = p.compile();
    let v = c.view();
    let d = |n: &str| {
        let d = v.decide_dns(&DnsName::from_text(n.as_bytes()).unwrap());
        format!("{} {}", d.verdict.as_str(), d.rule)
    };
    assert_eq!(d("api.github.com"), "allow dns.allow:api.github.com");
    assert_eq!(d("x.api.github.com"), "deny dns.default");
    assert_eq!(
        d("s3.us-east-1.amazonaws.com."),
        "allow dns.allow:*.amazonaws.com"
    );
    assert_eq!(d("amazonaws.com"), "deny dns.default");
    assert_eq!(d("a.B.NGROK.io"), "deny dns.deny:*.ngrok.io");
    assert_eq!(
        d("xn--bcher-kva.example"),
        "allow dns.allow:xn--bcher-kva.example"
    );
    let pr = |n: &str| {
        let d = v.decide_process(n.as_bytes());
        format!("{} {}", d.verdict.as_str(), d.rule)
    };
    assert_eq!(pr("/usr/bin/nc"), "deny process.deny:/usr/bin/nc");
    assert_eq!(pr("/bin/ncat"), "deny process.deny:ncat");
    assert_eq!(pr("/tmp/x"), "deny process.deny:/tmp/*");
    assert_eq!(pr("/tmp/x/y"), "allow process.default");
    assert_eq!(pr("/usr/bin/curl"), "alert process.alert:curl");
    assert_eq!(v.decide_process(b"/bin/ls").verdict, Verdict::Allow);
    println!("{}", c.to_json());
    let back = Policy::from_json(c.to_json(), "p.json").unwrap();
    assert_eq!(back, p);
    assert_eq!(back.compile().version(), c.version());
    let e = Policy::from_toml(
        "mode = \"x\"\n[dns]\ndeny = [\"*\", \"ok.com\", \"a..b\"]\nfoo = 1\n",
        "f.toml",
    )
    .unwrap_err();
    println!("{e}");
    let e = Policy::from_json(
        "{\"mode\": \"x\", \"dns\": {\"deny\": [\"*.com\"]}}",
        "f.json",
    )
    .unwrap_err();
    println!("{e}");
    let e = Policy::from_json("{\"mode\": \n\"x\",, }", "f.json").unwrap_err();
    println!("{e}");
    let e = Policy::from_toml("mode = \n", "f.toml").unwrap_err();
    println!("{e}");
}
