//! Runs an ECS task definition on this machine, the way ECS/Fargate would, without Docker.
//!
//! The task is a fresh network namespace (loopback only) with the VPC around it
//! ([`crate::vpc`]); each container is a mount namespace ([`crate::container`]) started from
//! its definition's `entryPoint` + `command` + `environment`, `user` and `workingDirectory`,
//! with `volumesFrom` honoured (`readOnly` included). The sidecar image's volume (`/guard`) is
//! populated from the dist layout the way Docker populates a declared VOLUME from the image:
//! by copying it, so the run never writes into the build output. Containers start in
//! `dependsOn` order; a `HEALTHY` dependency waits until the target's `healthCheck` command,
//! run inside the target like ECS runs it, succeeds.
//!
//! Dropping a [`LocalTask`] kills every process in the namespace and deletes it, also when a
//! test fails half-way.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use guard_contract as contract;
use serde_json::Value;

use crate::container::{self, Bind, Spec};
use crate::netns::NetNs;

/// The task's hostname, in the form Fargate gives awsvpc tasks (the ENI's private DNS name).
pub const HOSTNAME: &str = "ip-10-0-1-23.ec2.internal";

/// `/etc/hosts` of every container: what Fargate writes (localhost and the task's hostname).
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n\
                     127.0.0.1 ip-10-0-1-23.ec2.internal ip-10-0-1-23\n";

/// Docker's default `PATH`, which images normally keep.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a local task run needs besides the task definition.
pub struct TaskConfig {
    /// Prefix of the network namespace's name (`ip netns list`).
    pub netns_prefix: String,
    /// Scratch directory of this run (logs, container roots, the volume).
    pub work_dir: PathBuf,
    /// The dist layout (`cargo xtask dist`): the sidecar image's `/guard`.
    pub dist: PathBuf,
    /// The sidecar image name: containers with this image get the `/guard` volume.
    pub sidecar_image: String,
    /// `/etc/resolv.conf` of the sidecar and of the app containers.
    pub sidecar_resolv_conf: String,
    pub app_resolv_conf: String,
    /// Extra binds for one container (e.g. the policy file for a `file` policy source).
    pub extra_binds: BTreeMap<String, Vec<Bind>>,
    /// Files a derived sidecar image adds to its volume (`FROM taskguard` +
    /// `COPY policy.toml /guard/policy.toml`): host file and path relative to the volume.
    pub volume_files: Vec<(PathBuf, String)>,
}

/// One container of the running task.
pub struct RunningContainer {
    pub name: String,
    pub definition: Value,
    pub child: Child,
    pub pid: u32,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Paths of the image volumes this container provides (`VOLUME` of its image).
    pub volumes: Vec<(String, PathBuf)>,
    /// The environment ECS gives it (image defaults + task definition), without what its
    /// entryPoint adds at run time: what health checks and ECS Exec commands get.
    pub base_env: Vec<(String, String)>,
}

/// A task definition running in namespaces. Fields drop in order; the namespace goes last.
pub struct LocalTask {
    pub containers: Vec<RunningContainer>,
    pub config: TaskConfig,
    pub netns: NetNs,
}

fn str_field<'a>(def: &'a Value, field: &str) -> Option<&'a str> {
    def.get(field).and_then(Value::as_str)
}

fn strings(def: &Value, field: &str, container: &str) -> Result<Vec<String>> {
    match def.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).with_context(|| {
                    format!("container {container}: {field} must be an array of strings")
                })
            })
            .collect(),
        Some(_) => bail!("container {container}: {field} must be an array of strings"),
    }
}

/// The container definitions of a register-input task definition.
pub fn container_definitions(task: &Value) -> Result<&Vec<Value>> {
    task.get("containerDefinitions")
        .and_then(Value::as_array)
        .context("task definition: containerDefinitions must be an array")
}

/// `entryPoint` followed by `command`, as Docker merges them when both are set.
pub fn command_line(def: &Value) -> Result<Vec<String>> {
    let name = str_field(def, "name").unwrap_or("?");
    let mut argv = strings(def, "entryPoint", name)?;
    argv.extend(strings(def, "command", name)?);
    if argv.is_empty() {
        bail!(
            "container {name}: neither entryPoint nor command is set; the local run has no \
             image to take them from"
        );
    }
    Ok(argv)
}

/// The environment a container starts with: Docker's defaults, what ECS sets, then the task
/// definition's `environment` (which overrides the image).
pub fn container_env(def: &Value, name: &str) -> Result<Vec<(String, String)>> {
    let home = if def.get("user").is_some() {
        "/"
    } else {
        "/root"
    };
    let mut env: BTreeMap<String, String> = [
        ("PATH", DEFAULT_PATH),
        ("HOSTNAME", HOSTNAME),
        ("HOME", home),
        ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(list) = def.get("environment").and_then(Value::as_array) {
        for item in list {
            let key = str_field(item, "name")
                .with_context(|| format!("container {name}: environment entry without name"))?;
            let value = str_field(item, "value").unwrap_or("");
            env.insert(key.to_string(), value.to_string());
        }
    }
    Ok(env.into_iter().collect())
}

/// Copies the dist layout into a fresh volume directory, keeping modes (0755/0644), with an
/// empty `run/` like the image's.
fn populate_volume(dist: &Path, volume: &Path) -> Result<()> {
    for (dir, files) in [
        (
            contract::VOLUME_BIN_DIR,
            &[contract::DNS_GUARD_FILE, contract::GUARD_EXEC_FILE][..],
        ),
        (contract::VOLUME_LIB_DIR, &[contract::PRELOAD_FILE][..]),
        (contract::VOLUME_RUN_DIR, &[][..]),
    ] {
        let target = volume.join(dir);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        for file in files {
            let from = dist.join(dir).join(file);
            std::fs::copy(&from, target.join(file))
                .with_context(|| format!("copying {} (run `cargo xtask dist`)", from.display()))?;
        }
    }
    std::fs::set_permissions(volume, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

impl LocalTask {
    /// Creates the task's network namespace; nothing runs in it yet (start the VPC around
    /// the task in it, then [`LocalTask::start`] the containers).
    pub fn new(config: TaskConfig) -> Result<LocalTask> {
        std::fs::create_dir_all(&config.work_dir)
            .with_context(|| format!("creating {}", config.work_dir.display()))?;
        let netns = NetNs::create(&config.netns_prefix)?;
        Ok(LocalTask {
            containers: Vec::new(),
            config,
            netns,
        })
    }

    /// Starts every container of `task` (register-input JSON) in dependency order.
    pub fn start(&mut self, task: &Value) -> Result<()> {
        let mut healthy: Vec<String> = Vec::new();
        let mut pending: Vec<Value> = container_definitions(task)?.clone();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for def in pending {
                if self.dependencies_met(&def, &mut healthy)? {
                    self.start_container(def)?;
                } else {
                    still.push(def);
                }
            }
            pending = still;
            if pending.len() == before {
                let names: Vec<&str> = pending
                    .iter()
                    .filter_map(|d| str_field(d, "name"))
                    .collect();
                bail!("containers {names:?} wait for dependencies that never start");
            }
        }
        Ok(())
    }

    /// Whether `def`'s `dependsOn` are satisfied; waits for `HEALTHY` targets that run.
    fn dependencies_met(&self, def: &Value, healthy: &mut Vec<String>) -> Result<bool> {
        let name = str_field(def, "name").unwrap_or("?");
        let Some(deps) = def.get("dependsOn").and_then(Value::as_array) else {
            return Ok(true);
        };
        for dep in deps {
            let target = str_field(dep, "containerName")
                .with_context(|| format!("container {name}: dependsOn without containerName"))?;
            let condition = str_field(dep, "condition").unwrap_or("START");
            if self.find(target).is_none() {
                return Ok(false);
            }
            match condition {
                "START" => {}
                "HEALTHY" => {
                    if !healthy.iter().any(|h| h == target) {
                        self.wait_healthy(target)?;
                        healthy.push(target.to_string());
                    }
                }
                other => bail!(
                    "container {name}: dependsOn condition {other} is not supported by the \
                     local run (START and HEALTHY are)"
                ),
            }
        }
        Ok(true)
    }

    fn start_container(&mut self, def: Value) -> Result<()> {
        let name = str_field(&def, "name")
            .context("container definition without name")?
            .to_string();
        let argv = command_line(&def)?;
        let base_env = container_env(&def, &name)?;
        let dir = self.config.work_dir.join("containers").join(&name);
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))?;
        let is_sidecar = str_field(&def, "image") == Some(self.config.sidecar_image.as_str());
        let resolv = dir.join("resolv.conf");
        let resolv_text = if is_sidecar {
            &self.config.sidecar_resolv_conf
        } else {
            &self.config.app_resolv_conf
        };
        std::fs::write(&resolv, resolv_text)?;
        std::fs::set_permissions(&resolv, std::fs::Permissions::from_mode(0o644))?;
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, HOSTS)?;
        std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o644))?;

        let mut binds = vec![
            Bind {
                source: tmp,
                target: "/tmp".into(),
                read_only: false,
            },
            Bind {
                source: resolv,
                target: "/etc/resolv.conf".into(),
                read_only: false,
            },
        ];
        let mut volumes = Vec::new();
        if is_sidecar {
            let volume = self.config.work_dir.join("volume-guard");
            populate_volume(&self.config.dist, &volume)?;
            for (source, relative) in &self.config.volume_files {
                let target = volume.join(relative);
                std::fs::copy(source, &target).with_context(|| {
                    format!("copying {} to {}", source.display(), target.display())
                })?;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))?;
            }
            binds.push(Bind {
                source: volume.clone(),
                target: contract::VOLUME.into(),
                read_only: false,
            });
            volumes.push((contract::VOLUME.to_string(), volume));
        }
        if let Some(list) = def.get("volumesFrom").and_then(Value::as_array) {
            for from in list {
                let source = str_field(from, "sourceContainer").with_context(|| {
                    format!("container {name}: volumesFrom without sourceContainer")
                })?;
                let read_only = from
                    .get("readOnly")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let provider = self.find(source).with_context(|| {
                    format!("container {name}: volumesFrom names {source}, which is not running")
                })?;
                for (path, host) in &provider.volumes {
                    binds.push(Bind {
                        source: host.clone(),
                        target: path.clone(),
                        read_only,
                    });
                }
            }
        }
        if def
            .get("mountPoints")
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty())
        {
            bail!("container {name}: mountPoints are not supported by the local run");
        }
        binds.extend(
            self.config
                .extra_binds
                .get(&name)
                .cloned()
                .unwrap_or_default(),
        );

        let user = str_field(&def, "user")
            .map(container::parse_user)
            .transpose()?;
        let stdout = dir.join("stdout");
        let stderr = dir.join("stderr");
        let spec = Spec {
            name: name.clone(),
            root: dir.join("root"),
            binds,
            argv,
            env: base_env.clone(),
            user,
            workdir: str_field(&def, "workingDirectory")
                .unwrap_or("/")
                .to_string(),
            hostname: HOSTNAME.to_string(),
            stdout: File::create(&stdout)?,
            stderr: File::create(&stderr)?,
        };
        let child = container::spawn(&self.netns, spec)?;
        let pid = child.id();
        self.containers.push(RunningContainer {
            name,
            definition: def,
            child,
            pid,
            stdout,
            stderr,
            volumes,
            base_env,
        });
        Ok(())
    }

    pub fn find(&self, name: &str) -> Option<&RunningContainer> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn container(&self, name: &str) -> Result<&RunningContainer> {
        self.find(name)
            .with_context(|| format!("no container {name} in the task"))
    }

    /// Runs the container's `healthCheck` until it succeeds, like ECS before `HEALTHY`
    /// (polling faster than `interval`, within the time ECS would allow).
    pub fn wait_healthy(&self, name: &str) -> Result<Duration> {
        let c = self.container(name)?;
        let check = c.definition.get("healthCheck").with_context(|| {
            format!("container {name} is a HEALTHY dependency without healthCheck")
        })?;
        let words = strings(check, "command", name)?;
        let argv: Vec<String> = match words.split_first() {
            Some((first, rest)) if first == "CMD" => rest.to_vec(),
            Some((first, rest)) if first == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => words.clone(),
        };
        let secs =
            |field: &str, default: u64| check.get(field).and_then(Value::as_u64).unwrap_or(default);
        let timeout = Duration::from_secs(secs("timeout", 5));
        let budget = Duration::from_secs(
            (secs("startPeriod", 0) + secs("interval", 30) * secs("retries", 3)).min(60),
        );
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < budget {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut command = container::exec_command(&self.netns, c.pid, &argv)?;
            command
                .env_clear()
                .envs(c.base_env.iter().map(|(k, v)| (k, v)));
            let output = run_with_timeout(command, timeout)?;
            if output.status.success() {
                return Ok(started.elapsed());
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if let Some(status) = self.exit_status(name) {
                bail!(
                    "container {name} exited ({status}) before it was healthy: {}",
                    self.tail(name)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "container {name} not healthy within {budget:?}: {argv:?}: {}",
            last.trim()
        )
    }

    /// Runs a command in a container (like ECS Exec / `docker exec`) with the environment its
    /// main process started with, within `timeout`.
    pub fn exec(&self, name: &str, argv: &[&str], timeout: Duration) -> Result<Output> {
        self.exec_with_env(name, argv, &[], timeout)
    }

    /// [`LocalTask::exec`] with variables added to (or replacing) the environment.
    pub fn exec_with_env(
        &self,
        name: &str,
        argv: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Output> {
        let c = self.container(name)?;
        let mut command = container::exec_command(&self.netns, c.pid, argv)?;
        command.envs(env.iter().copied());
        run_with_timeout(command, timeout)
    }

    /// The exit status of a container's main process, if it has exited (reaps it).
    pub fn exit_status(&self, name: &str) -> Option<ExitStatus> {
        let c = self.find(name)?;
        // Reap through /proc: a `&self` API cannot call `Child::try_wait`.
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on our own child.
        let ret = unsafe { libc::waitpid(c.pid as i32, &mut status, libc::WNOHANG) };
        if ret == c.pid as i32 {
            use std::os::unix::process::ExitStatusExt;
            return Some(ExitStatus::from_raw(status));
        }
        None
    }

    /// Kills a container's main process and everything in its process group (`docker kill`).
    pub fn kill(&mut self, name: &str) -> Result<ExitStatus> {
        let c = self
            .containers
            .iter_mut()
            .find(|c| c.name == name)
            .with_context(|| format!("no container {name}"))?;
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(-(c.pid as i32), libc::SIGKILL) };
        c.child
            .wait()
            .with_context(|| format!("waiting for {name}"))
    }

    pub fn stdout(&self, name: &str) -> String {
        self.find(name)
            .map(|c| std::fs::read_to_string(&c.stdout).unwrap_or_default())
            .unwrap_or_default()
    }

    pub fn stderr(&self, name: &str) -> String {
        self.find(name)
            .map(|c| std::fs::read_to_string(&c.stderr).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The last lines of a container's stderr and stdout, for error messages.
    pub fn tail(&self, name: &str) -> String {
        let last = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "stderr:\n{}\nstdout:\n{}",
            last(self.stderr(name)),
            last(self.stdout(name))
        )
    }

    /// Waits until a container's stdout contains `needle`.
    pub fn wait_stdout(&self, name: &str, needle: &str, within: Duration) -> Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            if self.stdout(name).contains(needle) {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.exit_status(name) {
                bail!(
                    "container {name} exited ({status}) before printing {needle:?}:\n{}",
                    self.tail(name)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "container {name} did not print {needle:?} within {within:?}:\n{}",
            self.tail(name)
        )
    }
}

impl Drop for LocalTask {
    fn drop(&mut self) {
        let left = self.netns.kill_all();
        if !left.is_empty() {
            eprintln!("task: processes survived SIGKILL: {left:?}");
        }
        for c in &mut self.containers {
            let _ = c.child.wait();
        }
    }
}

/// Runs a command with stdout and stderr captured, killing its process group after
/// `timeout` (the output then says so).
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("running {command:?}"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            timed_out = true;
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let mut stderr = err_thread.join().unwrap_or_default();
    if timed_out {
        stderr.extend_from_slice(format!("\n[killed after {timeout:?}]").as_bytes());
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}
