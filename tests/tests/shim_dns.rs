//! The shim decides name lookups: a denied name fails as "host not found" in each API's own
//! terms while the same name resolves under a policy that allows it.

use guard_tests::require;
use guard_tests::shim::{Guard, expect_event, find};

/// `localhost` is in every /etc/hosts, so it resolves without a network; denying it proves
/// that the failure comes from the shim.
fn policy(verdict: &str) -> String {
    format!(
        r#"
[dns]
default = "allow"
{verdict} = ["localhost"]
[process]
default = "allow"
"#
    )
}

#[test]
fn getent_hosts_and_ahosts() {
    let denied = Guard::new(&policy("deny")).unwrap();
    let allowed = Guard::new(&policy("allow")).unwrap();
    for db in ["hosts", "ahosts"] {
        let out = denied
            .command("getent")
            .args([db, "localhost"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "getent {db} exits 2 for not found: {out:?}"
        );
        let out = allowed
            .command("getent")
            .args([db, "localhost"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1"));
        // Address literals are not names: never blocked.
        let out = denied
            .command("getent")
            .args([db, "127.0.0.1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let events = denied.events();
    let ev = expect_event(
        &events,
        "blocked",
        "localhost",
        "getaddrinfo",
        &denied.version(),
    );
    assert_eq!(ev["kind"], "dns");
    assert_eq!(ev["rule"], "dns.deny:localhost");
    assert!(find(&events, "blocked", "127.0.0.1").is_empty());
    assert!(allowed.events().is_empty());
}

#[test]
fn python_getaddrinfo() {
    if !require::commands("python_getaddrinfo", &["python3"]) {
        return;
    }
    let code = r#"
import socket
try:
    print("resolved", socket.getaddrinfo("localhost", 80)[0][4][0])
except socket.gaierror as e:
    print("gaierror", e.errno)
print("literal", socket.getaddrinfo("127.0.0.1", 80)[0][4][0])
"#;
    let denied = Guard::new(&policy("deny")).unwrap();
    let out = denied
        .command("python3")
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("gaierror {}", libc::EAI_NONAME)),
        "{stdout}"
    );
    assert!(stdout.contains("literal 127.0.0.1"), "{stdout}");
    expect_event(
        &denied.events(),
        "blocked",
        "localhost",
        "getaddrinfo",
        &denied.version(),
    );
    let allowed = Guard::new(&policy("allow")).unwrap();
    let out = allowed
        .command("python3")
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolved 127.0.0.1"));
}

#[test]
fn perl_gethostbyname() {
    if !require::commands("perl_gethostbyname", &["perl"]) {
        return;
    }
    let code = r#"my @a = gethostbyname("localhost"); print @a ? "found\n" : "not found\n";"#;
    let denied = Guard::new(&policy("deny")).unwrap();
    let out = denied.command("perl").arg("-e").arg(code).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not found\n");
    // perl calls gethostbyname (or the _r variant, depending on its build).
    let events = denied.events();
    let blocked = find(&events, "blocked", "localhost");
    assert!(
        blocked.iter().any(|e| e["api"]
            .as_str()
            .is_some_and(|a| a.starts_with("gethostbyname"))),
        "{events:#?}"
    );
    let allowed = Guard::new(&policy("allow")).unwrap();
    let out = allowed
        .command("perl")
        .arg("-e")
        .arg(code)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "found\n");
}

#[test]
fn curl_cannot_resolve_a_denied_host() {
    let test = "curl_cannot_resolve_a_denied_host";
    if !require::root(test) || !require::commands(test, &["curl", "unshare", "mount"]) {
        return;
    }
    // curl answers `localhost` itself (RFC 6761), so the name comes from a private
    // /etc/hosts, bind-mounted in a mount namespace of its own.
    let name = "shimtest.guard.test";
    let policy = |verdict: &str| {
        format!(
            "[dns]\ndefault = \"allow\"\n{verdict} = [\"{name}\"]\n[process]\ndefault = \"allow\"\n"
        )
    };
    let run = |guard: &Guard| {
        let hosts = guard.path("hosts");
        std::fs::write(&hosts, format!("127.0.0.1 {name}\n")).unwrap();
        // Port 9 on loopback is closed: resolved -> connection refused (7); not -> 6.
        let script = format!(
            "mount --bind {} /etc/hosts && exec curl -s -o /dev/null --max-time 5 http://{name}:9/",
            hosts.display()
        );
        guard
            .command("unshare")
            .args(["-m", "sh", "-c", &script])
            .output()
            .unwrap()
    };
    let allowed = Guard::new(&policy("allow")).unwrap();
    let out = run(&allowed);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let denied = Guard::new(&policy("deny")).unwrap();
    let out = run(&denied);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let events = denied.events();
    expect_event(&events, "blocked", name, "getaddrinfo", &denied.version());
}

const RESOLVER_C: &str = r#"
#define _GNU_SOURCE
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    struct hostent h, *r = (void *)1;
    char buf[4096];
    int herr = 0;
    int rc = gethostbyname_r("localhost", &h, buf, sizeof buf, &r, &herr);
    printf("gethostbyname_r rc=%d found=%d herr=%d\n", rc, r != NULL, herr);
    r = (void *)1;
    rc = gethostbyname2_r("localhost", 2, &h, buf, sizeof buf, &r, &herr);
    printf("gethostbyname2_r rc=%d found=%d herr=%d\n", rc, r != NULL, herr);
    struct hostent *g = gethostbyname2("localhost", 2);
    printf("gethostbyname2 found=%d h_errno=%d\n", g != NULL, h_errno);
    unsigned char ans[512];
    h_errno = 0;
    int n = res_query("localhost", C_IN, T_A, ans, sizeof ans);
    printf("res_query=%d h_errno=%d\n", n, h_errno);
    h_errno = 0;
    n = res_search("localhost", C_IN, T_A, ans, sizeof ans);
    printf("res_search=%d h_errno=%d\n", n, h_errno);
    h_errno = 0;
    n = res_querydomain("localhost", NULL, C_IN, T_A, ans, sizeof ans);
    printf("res_querydomain=%d h_errno=%d\n", n, h_errno);
    unsigned char q[512];
    int qlen = res_mkquery(QUERY, "LocalHost.", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    h_errno = 0;
    memset(ans, 0, sizeof ans);
    n = res_send(q, qlen, ans, sizeof ans);
    /* A denied name gets the answer a server that does not know it sends: NXDOMAIN. */
    printf("res_send=%d qr=%d rcode=%d same_id=%d\n", n, ans[2] >> 7, ans[3] & 15,
           ans[0] == q[0] && ans[1] == q[1]);
    struct __res_state st;
    memset(&st, 0, sizeof st);
    res_ninit(&st);
    st.res_h_errno = 0;
    n = res_nquery(&st, "localhost", C_IN, T_A, ans, sizeof ans);
    printf("res_nquery=%d res_h_errno=%d\n", n, st.res_h_errno);
    struct gaicb a = {.ar_name = "localhost"}, b = {.ar_name = "127.0.0.1"};
    struct gaicb *list[] = {&a, &b};
    rc = getaddrinfo_a(GAI_WAIT, list, 2, NULL);
    printf("getaddrinfo_a rc=%d a=%d b=%d\n", rc, gai_error(&a), gai_error(&b));
    return 0;
}
"#;

#[test]
fn resolver_api_fails_denied_names_as_not_found() {
    if !require::commands("resolver_api_fails_denied_names_as_not_found", &["gcc"]) {
        return;
    }
    let guard = Guard::new(&policy("deny")).unwrap();
    let prog = guard_tests::shim::compile_c_with(
        &guard.dir,
        "resolver",
        RESOLVER_C,
        "gcc",
        &["-lresolv", "-lanl"],
    )
    .unwrap();
    let out = guard.command(&prog).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "gethostbyname_r rc=0 found=0 herr=1",
        "gethostbyname2_r rc=0 found=0 herr=1",
        "gethostbyname2 found=0 h_errno=1",
        "res_query=-1 h_errno=1",
        "res_search=-1 h_errno=1",
        "res_querydomain=-1 h_errno=1",
        "res_send=27 qr=1 rcode=3 same_id=1",
        "res_nquery=-1 res_h_errno=1",
        &format!("getaddrinfo_a rc=0 a={} b=0", libc::EAI_NONAME),
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    let events = guard.events();
    let apis: Vec<&str> = find(&events, "blocked", "localhost")
        .iter()
        .filter_map(|e| e["api"].as_str())
        .collect();
    for api in [
        "gethostbyname_r",
        "gethostbyname2_r",
        "gethostbyname2",
        "res_query",
        "res_search",
        "res_querydomain",
        "res_send",
        "getaddrinfo_a",
    ] {
        assert!(apis.contains(&api), "{api}: {events:#?}");
    }
    // The same program under a policy that allows the name resolves it.
    let allowed = Guard::new(&policy("allow")).unwrap();
    let out = allowed
        .command(&prog)
        .env("RES_OPTIONS", "timeout:1 attempts:1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("gethostbyname_r rc=0 found=1"), "{stdout}");
    assert!(stdout.contains("getaddrinfo_a rc=0 a=0 b=0"), "{stdout}");
}

#[test]
fn audit_mode_resolves_and_reports_would_block() {
    let guard = Guard::new(&format!("mode = \"audit\"\n{}", policy("deny"))).unwrap();
    let out = guard
        .command("getent")
        .args(["ahosts", "localhost"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    expect_event(
        &guard.events(),
        "would-block",
        "localhost",
        "getaddrinfo",
        &guard.version(),
    );
}
