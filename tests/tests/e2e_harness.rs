//! The local task runner itself, without TaskGuard in it: containers share the loopback and
//! the VPC resolver, `volumesFrom` is read-only when asked, `user` and private `/tmp` hold,
//! `dependsOn: HEALTHY` waits for the health check, and dropping the task leaves no process
//! and no namespace behind, even one that escaped into its own session.
//!
//! The end-to-end test trusts this harness for "nothing is left running"; this is what makes
//! that trust earned.

use std::net::Ipv4Addr;
use std::time::Duration;

use guard_tests::netns;
use guard_tests::task::{LocalTask, TaskConfig};
use guard_tests::vpc::{Internet, Record, Resolver};
use guard_tests::{artifacts, require};
use serde_json::json;

const TEST: &str = "local_task_runs_containers_in_namespaces_and_leaves_nothing_behind";

#[test]
fn local_task_runs_containers_in_namespaces_and_leaves_nothing_behind() {
    if !require::root(TEST) || !require::commands(TEST, &["ip", "dnsmasq", "curl", "python3"]) {
        return;
    }
    let dist = artifacts::dist_dir();
    artifacts::dns_guard();
    let work = std::env::temp_dir().join(format!("taskguard-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let task = json!({
        "family": "harness",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
                "name": "provider",
                "image": "harness:sidecar",
                "entryPoint": ["/bin/sh", "-c"],
                "command": ["echo started; exec sleep 1000"],
                "healthCheck": {"command": ["CMD-SHELL", "test -x /guard/bin/dns-guard && test -f /tmp/ready"]}
            },
            {
                "name": "app",
                "image": "debian:12",
                "user": "65534:65534",
                "entryPoint": ["/bin/sh", "-c"],
                "command": ["id -u; getent hosts api.partner.test; curl -sS http://api.partner.test/; \
                             if touch /guard/run/x 2>/dev/null; then echo guard-writable; else echo guard-read-only; fi; \
                             test -e /tmp/ready && echo shared-tmp; (setsid sleep 1000 &); echo done; exec sleep 1000"],
                "environment": [{"name": "FROM_TASK", "value": "yes"}],
                "volumesFrom": [{"sourceContainer": "provider", "readOnly": true}],
                "dependsOn": [{"containerName": "provider", "condition": "HEALTHY"}]
            }
        ]
    });
    let config = TaskConfig {
        netns_prefix: "tg-harness".into(),
        work_dir: work.clone(),
        dist,
        sidecar_image: "harness:sidecar".into(),
        sidecar_resolv_conf: "nameserver 127.0.0.2\n".into(),
        app_resolv_conf: "nameserver 127.0.0.2\n".into(),
        extra_binds: Default::default(),
        volume_files: Vec::new(),
    };
    let name;
    let inode;
    {
        // The provider only gets healthy once /tmp/ready exists in *its* /tmp; it is created
        // from outside half a second after the provider started, so `start` returning at all
        // with the marker in place shows the app waited for the health check.
        let provider_tmp = work.join("containers/provider/tmp");
        let creator = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !provider_tmp.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(500));
            std::fs::write(provider_tmp.join("ready"), "").is_ok()
        });
        let mut local = LocalTask::new(config).expect("creating the task namespace");
        let _resolver = Resolver::start(
            &local.netns,
            &work,
            &[Record::A {
                name: "api.partner.test".into(),
                ip: Ipv4Addr::new(127, 0, 10, 1),
            }],
        )
        .expect("starting the VPC resolver");
        let _internet = Internet::start(&local.netns, &work, &[Ipv4Addr::new(127, 0, 10, 1)], None)
            .expect("starting the internet hosts");
        local.start(&task).expect("starting the task");
        assert!(
            creator.join().expect("marker thread"),
            "could not create the ready marker"
        );
        let app_dir = work.join("containers/app");
        assert!(app_dir.exists(), "app not started");
        local
            .wait_stdout("app", "done", Duration::from_secs(20))
            .expect("app ran");
        let out = local.stdout("app");
        assert!(out.starts_with("65534\n"), "user not applied:\n{out}");
        assert!(
            out.contains("127.0.10.1      api.partner.test"),
            "no VPC resolver answer:\n{out}"
        );
        assert!(
            out.contains("hello from 127.0.10.1"),
            "no internet answer:\n{out}"
        );
        assert!(
            out.contains("guard-read-only"),
            "volumesFrom readOnly not honoured:\n{out}"
        );
        assert!(!out.contains("shared-tmp"), "containers share /tmp:\n{out}");
        let exec = local
            .exec(
                "app",
                &[
                    "/bin/sh",
                    "-c",
                    "echo $FROM_TASK $(id -u) $(cat /etc/hostname 2>/dev/null | wc -c)",
                ],
                Duration::from_secs(5),
            )
            .expect("exec into app");
        assert!(
            String::from_utf8_lossy(&exec.stdout).starts_with("yes 65534"),
            "{exec:?}"
        );
        name = local.netns.name().to_string();
        let meta = std::fs::metadata(local.netns.path()).expect("netns");
        inode = std::os::unix::fs::MetadataExt::ino(&meta);
        assert!(netns::exists(&name));
        // dnsmasq, python, two containers, the escaped `setsid sleep`.
        assert!(
            local.netns.processes().len() >= 5,
            "{:?}",
            local.netns.processes()
        );
    }
    assert!(!netns::exists(&name), "namespace {name} left behind");
    let left = netns::processes_in_netns(inode);
    assert!(left.is_empty(), "processes left running: {left:?}");
    let _ = std::fs::remove_dir_all(&work);
}
