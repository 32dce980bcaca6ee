//! The demo task with the `/etc/resolv.conf` Fargate really gives every container of an
//! `awsvpc` task: the VPC resolver, not the sidecar (`dnsServers` cannot be set for `awsvpc`).
//!
//! `e2e.rs` starts the app containers with `resolv.conf` already pointing at the sidecar.
//! This test checks that the embedded task gets there by itself: guard-embed sets
//! `GUARD_RESOLVER=127.0.0.1` (the entryPoint prefix stays `guard-exec --`), and guard-exec must
//! point the worker's (root) `resolv.conf` at the sidecar, or resolvers that bypass libc (dig, Go, c-ares) and the CNAME chains of
//! allowed names go straight to the VPC resolver, unseen.

use guard_tests::scenario::{
    Attempt, CLOAKED_IP, DENIED_IP, Inputs, RESOLV_CONF_FARGATE, Scenario, WORKER,
};
use guard_tests::{artifacts, require};

const TEST: &str = "fargate_resolv_conf_still_sends_app_dns_through_the_sidecar";

fn attempt<'a>(attempts: &'a [Attempt], what: &str) -> &'a Attempt {
    attempts
        .iter()
        .find(|a| a.what.starts_with(what))
        .unwrap_or_else(|| panic!("the worker never reported {what:?}; it reported {attempts:#?}"))
}

#[test]
fn fargate_resolv_conf_still_sends_app_dns_through_the_sidecar() {
    if !require::root(TEST)
        || !require::commands(
            TEST,
            &["ip", "dnsmasq", "dig", "curl", "python3", "nc", "getent"],
        )
    {
        return;
    }
    let root = artifacts::workspace_root();
    artifacts::dns_guard();
    let work = std::env::temp_dir().join(format!("taskguard-e2e-fargate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut inputs = Inputs::examples(
        &root,
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
        work.clone(),
    );
    inputs.netns_prefix = "taskguard-e2e-fargate".into();
    inputs.app_resolv_conf = RESOLV_CONF_FARGATE.into();
    {
        let run = Scenario::start(&inputs).unwrap_or_else(|e| panic!("start-up: {e:#}"));
        let worker_entry = run
            .task
            .container(WORKER)
            .map(|c| c.definition["entryPoint"].clone());
        let resolv = std::fs::read_to_string(work.join("containers/worker/resolv.conf"))
            .expect("the worker's resolv.conf");
        let attempts = run.attempts();
        let requests = run.internet.requests();
        let fix = "guard-embed must set GUARD_RESOLVER=127.0.0.1 in the app containers \
                   (guard-exec then points resolv.conf at the sidecar)";
        assert!(
            resolv.lines().any(|l| l.trim() == "nameserver 127.0.0.1"),
            "the worker's resolv.conf still points at the VPC resolver:\n{resolv}\n\
             entryPoint {worker_entry:?}\n{fix}"
        );
        for denied in ["dig exfil.attacker.test", "curl http://cdn.partner.test/"] {
            let a = attempt(&attempts, denied);
            assert!(
                !a.ok,
                "{denied:?} succeeded with Fargate's resolv.conf: {fix}"
            );
        }
        assert!(
            !requests
                .iter()
                .any(|(ip, _)| [DENIED_IP, CLOAKED_IP].iter().any(|d| *ip == d.to_string())),
            "a denied host got a request with Fargate's resolv.conf: {requests:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
