//! Name resolution: `getaddrinfo`, `getaddrinfo_a`, `gethostbyname*` and the resolver API
//! (`res_*` with the pre-2.34 `__res_*` spellings, which old binaries still call). A denied
//! name fails as "host not found" in the API's own terms; allowed ones go to the real call.

use core::ffi::{c_char, c_int, c_uchar, c_void};

use guard_policy::DnsName;
use guard_preload_core::{Buf, lookup, net, sys};

use crate::init::config;
use crate::real::{self, call_real};

const HOST_NOT_FOUND: c_int = 1;
const AI_NUMERICHOST: c_int = 0x0004;
const EAI_NONAME: c_int = -2;

unsafe extern "C" {
    fn __h_errno_location() -> *mut c_int;
    /// resolv.c: `statp->res_h_errno = value`.
    fn guard_set_res_h_errno(statp: *mut c_void, value: c_int);
}

fn set_h_errno(value: c_int) {
    // SAFETY: returns this thread's h_errno slot.
    unsafe { *__h_errno_location() = value }
}

/// Whether a lookup of the C string `name` may go ahead (true when not yet initialised).
fn name_allowed(api: &'static str, name: *const c_char) -> bool {
    let Some(cfg) = config() else { return true };
    // SAFETY: the caller's C string (or NULL).
    lookup::decide(cfg, api, unsafe { sys::cstr(name) })
}

/// # Safety
/// C ABI: arguments as for `getaddrinfo(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    // SAFETY: hints is NULL or the caller's struct.
    let numeric = !hints.is_null() && unsafe { (*hints).ai_flags } & AI_NUMERICHOST != 0;
    let mut record = false;
    if !node.is_null() && !numeric {
        let Some(cfg) = config() else {
            return real_getaddrinfo(node, service, hints, res);
        };
        // SAFETY: the caller's C string.
        let l = lookup::decide_recording(cfg, "getaddrinfo", unsafe { sys::cstr(node) });
        if !l.allow {
            return EAI_NONAME;
        }
        record = l.answers_allowed;
    }
    let rc = real_getaddrinfo(node, service, hints, res);
    if rc == 0 && record && !res.is_null() {
        // SAFETY: a successful getaddrinfo filled *res with its list.
        unsafe { net::record_addrinfo(*res) };
    }
    rc
}

fn real_getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    call_real!(
        real::GETADDRINFO,
        fn(*const c_char, *const c_char, *const libc::addrinfo, *mut *mut libc::addrinfo) -> c_int,
        node,
        service,
        hints,
        res
    )
    .unwrap_or(libc::EAI_SYSTEM)
}

/// The public part of glibc's `struct gaicb`.
#[repr(C)]
struct Gaicb {
    ar_name: *const c_char,
    ar_service: *const c_char,
    ar_request: *const libc::addrinfo,
    ar_result: *mut libc::addrinfo,
}

struct NumericHints(libc::addrinfo);
// SAFETY: never written; the pointers in it are NULL.
unsafe impl Sync for NumericHints {}

/// Hints that make glibc fail a request for a name with EAI_NONAME without any lookup.
static NUMERIC_ONLY: NumericHints = NumericHints(libc::addrinfo {
    ai_flags: AI_NUMERICHOST,
    ai_family: libc::AF_UNSPEC,
    ai_socktype: 0,
    ai_protocol: 0,
    ai_addrlen: 0,
    ai_addr: core::ptr::null_mut(),
    ai_canonname: core::ptr::null_mut(),
    ai_next: core::ptr::null_mut(),
});

/// # Safety
/// C ABI: arguments as for `getaddrinfo_a(3)`.
///
/// Each denied request has its `ar_request` pointed at hints with `AI_NUMERICHOST`, so glibc
/// itself completes exactly that request with `EAI_NONAME` (seen through `gai_error`) without
/// a lookup, while the allowed requests of the same call, the completion notification and
/// `GAI_WAIT` behave as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo_a(
    mode: c_int,
    list: *const *mut c_void,
    nitems: c_int,
    sevp: *mut c_void,
) -> c_int {
    if !list.is_null() {
        for i in 0..usize::try_from(nitems).unwrap_or(0) {
            // SAFETY: list has nitems entries, each NULL or a gaicb.
            let req = unsafe { *list.add(i) }.cast::<Gaicb>();
            if req.is_null() {
                continue;
            }
            // SAFETY: a caller-owned gaicb.
            let name = unsafe { (*req).ar_name };
            if !name.is_null() && !name_allowed("getaddrinfo_a", name) {
                // SAFETY: as above.
                unsafe { (*req).ar_request = &NUMERIC_ONLY.0 };
            }
        }
    }
    call_real!(
        real::GETADDRINFO_A,
        fn(c_int, *const *mut c_void, c_int, *mut c_void) -> c_int,
        mode,
        list,
        nitems,
        sevp
    )
    .unwrap_or(libc::EAI_SYSTEM)
}

/// # Safety
/// C ABI: arguments as for `gethostbyname(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut c_void {
    if !name_allowed("gethostbyname", name) {
        set_h_errno(HOST_NOT_FOUND);
        return core::ptr::null_mut();
    }
    let h = call_real!(real::GETHOSTBYNAME, fn(*const c_char) -> *mut c_void, name)
        .unwrap_or(core::ptr::null_mut());
    record_host(name, h);
    h
}

/// # Safety
/// C ABI: arguments as for `gethostbyname2(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut c_void {
    if !name_allowed("gethostbyname2", name) {
        set_h_errno(HOST_NOT_FOUND);
        return core::ptr::null_mut();
    }
    let h = call_real!(
        real::GETHOSTBYNAME2,
        fn(*const c_char, c_int) -> *mut c_void,
        name,
        af
    )
    .unwrap_or(core::ptr::null_mut());
    record_host(name, h);
    h
}

/// The reentrant variants report "not found" like glibc does: return 0 with `*result` NULL
/// and `*h_errnop` HOST_NOT_FOUND.
unsafe fn not_found_r(result: *mut *mut c_void, h_errnop: *mut c_int) -> c_int {
    // SAFETY: caller-provided out pointers (checked for NULL).
    unsafe {
        if !result.is_null() {
            *result = core::ptr::null_mut();
        }
        if !h_errnop.is_null() {
            *h_errnop = HOST_NOT_FOUND;
        }
    }
    0
}

/// # Safety
/// C ABI: arguments as for `gethostbyname_r(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut c_void,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut c_void,
    h_errnop: *mut c_int,
) -> c_int {
    if !name_allowed("gethostbyname_r", name) {
        // SAFETY: caller's out pointers.
        return unsafe { not_found_r(result, h_errnop) };
    }
    let rc = call_real!(
        real::GETHOSTBYNAME_R,
        fn(*const c_char, *mut c_void, *mut c_char, usize, *mut *mut c_void, *mut c_int) -> c_int,
        name,
        ret,
        buf,
        buflen,
        result,
        h_errnop
    )
    .unwrap_or(libc::ENOSYS);
    if rc == 0 && !result.is_null() {
        // SAFETY: the out pointer the real call filled.
        record_host(name, unsafe { *result });
    }
    rc
}

/// # Safety
/// C ABI: arguments as for `gethostbyname2_r(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut c_void,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut c_void,
    h_errnop: *mut c_int,
) -> c_int {
    if !name_allowed("gethostbyname2_r", name) {
        // SAFETY: caller's out pointers.
        return unsafe { not_found_r(result, h_errnop) };
    }
    let rc = call_real!(
        real::GETHOSTBYNAME2_R,
        fn(
            *const c_char,
            c_int,
            *mut c_void,
            *mut c_char,
            usize,
            *mut *mut c_void,
            *mut c_int,
        ) -> c_int,
        name,
        af,
        ret,
        buf,
        buflen,
        result,
        h_errnop
    )
    .unwrap_or(libc::ENOSYS);
    if rc == 0 && !result.is_null() {
        // SAFETY: the out pointer the real call filled.
        record_host(name, unsafe { *result });
    }
    rc
}

/// Records a successful `gethostbyname*` answer of an allowed name for `connect`. The name
/// was decided already (and reported); this asks the policy again only to tell an allowed
/// name from one let through by audit mode, without a second report.
fn record_host(name: *const c_char, h: *mut c_void) {
    if h.is_null() || net::local_answer_secs().is_none() {
        return;
    }
    // SAFETY: the caller's C string.
    let text = unsafe { sys::cstr(name) };
    if text.is_empty() || lookup::is_numeric_host(text) {
        return;
    }
    let Ok(parsed) = guard_policy::DnsName::from_text(text) else {
        return;
    };
    let allowed = guard_preload_core::policy::current_unchecked()
        .is_some_and(|v| v.decide_dns(&parsed).verdict != guard_policy::Verdict::Deny);
    if allowed {
        // SAFETY: a hostent the real call returned.
        unsafe { net::record_hostent(h.cast()) };
    }
}

/// The resolver API fails a denied name with -1 and h_errno HOST_NOT_FOUND.
fn res_denied() -> c_int {
    set_h_errno(HOST_NOT_FOUND);
    -1
}

/// The `res_n*` functions fail like glibc's own "not found": -1, with HOST_NOT_FOUND in the
/// resolver state's `res_h_errno` (what callers of the reentrant API read) and in h_errno.
fn res_n_denied(statp: *mut c_void) -> c_int {
    // SAFETY: the caller's resolver state (or NULL, which the helper ignores).
    unsafe { guard_set_res_h_errno(statp, HOST_NOT_FOUND) };
    res_denied()
}

/// `name.domain` as `res_querydomain` builds it.
fn joined_allowed(api: &'static str, name: *const c_char, domain: *const c_char) -> bool {
    // SAFETY: caller's C strings (or NULL).
    let (n, d) = unsafe { (sys::cstr(name), sys::cstr(domain)) };
    let mut full = Buf::<1100>::from_bytes(n);
    if !d.is_empty() {
        full.push_byte(b'.');
        full.push(d);
    }
    name_allowed(api, full.as_ptr())
}

macro_rules! res_query_hook {
    ($name:ident, $api:literal, $real:expr) => {
        /// # Safety
        /// C ABI: arguments as for the resolver function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            dname: *const c_char,
            class: c_int,
            qtype: c_int,
            answer: *mut c_uchar,
            anslen: c_int,
        ) -> c_int {
            if !name_allowed($api, dname) {
                return res_denied();
            }
            call_real!(
                $real,
                fn(*const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int,
                dname,
                class,
                qtype,
                answer,
                anslen
            )
            .unwrap_or_else(res_denied)
        }
    };
}

macro_rules! res_nquery_hook {
    ($name:ident, $api:literal, $real:expr) => {
        /// # Safety
        /// C ABI: arguments as for the resolver function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            statp: *mut c_void,
            dname: *const c_char,
            class: c_int,
            qtype: c_int,
            answer: *mut c_uchar,
            anslen: c_int,
        ) -> c_int {
            if !name_allowed($api, dname) {
                return res_n_denied(statp);
            }
            call_real!(
                $real,
                fn(*mut c_void, *const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int,
                statp,
                dname,
                class,
                qtype,
                answer,
                anslen
            )
            .unwrap_or_else(res_denied)
        }
    };
}

macro_rules! res_querydomain_hook {
    ($name:ident, $api:literal, $real:expr) => {
        /// # Safety
        /// C ABI: arguments as for `res_querydomain(3)`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            name: *const c_char,
            domain: *const c_char,
            class: c_int,
            qtype: c_int,
            answer: *mut c_uchar,
            anslen: c_int,
        ) -> c_int {
            if !joined_allowed($api, name, domain) {
                return res_denied();
            }
            call_real!(
                $real,
                fn(*const c_char, *const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int,
                name,
                domain,
                class,
                qtype,
                answer,
                anslen
            )
            .unwrap_or_else(res_denied)
        }
    };
}

macro_rules! res_nquerydomain_hook {
    ($name:ident, $api:literal, $real:expr) => {
        /// # Safety
        /// C ABI: arguments as for `res_nquerydomain(3)`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            statp: *mut c_void,
            name: *const c_char,
            domain: *const c_char,
            class: c_int,
            qtype: c_int,
            answer: *mut c_uchar,
            anslen: c_int,
        ) -> c_int {
            if !joined_allowed($api, name, domain) {
                return res_n_denied(statp);
            }
            call_real!(
                $real,
                fn(
                    *mut c_void,
                    *const c_char,
                    *const c_char,
                    c_int,
                    c_int,
                    *mut c_uchar,
                    c_int,
                ) -> c_int,
                statp,
                name,
                domain,
                class,
                qtype,
                answer,
                anslen
            )
            .unwrap_or_else(res_denied)
        }
    };
}

res_query_hook!(res_query, "res_query", real::RES_QUERY);
res_query_hook!(__res_query, "res_query", real::RES_QUERY);
res_query_hook!(res_search, "res_search", real::RES_SEARCH);
res_query_hook!(__res_search, "res_search", real::RES_SEARCH);
res_nquery_hook!(res_nquery, "res_nquery", real::RES_NQUERY);
res_nquery_hook!(__res_nquery, "res_nquery", real::RES_NQUERY);
res_nquery_hook!(res_nsearch, "res_nsearch", real::RES_NSEARCH);
res_nquery_hook!(__res_nsearch, "res_nsearch", real::RES_NSEARCH);
res_querydomain_hook!(res_querydomain, "res_querydomain", real::RES_QUERYDOMAIN);
res_querydomain_hook!(__res_querydomain, "res_querydomain", real::RES_QUERYDOMAIN);
res_nquerydomain_hook!(res_nquerydomain, "res_nquerydomain", real::RES_NQUERYDOMAIN);
res_nquerydomain_hook!(
    __res_nquerydomain,
    "res_nquerydomain",
    real::RES_NQUERYDOMAIN
);

/// The question name of a DNS query packet (uncompressed labels after the 12-byte header).
fn query_name(msg: &[u8]) -> Option<DnsName> {
    let mut labels: [&[u8]; 128] = [&[]; 128];
    let mut count = 0usize;
    let mut pos = 12usize;
    loop {
        let len = usize::from(*msg.get(pos)?);
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        *labels.get_mut(count)? = label;
        count += 1;
        pos += 1 + len;
    }
    DnsName::from_labels(labels.get(..count)?.iter().copied()).ok()
}

fn send_allowed(msg: *const c_uchar, msglen: c_int) -> bool {
    let Some(cfg) = config() else { return true };
    let Ok(len) = usize::try_from(msglen) else {
        return true;
    };
    if msg.is_null() {
        return true;
    }
    // SAFETY: the caller's query buffer of msglen bytes.
    let packet = unsafe { core::slice::from_raw_parts(msg, len) };
    match query_name(packet) {
        Some(name) if name.label_count() > 0 => lookup::decide_name(cfg, "res_send", &name),
        _ => true,
    }
}

/// Length of a query's header and question (QNAME, QTYPE, QCLASS).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut pos = 12usize;
    loop {
        let len = usize::from(*msg.get(pos)?);
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        pos += 1 + len;
    }
    let end = pos + 1 + 4;
    (end <= msg.len()).then_some(end)
}

/// Answers a denied `res_send` as a server that does not know the name would: an NXDOMAIN
/// reply to the query (its ID and question, QR and RA set, no records), written to `answer`;
/// returns its length, or -1 with HOST_NOT_FOUND when `answer` is too small.
fn nxdomain_reply(
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    let (Ok(len), Ok(room)) = (usize::try_from(msglen), usize::try_from(anslen)) else {
        return res_denied();
    };
    if msg.is_null() || answer.is_null() {
        return res_denied();
    }
    // SAFETY: the caller's query buffer of msglen bytes.
    let query = unsafe { core::slice::from_raw_parts(msg, len) };
    let Some(end) = question_end(query) else {
        return res_denied();
    };
    if end > room {
        return res_denied();
    }
    let mut head = [0u8; 12];
    head.copy_from_slice(&query[..12]);
    head[2] = 0x80 | (query[2] & 0x79); // QR, opcode and RD kept
    head[3] = 0x80 | 3; // RA, NXDOMAIN
    head[4..6].copy_from_slice(&1u16.to_be_bytes());
    head[6..12].fill(0);
    // SAFETY: `answer` has room for `end` bytes (checked); the regions do not overlap
    // unless the caller passed the same buffer, which copy (memmove semantics) allows.
    unsafe {
        core::ptr::copy(msg.add(12), answer.add(12), end - 12);
        core::ptr::copy_nonoverlapping(head.as_ptr(), answer, 12);
    }
    end as c_int
}

fn do_res_send(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
    if !send_allowed(msg, msglen) {
        return nxdomain_reply(msg, msglen, answer, anslen);
    }
    call_real!(
        real::RES_SEND,
        fn(*const c_uchar, c_int, *mut c_uchar, c_int) -> c_int,
        msg,
        msglen,
        answer,
        anslen
    )
    .unwrap_or_else(res_denied)
}

/// # Safety
/// C ABI: arguments as for `res_send(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn res_send(
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    do_res_send(msg, msglen, answer, anslen)
}

/// # Safety
/// C ABI: as [`res_send`] (pre-2.34 spelling).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __res_send(
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    do_res_send(msg, msglen, answer, anslen)
}
