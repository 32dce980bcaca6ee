//! The demo task's scenario, shared by the end-to-end test (which asserts on it) and
//! `scripts/demo` (which prints it): embed `examples/task-definition.json` with guard-embed,
//! run it locally around a test zone, then edit the policy and kill the sidecar.
//!
//! The test zone (answered by the "VPC resolver"):
//!
//! | name | answer | policy |
//! |---|---|---|
//! | `api.partner.test` | 203.0.113.10 | allowed |
//! | `www.partner.test` | 203.0.113.10 | allowed (still allowed after the policy edit) |
//! | `paste.pastebin.test` | 203.0.113.20 | alerted |
//! | `exfil.attacker.test` | 203.0.113.66 | denied |
//! | `cdn.partner.test` | CNAME `c2.attacker.test` (203.0.113.67) | allowed name, denied target |
//! | (no name) | 203.0.113.77 | direct IP: no allowed name answered it, so `[net]` refuses it |
//!
//! Every address is an HTTP server whose request log shows what actually got out. They live
//! outside the task, in a second network namespace behind a veth pair
//! ([`crate::netns_outside`]), so reaching one is a connection out of the task that the
//! shim's `[net]` hooks decide (the task's loopback is always allowed).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use guard_contract as contract;
use serde_json::Value;

use crate::netns_outside::Outside;
use crate::task::{self, LocalTask, TaskConfig};
use crate::vpc::{Internet, RESOLVER_IP, Record, Resolver};

/// The sidecar image name given to guard-embed (the local run gives containers of this image
/// the `/guard` volume).
pub const SIDECAR_IMAGE: &str = "taskguard:local";
pub const SIDECAR: &str = contract::SIDECAR_NAME;
pub const WORKER: &str = "worker";
pub const WEB: &str = "web";
/// The prefix of every line the worker prints about an attempt.
pub const LINE_PREFIX: &str = "taskguard-demo: ";

pub const ALLOWED_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub const ALERTED_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
pub const DENIED_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
pub const CLOAKED_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 67);
pub const DIRECT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);
/// Every internet host of the zone.
pub const HOSTS: [Ipv4Addr; 5] = [ALLOWED_IP, ALERTED_IP, DENIED_IP, CLOAKED_IP, DIRECT_IP];

pub fn zone() -> Vec<Record> {
    let a = |name: &str, ip| Record::A {
        name: name.into(),
        ip,
    };
    vec![
        a("api.partner.test", ALLOWED_IP),
        a("www.partner.test", ALLOWED_IP),
        a("paste.pastebin.test", ALERTED_IP),
        a("exfil.attacker.test", DENIED_IP),
        a("c2.attacker.test", CLOAKED_IP),
        Record::Cname {
            alias: "cdn.partner.test".into(),
            target: "c2.attacker.test".into(),
        },
    ]
}

/// Where things are.
pub struct Inputs {
    pub task_definition: PathBuf,
    pub policy: PathBuf,
    pub dist: PathBuf,
    pub guard_embed: PathBuf,
    pub work_dir: PathBuf,
    pub netns_prefix: String,
    /// `/etc/resolv.conf` of the app containers as the task starts.
    pub app_resolv_conf: String,
}

/// Apps asking the sidecar: what `guard-exec --resolver 127.0.0.1` makes of the file.
pub const RESOLV_CONF_SIDECAR: &str = "nameserver 127.0.0.1\n";
/// What Fargate writes into every container of an `awsvpc` task: the VPC resolver (which
/// `dnsServers` cannot change for `awsvpc`).
pub const RESOLV_CONF_FARGATE: &str = "search ec2.internal\nnameserver 127.0.0.2\n";

impl Inputs {
    /// The examples of the workspace, with the built artifacts.
    pub fn examples(root: &Path, dist: PathBuf, guard_embed: PathBuf, work_dir: PathBuf) -> Inputs {
        Inputs {
            task_definition: root.join("examples/task-definition.json"),
            policy: root.join("examples/policy.toml"),
            dist,
            guard_embed,
            work_dir,
            netns_prefix: "taskguard-e2e".into(),
            app_resolv_conf: RESOLV_CONF_SIDECAR.into(),
        }
    }
}

/// One line the worker printed: what it tried and whether it worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub what: String,
    pub ok: bool,
    /// The error output when it failed.
    pub detail: String,
}

/// The running scenario. Drop order: the task (and its namespace) first, then the VPC, then
/// the namespace outside the task.
pub struct Scenario {
    pub task: LocalTask,
    pub resolver: Resolver,
    pub internet: Internet,
    pub outside: Outside,
    /// The task definition guard-embed wrote.
    pub embedded: Value,
    pub embedded_path: PathBuf,
    /// The policy file the sidecar serves (on the host), which a policy edit changes.
    pub live_policy: PathBuf,
    pub work_dir: PathBuf,
    /// How long the task took to start: namespace, VPC, sidecar healthy, apps started.
    pub startup: Duration,
}

/// Runs guard-embed like a pipeline would, returning the embedded JSON and its path.
pub fn embed(inputs: &Inputs) -> Result<(Value, PathBuf)> {
    let out = inputs.work_dir.join("task-definition.embedded.json");
    let output = Command::new(&inputs.guard_embed)
        .arg("embed")
        .arg(&inputs.task_definition)
        .arg("-o")
        .arg(&out)
        .args(["--sidecar-image", SIDECAR_IMAGE])
        .output()
        .with_context(|| format!("running {}", inputs.guard_embed.display()))?;
    if !output.status.success() {
        bail!(
            "guard-embed embed {} failed ({}): {}",
            inputs.task_definition.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("reading guard-embed's output {}", out.display()))?;
    let value = serde_json::from_str(&text)
        .with_context(|| format!("guard-embed wrote invalid JSON to {}", out.display()))?;
    Ok((value, out))
}

/// The container definition called `name`.
pub fn definition<'a>(task: &'a Value, name: &str) -> Result<&'a Value> {
    task::container_definitions(task)?
        .iter()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
        .with_context(|| format!("the embedded task definition has no container {name}"))
}

/// The sidecar's policy source: the argument after `--policy` in its command line.
pub fn policy_source(task: &Value) -> Result<String> {
    let argv = task::command_line(definition(task, SIDECAR)?)?;
    argv.iter()
        .position(|a| a == "--policy")
        .and_then(|i| argv.get(i + 1))
        .cloned()
        .with_context(|| format!("the sidecar's command line has no --policy: {argv:?}"))
}

impl Scenario {
    /// Embeds, starts the VPC and the task, and waits until the worker has made its attempts.
    pub fn start(inputs: &Inputs) -> Result<Scenario> {
        let started = Instant::now();
        std::fs::create_dir_all(&inputs.work_dir)
            .with_context(|| format!("creating {}", inputs.work_dir.display()))?;
        let (embedded, embedded_path) = embed(inputs)?;
        let source = policy_source(&embedded)?;
        let volume_prefix = format!("{}/", contract::VOLUME);
        let Some(relative) = source.strip_prefix(&volume_prefix) else {
            bail!(
                "the sidecar reads its policy from {source:?}; the local run supports a file \
                 in the sidecar image's volume ({volume_prefix}...)"
            );
        };
        let config = TaskConfig {
            netns_prefix: inputs.netns_prefix.clone(),
            work_dir: inputs.work_dir.clone(),
            dist: inputs.dist.clone(),
            sidecar_image: SIDECAR_IMAGE.into(),
            // The sidecar forwards to the VPC resolver; the apps ask the sidecar.
            sidecar_resolv_conf: format!("nameserver {RESOLVER_IP}\n"),
            app_resolv_conf: inputs.app_resolv_conf.clone(),
            extra_binds: Default::default(),
            volume_files: vec![(inputs.policy.clone(), relative.to_string())],
        };
        let live_policy = inputs.work_dir.join("volume-guard").join(relative);
        let mut task = LocalTask::new(config)?;
        let resolver = Resolver::start(&task.netns, &inputs.work_dir, &zone())?;
        let hosts: Vec<String> = HOSTS.iter().map(Ipv4Addr::to_string).collect();
        let outside = Outside::link(&task.netns, &inputs.netns_prefix, &hosts)?;
        let internet = Internet::start(&outside.netns, &inputs.work_dir, &HOSTS, None)?;
        // Reachable from the task over the veth pair (by this process, which has no shim).
        crate::vpc::wait_tcp(
            &task.netns,
            SocketAddr::from((DIRECT_IP, 80)),
            Duration::from_secs(10),
        )
        .context("the internet hosts are not reachable from the task")?;
        task.start(&embedded)?;
        let scenario = Scenario {
            task,
            resolver,
            internet,
            outside,
            embedded,
            embedded_path,
            live_policy,
            work_dir: inputs.work_dir.clone(),
            startup: started.elapsed(),
        };
        scenario.task.wait_stdout(
            WORKER,
            &format!("{LINE_PREFIX}done"),
            Duration::from_secs(60),
        )?;
        crate::vpc::wait_tcp(
            &scenario.task.netns,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            Duration::from_secs(10),
        )
        .context("the web container does not listen on 8080")?;
        Ok(scenario)
    }

    /// The worker's attempts, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.task
            .stdout(WORKER)
            .lines()
            .filter_map(|line| line.strip_prefix(LINE_PREFIX))
            .filter_map(|rest| {
                let (what, result) =
                    rest.rsplit_once(": ok")
                        .map(|(w, _)| (w, None))
                        .or_else(|| {
                            rest.split_once(": failed")
                                .map(|(w, detail)| (w, Some(detail)))
                        })?;
                Some(Attempt {
                    what: what.to_string(),
                    ok: result.is_none(),
                    detail: result.unwrap_or("").trim().to_string(),
                })
            })
            .collect()
    }

    /// The sidecar's audit log (its stdout).
    pub fn audit_log(&self) -> PathBuf {
        self.task
            .find(SIDECAR)
            .map(|c| c.stdout.clone())
            .unwrap_or_default()
    }

    /// Every JSON line of the audit log.
    pub fn audit_events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Waits until an audit event satisfies `matches` (events reach the log asynchronously:
    /// the shim's datagram is queued at the sidecar), for up to `within`.
    pub fn wait_event(&self, within: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.audit_events().into_iter().find(|e| matches(e)) {
                return Some(e);
            }
            if started.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the audit log has not grown for `quiet` (at most `within`).
    pub fn settle(&self, quiet: Duration, within: Duration) {
        let started = Instant::now();
        let mut last = (self.audit_events().len(), Instant::now());
        while started.elapsed() < within {
            std::thread::sleep(Duration::from_millis(20));
            let n = self.audit_events().len();
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() >= quiet {
                return;
            }
        }
    }

    /// Runs a command in a container (ECS Exec), 10 s at most.
    pub fn exec(&self, container: &str, argv: &[&str]) -> Result<Output> {
        self.task.exec(container, argv, Duration::from_secs(10))
    }

    /// A marker file in a container's `/tmp`, seen from the host.
    pub fn tmp_file(&self, container: &str, relative: &str) -> PathBuf {
        self.work_dir
            .join("containers")
            .join(container)
            .join("tmp")
            .join(relative)
    }

    /// Runs `tests/dig/check-policy EXPECTATIONS` inside the worker container against the
    /// sidecar (the worker's resolver), as a user does with ECS Exec.
    pub fn check_policy(&self, script: &Path, expectations: &Path) -> Result<Output> {
        if !script.exists() {
            bail!(
                "{} does not exist (tests/dig is part of the dns-guard issue)",
                script.display()
            );
        }
        // The container sees its own private /tmp, not the host's, and the checkout may live
        // anywhere (under /tmp in CI): copy both files in, as a user copies them into a task.
        let copied_script = self.tmp_file(WORKER, "check-policy");
        let copied_expectations = self.tmp_file(WORKER, "expectations");
        std::fs::copy(script, &copied_script)
            .with_context(|| format!("copying {}", script.display()))?;
        std::fs::copy(expectations, &copied_expectations)
            .with_context(|| format!("copying {}", expectations.display()))?;
        self.exec(WORKER, &["/tmp/check-policy", "/tmp/expectations"])
    }
}

/// How long a policy edit took to reach each enforcement point.
#[derive(Debug, Clone)]
pub struct PolicyEdit {
    /// The text the policy file got.
    pub policy: String,
    /// Audit events written before the edit (the worker's attempts).
    pub events_before: usize,
    /// A long-running process in the worker (python): a lookup of the newly denied name
    /// fails, and a launch of the newly denied program fails.
    pub running_process_name: Option<Duration>,
    pub running_process_program: Option<Duration>,
    /// The sidecar answers the newly denied name as blocked (`dig` in the worker).
    pub sidecar: Option<Duration>,
    /// A new process in the worker: lookup and launch are refused.
    pub new_process_name: Option<Duration>,
    pub new_process_program: Option<Duration>,
}

impl PolicyEdit {
    pub fn slowest(&self) -> Option<Duration> {
        [
            self.running_process_name,
            self.running_process_program,
            self.sidecar,
            self.new_process_name,
            self.new_process_program,
        ]
        .into_iter()
        .try_fold(Duration::ZERO, |max, d| d.map(|d| max.max(d)))
    }
}

/// The edit: `api.partner.test` (allowed by `*.partner.test`) becomes denied by an exact
/// rule, and `perl` becomes a denied program.
pub fn edited_policy(original: &str) -> Result<String> {
    let dns = "deny = [\"*.attacker.test\"]";
    let process = "deny = [\n";
    if !original.contains(dns) || !original.contains(process) {
        bail!(
            "examples/policy.toml no longer has the lines the policy edit changes: {dns:?}, {process:?}"
        );
    }
    Ok(original
        .replacen(dns, "deny = [\"*.attacker.test\", \"api.partner.test\"]", 1)
        .replacen(process, "deny = [\n  \"perl\",\n", 1))
}

fn succeeded(output: &Result<Output>) -> bool {
    output.as_ref().is_ok_and(|o| o.status.success())
}

/// A command run in the worker to see whether the edit applies.
struct ProbeCommand {
    argv: &'static [&'static str],
    /// `dig +short` succeeds either way; it is allowed when it prints an address.
    allowed_when_output: bool,
}

const DIG: ProbeCommand = ProbeCommand {
    argv: &["dig", "+short", "+time=1", "+tries=1", "api.partner.test"],
    allowed_when_output: true,
};
const GETENT: ProbeCommand = ProbeCommand {
    argv: &["getent", "hosts", "api.partner.test"],
    allowed_when_output: false,
};
const PERL: ProbeCommand = ProbeCommand {
    argv: &["/bin/sh", "-c", "perl -e 0"],
    allowed_when_output: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Allowed,
    Blocked,
    /// dig failed outright (no answer at all): neither state.
    Broken,
}

impl Scenario {
    fn probe(&self, probe: &ProbeCommand) -> Result<Probe> {
        let out = self.exec(WORKER, probe.argv)?;
        Ok(match (probe.allowed_when_output, out.status.success()) {
            (true, false) => Probe::Broken,
            (true, true) if out.stdout.trim_ascii().is_empty() => Probe::Blocked,
            (true, true) | (false, true) => Probe::Allowed,
            (false, false) => Probe::Blocked,
        })
    }

    /// Edits the live policy (write + rename, like a config sync) and measures, polling every
    /// 20 ms for up to `within`, when each enforcement point applies it.
    pub fn edit_policy(&self, within: Duration) -> Result<PolicyEdit> {
        let watch = "watch: api.partner.test";
        self.task.wait_stdout(
            WORKER,
            &format!("{watch} resolves, perl runs"),
            Duration::from_secs(10),
        )?;
        // Each probe must show the old policy first, or measuring the edit proves nothing.
        for probe in [&DIG, &GETENT, &PERL] {
            let state = self.probe(probe)?;
            if state != Probe::Allowed {
                bail!(
                    "before the policy edit, {:?} in the worker was {state:?}",
                    probe.argv
                );
            }
        }
        let original = std::fs::read_to_string(&self.live_policy)
            .with_context(|| format!("reading {}", self.live_policy.display()))?;
        let policy = edited_policy(&original)?;
        self.settle(Duration::from_millis(200), Duration::from_secs(3));
        let events_before = self.audit_events().len();
        let tmp = self.live_policy.with_extension("toml.edit");
        std::fs::write(&tmp, &policy)?;
        let edited_at = Instant::now();
        std::fs::rename(&tmp, &self.live_policy)?;
        let mut edit = PolicyEdit {
            policy,
            events_before,
            running_process_name: None,
            running_process_program: None,
            sidecar: None,
            new_process_name: None,
            new_process_program: None,
        };
        while edited_at.elapsed() < within {
            let out = self.task.stdout(WORKER);
            let now = Some(edited_at.elapsed());
            if edit.running_process_name.is_none() && out.contains(&format!("{watch} blocked")) {
                edit.running_process_name = now;
            }
            if edit.running_process_program.is_none() && out.contains("perl blocked") {
                edit.running_process_program = now;
            }
            if edit.sidecar.is_none() && self.probe(&DIG)? == Probe::Blocked {
                edit.sidecar = Some(edited_at.elapsed());
            }
            if edit.new_process_name.is_none() && self.probe(&GETENT)? == Probe::Blocked {
                edit.new_process_name = Some(edited_at.elapsed());
            }
            if edit.new_process_program.is_none() && self.probe(&PERL)? == Probe::Blocked {
                edit.new_process_program = Some(edited_at.elapsed());
            }
            if edit.slowest().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(edit)
    }
}

/// What an app container does after the sidecar died.
#[derive(Debug, Clone)]
pub struct AfterSidecar {
    pub container: String,
    pub guard_fail: String,
    /// With the last published policy still on the volume.
    pub allowed_program_runs: bool,
    pub denied_program_runs: bool,
    /// An allowed name (`www.partner.test`) resolved before the kill, and after it.
    pub allowed_name_resolved_before: bool,
    pub allowed_name_resolves: bool,
    /// With no valid policy on the volume (a new process decides from nothing).
    pub no_policy_program_runs: bool,
    /// guard-exec starting a new program with no policy (`GUARD_WAIT=1`).
    pub no_policy_guard_exec_runs: bool,
    pub no_policy_guard_exec_stderr: String,
}

impl Scenario {
    /// Kills the sidecar (SIGKILL, like an OOM kill), probes every app container, then removes
    /// the published policy (no valid policy left) and probes again.
    pub fn kill_sidecar(&mut self) -> Result<Vec<AfterSidecar>> {
        let allowed_name = ["getent", "hosts", "www.partner.test"];
        let before: Vec<(String, bool)> = self
            .task
            .containers
            .iter()
            .filter(|c| c.name != SIDECAR)
            .map(|c| {
                (
                    c.name.clone(),
                    succeeded(&self.exec(&c.name, &allowed_name)),
                )
            })
            .collect();
        self.task.kill(SIDECAR)?;
        let apps: Vec<(String, String)> = self
            .task
            .containers
            .iter()
            .filter(|c| c.name != SIDECAR)
            .map(|c| {
                let fail = c
                    .base_env
                    .iter()
                    .find(|(k, _)| k == contract::env::FAIL)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| contract::FAIL_CLOSED.to_string());
                (c.name.clone(), fail)
            })
            .collect();
        let mut results = Vec::new();
        for (name, fail) in &apps {
            let run = |argv: &[&str]| succeeded(&self.exec(name, argv));
            results.push(AfterSidecar {
                container: name.clone(),
                guard_fail: fail.clone(),
                allowed_program_runs: run(&["/bin/sh", "-c", "true"]),
                denied_program_runs: run(&["/bin/sh", "-c", "nc -z -w 1 203.0.113.10 80"]),
                allowed_name_resolved_before: before.iter().any(|(n, ok)| n == name && *ok),
                allowed_name_resolves: run(&allowed_name),
                no_policy_program_runs: false,
                no_policy_guard_exec_runs: false,
                no_policy_guard_exec_stderr: String::new(),
            });
        }
        let run_dir = self
            .work_dir
            .join("volume-guard")
            .join(contract::VOLUME_RUN_DIR);
        for file in [contract::POLICY_JSON_FILE, contract::POLICY_BIN_FILE] {
            let path = run_dir.join(file);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        for result in &mut results {
            let name = result.container.clone();
            result.no_policy_program_runs = succeeded(&self.exec(&name, &["/bin/true"]));
            // guard-exec is static, so no shim decides about it; it decides itself.
            let guard_exec = self.task.exec_with_env(
                &name,
                &[contract::BIN_GUARD_EXEC, "--", "/bin/true"],
                &[(contract::env::WAIT, "1")],
                Duration::from_secs(10),
            );
            result.no_policy_guard_exec_runs = succeeded(&guard_exec);
            result.no_policy_guard_exec_stderr = guard_exec
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
                .unwrap_or_else(|e| format!("{e:#}"));
        }
        Ok(results)
    }
}
