//! guard-exec as the container's init and the supervisor of everything the app starts.
//!
//! It forks: the child sets `no_new_privs`, installs the seccomp filter ([`seccomp`]) with a
//! user-notification listener, hands the listener to the parent over a socketpair
//! (`SCM_RIGHTS`) and executes the app. The parent decides the calls the filter sends
//! ([`notify`]) on worker threads, and on its main thread does what tini does: forwards
//! signals to the app, reaps orphans (it is their subreaper) and exits with the app's status.
//! Where the kernel refuses the filter, the app runs anyway (unsupervised, reported once);
//! where a filter already in place kills the child for trying, guard-exec becomes the app.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use guard_contract::event::ACTION_UNPROTECTED;
use guard_preload_core::Config;

use crate::notify::Supervisor;
use crate::report::{self, Report};
use crate::{net, seccomp};

/// Signals passed on to the app (those an orchestrator or an operator sends).
const FORWARDED: [libc::c_int; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGALRM,
];

/// How many threads answer notifications (launches of a many-threaded app arrive at once).
const WORKERS: usize = 2;

/// `GUARD_SUPERVISE`: `off` runs the app as before (guard-exec becomes it).
pub fn enabled() -> bool {
    !matches!(
        std::env::var(guard_contract::env::SUPERVISE)
            .as_deref()
            .map(str::trim),
        Ok("off" | "0" | "false" | "no")
    )
}

/// Oldest kernel the supervisor runs on: `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (5.5, without
/// which an allowed call could only be emulated, not let through) and `pidfd_getfd` (5.6, how
/// the listener is taken from the child when `sendmsg` is filtered).
const MIN_KERNEL: (u32, u32) = (5, 6);

/// The (major, minor) of a kernel release string (`5.10.0-28-amd64`).
fn release_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?;
    let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
    let minor = minor[..digits].parse().ok()?;
    Some((major, minor))
}

/// Whether this kernel can run the supervisor; when not, warns once, reports `unprotected`
/// and the app runs as without the supervisor (guard-exec becomes it).
pub fn kernel_supports(cfg: &Config, program: &[u8]) -> bool {
    // SAFETY: utsname is plain data filled by uname.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return true;
    }
    // SAFETY: uname NUL-terminates release.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy();
    match release_version(&release) {
        Some(v) if v < MIN_KERNEL => {
            eprintln!(
                "guard-exec: warning: kernel {release} is older than {}.{} (no SECCOMP_USER_NOTIF_FLAG_CONTINUE / pidfd_getfd): static programs and raw system calls in this container are not guarded",
                MIN_KERNEL.0, MIN_KERNEL.1
            );
            let reason = format!(
                "seccomp user notification unavailable: kernel {release} is older than {}.{}",
                MIN_KERNEL.0, MIN_KERNEL.1
            );
            report::send(
                cfg,
                std::process::id(),
                &Report {
                    action: ACTION_UNPROTECTED,
                    program,
                    rule: b"",
                    version: "",
                    reason: &reason,
                    argv: Vec::new(),
                    dest: None,
                },
            );
            false
        }
        _ => true,
    }
}

/// Everything the child needs, prepared before `fork` (the child only makes system calls).
pub struct Launch {
    pub path: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// The app's argv for the `unprotected` event.
    pub program: Vec<u8>,
}

pub fn env_block(overrides: &[(OsString, OsString)]) -> Vec<CString> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
        .collect();
    vars.extend(overrides.iter().cloned());
    vars.into_iter()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Starts the app under the supervisor and never returns: exits with the app's status.
pub fn run(cfg: Box<Config>, launch: Launch, shim_name: Vec<u8>) -> ! {
    let by_number = net::filtered(&cfg);
    let prog = seccomp::program(by_number);
    let mut pair = [-1; 2];
    // SAFETY: plain system calls on our own descriptors and signal mask.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        ) < 0
        {
            pair = [-1; 2];
        }
    }
    let mut blocked: Vec<libc::c_int> = FORWARDED.to_vec();
    blocked.push(libc::SIGCHLD);
    let set = sigset(&blocked);
    // Blocked before fork so a signal cannot kill guard-exec before it forwards; the child
    // restores an empty mask before it executes the app.
    // SAFETY: valid set.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    let mut argv: Vec<*const libc::c_char> = launch.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = launch.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());

    // SAFETY: guard-exec has no other thread yet; the child only makes system calls.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe calls only, on data prepared above.
        unsafe { child(&prog, by_number, pair[1], &launch.path, &argv, &envp) }
    }
    if pid < 0 {
        eprintln!(
            "guard-exec: cannot fork ({}): starting the app unsupervised",
            std::io::Error::last_os_error()
        );
        // SAFETY: restores the mask, then replaces the process.
        unsafe {
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::execve(launch.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        }
        std::process::exit(126);
    }
    // SAFETY: our end of the pair in the child's copy is not ours to keep.
    unsafe { libc::close(pair[1]) };
    match receive_listener(pair[0], pid) {
        Ok(fd) => {
            eprintln!(
                "guard-exec: supervising launches of {} and everything it starts (seccomp); no_new_privs is set: setuid programs run without gaining privileges",
                String::from_utf8_lossy(&launch.program)
            );
            let sup: &'static Supervisor = Box::leak(Box::new(Supervisor::new(cfg, fd, shim_name)));
            for _ in 0..WORKERS {
                std::thread::spawn(move || sup.serve());
            }
        }
        Err(libc::EPIPE) => {
            // The child closed its end without a word: it died before it could execute the
            // app, most likely killed by a filter already in place (SECCOMP_RET_KILL for
            // seccomp(2)). The app has not started: guard-exec becomes it, as unsupervised.
            let mut status = 0;
            // SAFETY: reaps our own child, which is dead or dying.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            let how = if libc::WIFSIGNALED(status) {
                format!("killed by signal {}", libc::WTERMSIG(status))
            } else {
                format!("exited with {}", libc::WEXITSTATUS(status))
            };
            eprintln!(
                "guard-exec: warning: installing the seccomp supervisor failed (its process was {how}): static programs and raw system calls in this container are not guarded"
            );
            let reason = format!("seccomp user notification unavailable: installing it {how}");
            report::send(
                &cfg,
                std::process::id(),
                &Report {
                    action: ACTION_UNPROTECTED,
                    program: &launch.program,
                    rule: b"",
                    version: "",
                    reason: &reason,
                    argv: Vec::new(),
                    dest: None,
                },
            );
            // SAFETY: restores the mask and the subreaper bit, then replaces the process.
            unsafe {
                libc::close(pair[0]);
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::execve(launch.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            eprintln!(
                "guard-exec: cannot execute {}: {}",
                String::from_utf8_lossy(&launch.program),
                std::io::Error::last_os_error()
            );
            std::process::exit(126);
        }
        Err(errno) => {
            let why = std::io::Error::from_raw_os_error(errno);
            eprintln!(
                "guard-exec: warning: the kernel refused the seccomp supervisor ({why}): static programs and raw system calls in this container are not guarded"
            );
            let reason = format!("seccomp user notification unavailable: {why}");
            report::send(
                &cfg,
                pid as u32,
                &Report {
                    action: ACTION_UNPROTECTED,
                    program: &launch.program,
                    rule: b"",
                    version: "",
                    reason: &reason,
                    argv: Vec::new(),
                    dest: None,
                },
            );
        }
    }
    // SAFETY: done with the pair.
    unsafe { libc::close(pair[0]) };
    init_loop(pid, &set)
}

/// The forked child: restricts itself, hands over the listener (or why there is none) and
/// becomes the app.
///
/// With `by_number` (the filter sends `sendmsg` to the listener, so the child cannot pass it
/// with `SCM_RIGHTS` once installed) the child writes the descriptor's number and waits
/// until the parent has taken it with `pidfd_getfd`.
unsafe fn child(
    prog: &[libc::sock_filter],
    by_number: bool,
    sock: libc::c_int,
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> ! {
    // SAFETY: async-signal-safe system calls on prepared data (per the caller).
    unsafe {
        let result = if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            Err(*libc::__errno_location())
        } else if sock < 0 {
            Err(libc::EBADF)
        } else {
            seccomp::install(prog)
        };
        if by_number && sock >= 0 {
            let mut msg = [0u8; 5];
            match result {
                Ok(fd) => msg[1..].copy_from_slice(&fd.to_ne_bytes()),
                Err(e) => msg[0] = e.clamp(1, 255) as u8,
            }
            libc::write(sock, msg.as_ptr().cast(), msg.len());
            if result.is_ok() {
                // The parent's answer (or its end closing) says it holds its copy.
                let mut ack = 0u8;
                libc::read(sock, (&raw mut ack).cast(), 1);
            }
        } else {
            send_listener(sock, result);
        }
        if let Ok(fd) = result {
            libc::close(fd);
        }
        libc::close(sock);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let empty = sigset(&[]);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        let err = *libc::__errno_location();
        let msg = b"guard-exec: cannot execute the program\n";
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(if err == libc::ENOENT { 127 } else { 126 })
    }
}

/// The data byte is 0 with the listener attached, else the errno.
unsafe fn send_listener(sock: libc::c_int, result: Result<libc::c_int, libc::c_int>) {
    if sock < 0 {
        return;
    }
    let mut byte: u8 = match result {
        Ok(_) => 0,
        Err(e) => e.clamp(1, 255) as u8,
    };
    let mut iov = libc::iovec {
        iov_base: (&raw mut byte).cast(),
        iov_len: 1,
    };
    // Room for one descriptor's cmsg, aligned.
    let mut control = [0u64; 4];
    // SAFETY: msghdr and cmsg built over local buffers (per the caller's contract).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Ok(fd) = result {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
        }
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
    }
}

/// The listener from the child: passed with `SCM_RIGHTS`, or by number (5 bytes: 0 and the
/// descriptor) and taken from the child with `pidfd_getfd` (Linux 5.6).
fn receive_listener(sock: libc::c_int, child: libc::pid_t) -> Result<libc::c_int, libc::c_int> {
    if sock < 0 {
        return Err(libc::EBADF);
    }
    let mut data = [0u8; 5];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr over local buffers; the cmsg is checked before it is read.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            break n;
        };
        if n != 1 && n != 5 {
            return Err(libc::EPIPE);
        }
        if data[0] != 0 {
            return Err(i32::from(data[0]));
        }
        if n == 5 {
            let fd = i32::from_ne_bytes([data[1], data[2], data[3], data[4]]);
            let pidfd = libc::syscall(libc::SYS_pidfd_open, child, 0) as libc::c_int;
            if pidfd < 0 {
                return Err(errno());
            }
            let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as libc::c_int;
            let err = errno();
            libc::close(pidfd);
            let ack = 0u8;
            libc::write(sock, (&raw const ack).cast(), 1);
            return if got < 0 { Err(err) } else { Ok(got) };
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(libc::EPROTO);
        }
        Ok(std::ptr::read_unaligned(
            libc::CMSG_DATA(cmsg).cast::<libc::c_int>(),
        ))
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Forwards signals to the app and reaps every child until the app exits, then exits with
/// its status (128 + the signal for a signal death, as a shell and tini report it).
fn init_loop(app: libc::pid_t, set: &libc::sigset_t) -> ! {
    loop {
        // SAFETY: siginfo_t is plain data filled by sigwaitinfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and siginfo.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(app, sig) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: reaps any child of ours (orphans are reparented to us).
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == app {
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else if libc::WIFSIGNALED(status) {
                    128 + libc::WTERMSIG(status)
                } else {
                    continue;
                };
                std::process::exit(code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_are_read_as_distributions_write_them() {
        assert_eq!(release_version("5.10.0-28-amd64"), Some((5, 10)));
        assert_eq!(
            release_version("4.14.336-257.562.amzn2.x86_64"),
            Some((4, 14))
        );
        assert_eq!(release_version("5.4.0"), Some((5, 4)));
        assert_eq!(release_version("6.1"), Some((6, 1)));
        assert_eq!(release_version("5.6rc1"), Some((5, 6)));
        assert_eq!(release_version("garbage"), None);
        assert!(release_version("5.4.0").unwrap() < MIN_KERNEL);
        assert!(release_version("5.10.0").unwrap() >= MIN_KERNEL);
    }
}
