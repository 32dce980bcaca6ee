//! The seccomp filter the app runs under, and the user-notification interface the supervisor
//! reads it through. Written with libc because the few constants and structs involved are
//! stable kernel ABI, where a crate would add a build dependency for ~50 lines.

/// Where the guarded calls of one architecture are numbered.
struct Arch {
    audit: u32,
    execve: u32,
    execveat: u32,
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// x32 system calls share x86_64's audit arch and carry this bit in their number.
pub const X32_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const NATIVE: Arch = Arch {
    audit: AUDIT_ARCH_X86_64,
    execve: 59,
    execveat: 322,
};
#[cfg(target_arch = "x86_64")]
const COMPAT: Arch = Arch {
    audit: AUDIT_ARCH_I386,
    execve: 11,
    execveat: 358,
};
/// connect, sendto, sendmsg, sendmmsg (in [`NetCall`] order).
#[cfg(target_arch = "x86_64")]
const NET: [u32; 4] = [42, 44, 46, 307];
/// x32 execve and execveat (520, 545 with [`X32_BIT`]).
#[cfg(target_arch = "x86_64")]
const X32: [u32; 2] = [X32_BIT | 520, X32_BIT | 545];

#[cfg(target_arch = "aarch64")]
const NATIVE: Arch = Arch {
    audit: AUDIT_ARCH_AARCH64,
    execve: 221,
    execveat: 281,
};
#[cfg(target_arch = "aarch64")]
const COMPAT: Arch = Arch {
    audit: AUDIT_ARCH_ARM,
    execve: 11,
    execveat: 387,
};
#[cfg(target_arch = "aarch64")]
const NET: [u32; 4] = [203, 206, 211, 269];
#[cfg(target_arch = "aarch64")]
const X32: [u32; 0] = [];

const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_long = 1 << 3;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
// _IOW('!', 2, __u64): the same encoding on x86_64 and aarch64.
pub const IOCTL_NOTIF_RECV: libc::c_ulong = 0xC050_2100;
pub const IOCTL_NOTIF_SEND: libc::c_ulong = 0xC018_2101;
pub const IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;

const BPF_LD_W_ABS: u16 = 0x20;
/// Offset of the low word of `args[4]` (sendto's address) in `struct seccomp_data` on a
/// little-endian machine (x86_64, aarch64 as Linux runs it).
const SENDTO_ADDR_LO: u32 = 16 + 4 * 8;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Notif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub data: Data,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Resp {
    pub id: u64,
    pub val: i64,
    pub error: i32,
    pub flags: u32,
}

/// A call the filter sends to the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `execve` / `execveat`; `ptr` is the caller's pointer width (4 for i386, arm, x32).
    Execve {
        ptr: usize,
    },
    Execveat {
        ptr: usize,
    },
    /// `connect`, `sendto`, `sendmsg`, `sendmmsg` (only filtered when net decisions exist).
    Net(NetCall),
    Other,
}

/// The calls that carry a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetCall {
    Connect,
    Sendto,
    Sendmsg,
    Sendmmsg,
}

const NET_CALLS: [NetCall; 4] = [
    NetCall::Connect,
    NetCall::Sendto,
    NetCall::Sendmsg,
    NetCall::Sendmmsg,
];

pub fn classify(data: &Data) -> Call {
    let nr = data.nr as u32;
    if data.arch == NATIVE.audit {
        if nr == NATIVE.execve {
            return Call::Execve { ptr: 8 };
        }
        if nr == NATIVE.execveat {
            return Call::Execveat { ptr: 8 };
        }
        if X32.first() == Some(&nr) {
            return Call::Execve { ptr: 4 };
        }
        if X32.get(1) == Some(&nr) {
            return Call::Execveat { ptr: 4 };
        }
        if let Some(i) = NET.iter().position(|&k| k == nr) {
            return Call::Net(NET_CALLS[i]);
        }
    } else if data.arch == COMPAT.audit {
        if nr == COMPAT.execve {
            return Call::Execve { ptr: 4 };
        }
        if nr == COMPAT.execveat {
            return Call::Execveat { ptr: 4 };
        }
    }
    Call::Other
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// `if nr == k { notify }` as two instructions.
fn notify_if(prog: &mut Vec<libc::sock_filter>, k: u32) {
    prog.push(libc::sock_filter {
        code: BPF_JEQ_K,
        jt: 0,
        jf: 1,
        k,
    });
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF));
}

/// The filter: launches (and, with `net`, the calls that carry a destination) of the native
/// architecture, its x32 variant and its 32-bit compat architecture go to the listener;
/// everything else is allowed without leaving the kernel. Checking the arch first keeps a
/// 32-bit `execve` (whose number means something else natively) from slipping through.
pub fn program(net: bool) -> Vec<libc::sock_filter> {
    let mut native = vec![stmt(BPF_LD_W_ABS, 0)];
    for k in [NATIVE.execve, NATIVE.execveat].into_iter().chain(X32) {
        notify_if(&mut native, k);
    }
    if net {
        for k in [NET[0], NET[2], NET[3]] {
            notify_if(&mut native, k);
        }
        // `sendto` only with an address: `send` on a connected socket is `sendto(..., NULL,
        // 0)`, the hot path of every TCP program, and was decided at `connect`.
        native.push(libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 5,
            k: NET[1],
        });
        native.push(stmt(BPF_LD_W_ABS, SENDTO_ADDR_LO));
        native.push(libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 2,
            k: 0,
        });
        native.push(stmt(BPF_LD_W_ABS, SENDTO_ADDR_LO + 4));
        native.push(libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 1,
            jf: 0,
            k: 0,
        });
        native.push(stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF));
    }
    native.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    let mut compat = vec![stmt(BPF_LD_W_ABS, 0)];
    notify_if(&mut compat, COMPAT.execve);
    notify_if(&mut compat, COMPAT.execveat);
    compat.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));

    let mut prog = vec![
        stmt(BPF_LD_W_ABS, 4),
        libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: native.len() as u8,
            k: NATIVE.audit,
        },
    ];
    prog.extend(native);
    prog.push(libc::sock_filter {
        code: BPF_JEQ_K,
        jt: 0,
        jf: compat.len() as u8,
        k: COMPAT.audit,
    });
    prog.extend(compat);
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    prog
}

/// Installs `prog` on the calling thread and returns the listener descriptor, or the errno.
/// Async-signal-safe (it runs in the forked child); `no_new_privs` must be set first.
pub fn install(prog: &[libc::sock_filter]) -> Result<libc::c_int, libc::c_int> {
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: fprog points at `prog`, alive for the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &raw const fprog,
        )
    };
    if fd < 0 {
        // SAFETY: reads this thread's errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(fd as libc::c_int)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_match_the_kernel() {
        assert_eq!(std::mem::size_of::<Data>(), 64);
        assert_eq!(std::mem::size_of::<Notif>(), 80);
        assert_eq!(std::mem::size_of::<Resp>(), 24);
        assert_eq!((IOCTL_NOTIF_RECV >> 16) & 0x3fff, 80);
        assert_eq!((IOCTL_NOTIF_SEND >> 16) & 0x3fff, 24);
    }

    /// Runs the filter program over `data` the way the kernel would.
    fn run(prog: &[libc::sock_filter], data: &Data) -> u32 {
        let mut words = vec![data.nr as u32, data.arch, 0, 0];
        for a in data.args {
            words.push(a as u32);
            words.push((a >> 32) as u32);
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            match i.code {
                BPF_LD_W_ABS => acc = words[i.k as usize / 4],
                BPF_JEQ_K => {
                    pc += usize::from(if acc == i.k { i.jt } else { i.jf });
                }
                BPF_RET_K => return i.k,
                _ => panic!("unknown instruction"),
            }
            pc += 1;
        }
    }

    #[test]
    fn filter_sends_launches_of_every_abi_and_nothing_else() {
        let d = |nr: u32, arch: u32| Data {
            nr: nr as i32,
            arch,
            ..Data::default()
        };
        for net in [false, true] {
            let prog = program(net);
            assert_eq!(
                run(&prog, &d(NATIVE.execve, NATIVE.audit)),
                SECCOMP_RET_USER_NOTIF
            );
            assert_eq!(
                run(&prog, &d(NATIVE.execveat, NATIVE.audit)),
                SECCOMP_RET_USER_NOTIF
            );
            assert_eq!(
                run(&prog, &d(COMPAT.execve, COMPAT.audit)),
                SECCOMP_RET_USER_NOTIF
            );
            assert_eq!(
                run(&prog, &d(COMPAT.execveat, COMPAT.audit)),
                SECCOMP_RET_USER_NOTIF
            );
            // The compat execve number is an ordinary call natively.
            assert_eq!(
                run(&prog, &d(COMPAT.execve, NATIVE.audit)),
                SECCOMP_RET_ALLOW
            );
            assert_eq!(run(&prog, &d(0, NATIVE.audit)), SECCOMP_RET_ALLOW);
            assert_eq!(run(&prog, &d(NATIVE.execve, 0x1234)), SECCOMP_RET_ALLOW);
            let connect = if net {
                SECCOMP_RET_USER_NOTIF
            } else {
                SECCOMP_RET_ALLOW
            };
            assert_eq!(run(&prog, &d(NET[0], NATIVE.audit)), connect);
            assert_eq!(run(&prog, &d(NET[2], NATIVE.audit)), connect);
            assert_eq!(run(&prog, &d(NET[3], NATIVE.audit)), connect);
            // sendto: with an address (either word), not without.
            let mut to = d(NET[1], NATIVE.audit);
            assert_eq!(run(&prog, &to), SECCOMP_RET_ALLOW);
            to.args[4] = 0x7fff_0000_0000;
            assert_eq!(run(&prog, &to), connect);
            to.args[4] = 0x1000;
            assert_eq!(run(&prog, &to), connect);
            // The calls after the sendto check are still decided.
            assert_eq!(run(&prog, &d(1, NATIVE.audit)), SECCOMP_RET_ALLOW);
            for k in X32 {
                assert_eq!(run(&prog, &d(k, NATIVE.audit)), SECCOMP_RET_USER_NOTIF);
            }
        }
        assert_eq!(
            classify(&d(NATIVE.execve, NATIVE.audit)),
            Call::Execve { ptr: 8 }
        );
        assert_eq!(
            classify(&d(COMPAT.execveat, COMPAT.audit)),
            Call::Execveat { ptr: 4 }
        );
        assert_eq!(
            classify(&d(NET[3], NATIVE.audit)),
            Call::Net(NetCall::Sendmmsg)
        );
        assert_eq!(classify(&d(NET[0], COMPAT.audit)), Call::Other);
    }
}
