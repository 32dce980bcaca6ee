//! The shim's safety properties: what the library exports and needs, fail-closed/open
//! without a policy, policy changes picked up by running processes, and concurrency.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use guard_tests::shim::{Guard, compile_c_with, find};
use guard_tests::{artifacts, require};

/// Exactly the hooks: issue 3's list, nothing else.
const HOOKS: &[&str] = &[
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "fexecve",
    "execveat",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
    "pidfd_spawn",
    "pidfd_spawnp",
    "getaddrinfo",
    "getaddrinfo_a",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "res_query",
    "res_search",
    "res_querydomain",
    "res_nquery",
    "res_nsearch",
    "res_nquerydomain",
    "res_send",
    "__res_query",
    "__res_search",
    "__res_querydomain",
    "__res_nquery",
    "__res_nsearch",
    "__res_nquerydomain",
    "__res_send",
    "connect",
    "sendto",
    "sendmsg",
    "sendmmsg",
];

/// Data the library exports on purpose: guard-exec's supervisor finds the shim's table of the
/// process's own lookup answers by this name (in .dynsym), so it does not refuse a connect the
/// shim allowed from /etc/hosts. Anything else exported would be a leak.
const DATA_EXPORTS: &[&str] = &["GUARD_LOCAL_ANSWERS"];

/// The newest glibc symbol version the library may need (docs/preload.md records it).
const MAX_GLIBC: (u32, u32) = (2, 34);

#[test]
fn exports_exactly_the_hooks_and_needs_only_libc() {
    if !require::commands(
        "exports_exactly_the_hooks_and_needs_only_libc",
        &["nm", "readelf", "objdump"],
    ) {
        return;
    }
    let lib = artifacts::preload_lib();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .unwrap();
    assert!(nm.status.success());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = HOOKS
        .iter()
        .chain(DATA_EXPORTS)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(exported, expected);

    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&lib)
        .output()
        .unwrap();
    let needed: Vec<String> = String::from_utf8_lossy(&dynamic.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| {
            l.split('[')
                .nth(1)
                .map(|s| s.trim_end_matches(']').to_string())
        })
        .collect();
    assert!(!needed.is_empty());
    for lib in &needed {
        assert!(
            lib == "libc.so.6" || lib.starts_with("ld-linux"),
            "unexpected NEEDED {lib}"
        );
    }

    let objdump = Command::new("objdump")
        .arg("-T")
        .arg(&lib)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&objdump.stdout);
    for version in text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("GLIBC_"))
    {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        assert!(
            v <= MAX_GLIBC,
            "needs GLIBC_{version}, newer than documented"
        );
    }
}

#[test]
fn fail_closed_without_a_policy_and_open_when_asked() {
    let guard = Guard::empty().unwrap();
    let marker = guard.path("ran");
    // Closed (the default): every guarded program stops before main, and says why.
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("touch {}", marker.display()))
        .envs(guard.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(!marker.exists());
    let events = guard.events();
    let blocked = find(&events, "blocked", "/usr/bin/dash")
        .into_iter()
        .chain(find(&events, "blocked", "/bin/sh"))
        .chain(find(&events, "blocked", "/usr/bin/bash"))
        .next()
        .cloned();
    let blocked = blocked.unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(blocked["rule"], "fail-closed");
    // A corrupt policy.bin is no policy.
    std::fs::write(guard.path("policy.bin"), b"not a policy").unwrap();
    let out = Command::new("/bin/true")
        .envs(guard.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    // Open: everything runs and resolves.
    let mut env = guard.env();
    env.retain(|(k, _)| k != "GUARD_FAIL");
    env.push(("GUARD_FAIL".into(), "open".into()));
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "touch {} && getent hosts localhost",
            marker.display()
        ))
        .envs(env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(marker.exists());
}

#[test]
fn a_running_process_picks_up_policy_changes() {
    if !require::commands("a_running_process_picks_up_policy_changes", &["python3"]) {
        return;
    }
    let allow = "[dns]\ndefault = \"allow\"\n[process]\ndefault = \"allow\"\n";
    let deny = "[dns]\ndefault = \"allow\"\ndeny = [\"localhost\"]\n[process]\ndefault = \"allow\"\ndeny = [\"true\"]\n";
    let guard = Guard::new(allow).unwrap();
    // One long-lived python: each input line launches /bin/true and resolves localhost.
    let code = r#"
import socket, subprocess, sys
for line in sys.stdin:
    try:
        subprocess.run(["/bin/true"]); r = "ran"
    except PermissionError:
        r = "denied"
    try:
        socket.getaddrinfo("localhost", 80); d = "resolved"
    except socket.gaierror:
        d = "blocked"
    print(r, d, flush=True)
"#;
    let mut child = guard
        .command("python3")
        .arg("-c")
        .arg(code)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ask = move || {
        writeln!(stdin, "go").unwrap();
        lines.next().unwrap().unwrap()
    };
    assert_eq!(ask(), "ran resolved");
    guard.set_policy(deny).unwrap();
    assert_eq!(ask(), "denied blocked");
    guard.set_policy(allow).unwrap();
    assert_eq!(ask(), "ran resolved");
    let _ = child.kill();
    let _ = child.wait();
}

const STRESS_C: &str = r#"
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static const char *denied;
static volatile int stop;
static long launched, blocked, leaked, resolved, refused, errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    long n = (long)arg;
    long l = 0, b = 0, k = 0, r = 0, f = 0, e = 0;
    for (long i = 0; !stop; i++) {
        pid_t pid;
        char *ok_argv[] = {"true", NULL};
        char *bad_argv[] = {(char *)denied, NULL};
        int status;
        switch ((i + n) % 4) {
        case 0: /* allowed spawn */
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, ok_argv, environ) == 0) {
                waitpid(pid, &status, 0);
                l++;
            } else e++;
            break;
        case 1: { /* denied spawn, and denied exec in a forked child */
            int rc = posix_spawn(&pid, denied, NULL, NULL, bad_argv, environ);
            if (rc == EACCES) b++; else { k++; if (rc == 0) waitpid(pid, &status, 0); }
            pid = fork();
            if (pid == 0) { execve(denied, bad_argv, environ); _exit(errno == EACCES ? 0 : 1); }
            waitpid(pid, &status, 0);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) b++; else k++;
            break;
        }
        case 2: { /* allowed lookup */
            struct addrinfo *res;
            if (getaddrinfo("localhost", "80", NULL, &res) == 0) { freeaddrinfo(res); r++; } else e++;
            break;
        }
        case 3: { /* denied lookup */
            struct addrinfo *res;
            if (getaddrinfo("blocked.guard.test", "80", NULL, &res) == EAI_NONAME) f++; else e++;
            break;
        }
        }
    }
    pthread_mutex_lock(&lock);
    launched += l; blocked += b; leaked += k; resolved += r; refused += f; errors += e;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    denied = argv[1];
    int seconds = atoi(argv[2]);
    pthread_t t[32];
    for (long i = 0; i < 32; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    sleep(seconds);
    stop = 1;
    for (int i = 0; i < 32; i++) pthread_join(t[i], NULL);
    printf("launched=%ld blocked=%ld leaked=%ld resolved=%ld refused=%ld errors=%ld\n",
           launched, blocked, leaked, resolved, refused, errors);
    return leaked != 0 || errors != 0;
}
"#;

#[test]
fn thirty_two_threads_launching_and_resolving() {
    if !require::commands("thirty_two_threads_launching_and_resolving", &["gcc"]) {
        return;
    }
    let policy = "[dns]\ndefault = \"allow\"\ndeny = [\"blocked.guard.test\"]\n[process]\ndefault = \"allow\"\ndeny = [\"denied-prog\"]\n";
    let guard = Guard::new(policy).unwrap();
    let marker = guard.path("ran");
    let denied = guard.executable(
        "denied-prog",
        &format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    let prog = compile_c_with(&guard.dir, "stress", STRESS_C, "gcc", &["-pthread"]).unwrap();
    // The policy is republished (same content, new file) during the run, so reloads race
    // with decisions too.
    let start = Instant::now();
    let mut child = guard
        .command(&prog)
        .arg(&denied)
        .arg("4")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    while start.elapsed() < Duration::from_secs(3) {
        guard.set_policy(policy).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "stress program hung (deadlock?)");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{status:?}: {out}");
    assert!(!marker.exists(), "a denied launch ran: {out}");
    let count = |key: &str| -> u64 {
        out.split_whitespace()
            .find_map(|kv| {
                kv.strip_prefix(&format!("{key}="))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    };
    assert!(count("blocked") > 50 && count("launched") > 50, "{out}");
    assert!(count("resolved") > 50 && count("refused") > 50, "{out}");
    eprintln!("{out}");
}

/// The launch path stays off `/proc`: the child's real-path check walks the components with
/// `readlink`, and the new program's constructor names itself from `AT_EXECFN` when that file
/// is the running image. A `/proc` lookup costs about 10 µs in a new process, more than the
/// rest of the check (see BENCHMARKS.md). A script (the interpreter runs, so `AT_EXECFN` is
/// not the image) still reads `/proc/self/exe`: the control that shows the trace would see it.
#[test]
fn launches_of_programs_make_no_proc_lookups() {
    let test = "launches_of_programs_make_no_proc_lookups";
    if !require::commands(test, &["strace"]) {
        return;
    }
    let guard = Guard::new("[dns]\ndefault = \"allow\"\n[process]\ndefault = \"allow\"\n").unwrap();
    let script = guard.executable("job.sh", "#!/bin/sh\nexit 0\n");
    let trace = |command: &str| -> String {
        let log = guard.path("strace.log");
        let out = guard
            .command("strace")
            .args(["-f", "-qq", "-e", "trace=%file", "-o"])
            .arg(&log)
            .args(["/bin/sh", "-c", command])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        std::fs::read_to_string(&log).unwrap()
    };
    let programs = trace("/bin/true; /usr/bin/env true; ls / >/dev/null");
    let bin = guard.path("policy.bin").display().to_string();
    let count = |what: &str| {
        programs
            .lines()
            .filter(|l| l.contains(what) && (what != "execve(" || l.ends_with("= 0")))
            .filter(|l| what == "execve(" || l.contains(&bin))
            .count()
    };
    // sh, /bin/true, env, true and ls each loaded the policy in their constructor, and every
    // launch after the first was checked by its hooked parent.
    let (execs, loads, checks) = (
        count("execve("),
        count("openat("),
        count("newfstatat(AT_FDCWD"),
    );
    assert!(
        execs >= 5 && loads >= execs && checks + 1 >= execs,
        "execs {execs}, policy loads {loads}, policy checks {checks}"
    );
    // (ls reads /proc/filesystems for SELinux; the shim's lookups would be /proc/self/...)
    let proc_lookups: Vec<&str> = programs
        .lines()
        .filter(|l| l.contains("\"/proc/self/"))
        .collect();
    assert!(proc_lookups.is_empty(), "{proc_lookups:#?}");

    let scripts = trace(&script.display().to_string());
    assert!(scripts.contains("\"/proc/self/exe\""), "{scripts}");
}

/// A preloaded library whose constructor runs before the shim's (later in `LD_PRELOAD`, so
/// initialised first) and launches a denied program (`system`, and the variadic `execl` in a
/// child) and resolves a denied name.
const EARLY_PRELOAD_C: &str = r#"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
__attribute__((constructor)) static void early(void) {
    const char *prog = getenv("EARLY_PROG");
    if (!prog) return;
    unsetenv("EARLY_PROG"); /* the shell system() starts loads this library too */
    struct addrinfo *r;
    int gai = getaddrinfo("blocked.guard.test", "80", NULL, &r);
    int rc = system(prog);
    int st = 0;
    pid_t pid = fork();
    if (pid == 0) {
        execl(prog, prog, (char *)0);
        _exit(errno == EACCES ? 77 : 78);
    }
    waitpid(pid, &st, 0);
    fprintf(stderr, "early gai=%d system=%d execl=%d\n", gai, rc, WEXITSTATUS(st));
}
"#;

#[test]
fn hooks_work_before_the_shim_constructor_ran() {
    if !require::commands("hooks_work_before_the_shim_constructor_ran", &["gcc"]) {
        return;
    }
    let policy = "[dns]\ndefault = \"allow\"\ndeny = [\"blocked.guard.test\"]\n[process]\ndefault = \"allow\"\ndeny = [\"denied-prog\"]\n";
    let guard = Guard::new(policy).unwrap();
    let marker = guard.path("ran");
    let denied = guard.executable(
        "denied-prog",
        &format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    let lib = compile_c_with(
        &guard.dir,
        "libearly.so",
        EARLY_PRELOAD_C,
        "gcc",
        &["-shared", "-fPIC"],
    )
    .unwrap();
    // Objects later in LD_PRELOAD are initialised first.
    let out = Command::new("/bin/true")
        .envs(guard.env())
        .env(
            "LD_PRELOAD",
            format!("{}:{}", guard.lib.display(), lib.display()),
        )
        .env("EARLY_PROG", &denied)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "early gai={} system={} execl=77",
            libc::EAI_NONAME,
            126 << 8
        )),
        "{stderr}"
    );
    assert!(!marker.exists());
}

const MUSL_C: &str = r#"
#include <netdb.h>
#include <stdio.h>
int main(int argc, char **argv) {
    struct addrinfo *r;
    printf("musl gai=%d\n", getaddrinfo("blocked.guard.test", "80", 0, &r));
    return 0;
}
"#;

#[test]
fn musl_programs_load_the_shim_without_harm() {
    let test = "musl_programs_load_the_shim_without_harm";
    if !require::commands(test, &["musl-gcc"]) {
        return;
    }
    if !std::path::Path::new("/lib/ld-musl-x86_64.so.1").exists() {
        require::skip(test, "musl's dynamic loader is not installed");
        return;
    }
    let policy = "[dns]\ndefault = \"allow\"\ndeny = [\"blocked.guard.test\"]\n[process]\ndefault = \"allow\"\ndeny = [\"denied-musl\"]\n";
    let guard = Guard::new(policy).unwrap();
    let allowed = compile_c_with(&guard.dir, "allowed-musl", MUSL_C, "musl-gcc", &[]).unwrap();
    let denied = guard.path("denied-musl");
    std::fs::copy(&allowed, &denied).unwrap();
    // musl's loader answers for libc.so.6 itself: the shim loads, and its constructor (which
    // gets no argv from musl) and hooks work.
    let out = guard.command(&allowed).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("musl gai={}\n", -2)
    );
    let out = guard.command(&denied).output().unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    // guard-exec stays out of musl programs, and says so.
    let out = guard
        .command(artifacts::guard_exec())
        .env_remove("LD_PRELOAD")
        .env("GUARD_PRELOAD_LIB", &guard.lib)
        .arg(&allowed)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("musl program"));
    let events = guard.events();
    assert!(
        !find(&events, "unprotected", &allowed.display().to_string()).is_empty(),
        "{events:#?}"
    );
}

const SPAWN_DENIED_C: &str = r#"
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
extern char **environ;
int main(int argc, char **argv) {
    int n = atoi(argv[2]), denied = 0;
    char *child[] = {argv[1], NULL};
    for (int i = 0; i < n; i++) {
        pid_t pid;
        if (posix_spawn(&pid, argv[1], NULL, NULL, child, environ) == EACCES) denied++;
    }
    printf("denied=%d\n", denied);
    return 0;
}
"#;

#[test]
fn reporting_never_blocks_when_the_socket_is_full_or_absent() {
    if !require::commands(
        "reporting_never_blocks_when_the_socket_is_full_or_absent",
        &["gcc"],
    ) {
        return;
    }
    let policy =
        "[dns]\ndefault = \"allow\"\n[process]\ndefault = \"allow\"\ndeny = [\"denied-prog\"]\n";
    let guard = Guard::new(policy).unwrap();
    let denied = guard.executable("denied-prog", "#!/bin/sh\nexit 0\n");
    let prog = compile_c_with(&guard.dir, "spawn", SPAWN_DENIED_C, "gcc", &[]).unwrap();
    // Nobody reads the socket: it fills after a few hundred events, the rest are dropped.
    let start = Instant::now();
    let out = guard
        .command(&prog)
        .arg(&denied)
        .arg("5000")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "denied=5000\n",
        "{out:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    // No socket at all.
    let out = guard
        .command(&prog)
        .arg(&denied)
        .arg("100")
        .env("GUARD_EVENTS", guard.path("no-such.sock"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "denied=100\n",
        "{out:?}"
    );
    let received = guard.events().len();
    assert!(
        received > 0 && received < 5000,
        "received {received} of 5000 events"
    );
}
