//! How much CPU this process may really use, to size the runtime from it.
//!
//! A 0.25-vCPU Fargate task sees two CPUs and a CFS quota: a runtime with one worker per
//! visible CPU then spends its quota on cross-thread wake-ups and work stealing, for queries
//! one thread answers with less CPU. The budget is the smallest of the affinity mask, the
//! cgroup quota (v2 `cpu.max` or v1 `cpu.cfs_quota_us`, on this process's own cgroup and its
//! ancestors) and an explicit `--threads`.

use std::path::{Path, PathBuf};

/// Where the budget comes from, for the start-up line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `--threads` given.
    Explicit,
    /// A CFS quota is the tightest limit.
    Quota,
    /// The CPU affinity mask (or the visible CPUs) is the tightest limit.
    Affinity,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuBudget {
    /// Worker threads the runtime gets (1 means a current-thread runtime).
    pub threads: usize,
    /// CPUs the quota allows, when there is one (0.25 for `25000 100000`).
    pub quota: Option<f64>,
    /// CPUs in the affinity mask.
    pub affinity: usize,
    pub limit: Limit,
}

impl CpuBudget {
    /// Reads the affinity mask and the cgroup quota of this process.
    pub fn detect(explicit: Option<usize>) -> CpuBudget {
        let affinity = affinity_cpus().unwrap_or(1).max(1);
        let quota = cgroup_quota(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup"));
        CpuBudget::from_parts(explicit, affinity, quota)
    }

    pub fn from_parts(explicit: Option<usize>, affinity: usize, quota: Option<f64>) -> CpuBudget {
        let affinity = affinity.max(1);
        if let Some(n) = explicit.filter(|n| *n > 0) {
            return CpuBudget {
                threads: n,
                quota,
                affinity,
                limit: Limit::Explicit,
            };
        }
        // A quota of 1.5 CPUs keeps two threads busy part of the time: round up, as the
        // scheduler lets both run until the quota is spent.
        let by_quota = quota.map(|q| (q.ceil() as usize).max(1));
        match by_quota {
            Some(q) if q < affinity => CpuBudget {
                threads: q,
                quota,
                affinity,
                limit: Limit::Quota,
            },
            _ => CpuBudget {
                threads: affinity,
                quota,
                affinity,
                limit: Limit::Affinity,
            },
        }
    }

    /// One sentence for the start-up line.
    pub fn describe(&self) -> String {
        let runtime = if self.threads <= 1 {
            "a current-thread runtime".to_string()
        } else {
            format!("{} worker threads", self.threads)
        };
        let quota = self
            .quota
            .map(|q| format!(", cpu quota {q:.2}"))
            .unwrap_or_default();
        let why = match self.limit {
            Limit::Explicit => "--threads",
            Limit::Quota => "the cgroup cpu quota",
            Limit::Affinity => "the cpu affinity mask",
        };
        format!(
            "{runtime} (from {why}; {} cpus in affinity{quota})",
            self.affinity
        )
    }
}

fn affinity_cpus() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(libc::CPU_COUNT(&set) as usize)
    }
}

/// The tightest CFS quota (in CPUs) on the process's cgroup path, v2 or v1.
///
/// `proc_cgroup` is `/proc/self/cgroup`, `root` the cgroup mount point (parameters so the
/// parsing is tested on files a test writes).
pub fn cgroup_quota(proc_cgroup: &Path, root: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(proc_cgroup).ok()?;
    let mut best: Option<f64> = None;
    let mut take = |q: Option<f64>| {
        if let Some(q) = q {
            best = Some(best.map_or(q, |b: f64| b.min(q)));
        }
    };
    for line in text.lines() {
        // hierarchy-ID:controller-list:path
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            // cgroup v2 (the unified hierarchy): mounted at root, or at root/unified in hybrid
            // setups.
            for base in [root.to_path_buf(), root.join("unified")] {
                for dir in ancestors(&base, path) {
                    take(read_v2(&dir.join("cpu.max")));
                }
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in ["cpu", "cpu,cpuacct", "cpuacct,cpu"] {
                for dir in ancestors(&root.join(mount), path) {
                    take(read_v1(&dir));
                }
            }
        }
    }
    best
}

/// The cgroup directory of `path` under `base` and each of its parents up to `base`.
fn ancestors(base: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = vec![base.to_path_buf()];
    let mut dir = base.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        dirs.push(dir.clone());
    }
    dirs
}

/// `cpu.max`: "max 100000" or "25000 100000".
fn read_v2(file: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut it = text.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// `cpu.cfs_quota_us` (-1 = none) over `cpu.cfs_period_us`.
fn read_v1(dir: &Path) -> Option<f64> {
    let quota: f64 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let period: f64 = std::fs::read_to_string(dir.join("cpu.cfs_period_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        for (path, text) in files {
            let p = dir.0.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p =
                    std::env::temp_dir().join(format!("dns-guard-cpus-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_fargate_quarter_vcpu_on_cgroup_v2_gives_one_thread() {
        let t = tree(&[
            ("proc", "0::/ecs/task/app\n"),
            ("root/cpu.max", "max 100000\n"),
            ("root/ecs/cpu.max", "max 100000\n"),
            ("root/ecs/task/cpu.max", "25000 100000\n"),
            ("root/ecs/task/app/cpu.max", "max 100000\n"),
        ]);
        let q = cgroup_quota(&t.0.join("proc"), &t.0.join("root"));
        assert_eq!(q, Some(0.25));
        let b = CpuBudget::from_parts(None, 2, q);
        assert_eq!(b.threads, 1);
        assert_eq!(b.limit, Limit::Quota);
        assert!(b.describe().contains("current-thread"), "{}", b.describe());
    }

    #[test]
    fn cgroup_v1_quota_is_read_from_the_cpu_hierarchy() {
        let t = tree(&[
            ("proc", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n"),
            ("root/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000\n"),
            ("root/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
            ("root/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
            ("root/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
        ]);
        let q = cgroup_quota(&t.0.join("proc"), &t.0.join("root"));
        assert_eq!(q, Some(1.5));
        assert_eq!(CpuBudget::from_parts(None, 4, q).threads, 2);
    }

    #[test]
    fn no_quota_leaves_the_affinity_mask_and_threads_overrides_both() {
        let t = tree(&[("proc", "0::/\n"), ("root/cpu.max", "max 100000\n")]);
        let q = cgroup_quota(&t.0.join("proc"), &t.0.join("root"));
        assert_eq!(q, None);
        let b = CpuBudget::from_parts(None, 2, q);
        assert_eq!((b.threads, b.limit), (2, Limit::Affinity));
        let b = CpuBudget::from_parts(Some(3), 2, Some(0.25));
        assert_eq!((b.threads, b.limit), (3, Limit::Explicit));
        // A quota above the affinity mask does not add threads.
        assert_eq!(CpuBudget::from_parts(None, 2, Some(8.0)).threads, 2);
    }

    #[test]
    fn unreadable_or_garbled_files_mean_no_quota() {
        let t = tree(&[("proc", "garbage\n0::/a\n"), ("root/a/cpu.max", "lots\n")]);
        assert_eq!(cgroup_quota(&t.0.join("proc"), &t.0.join("root")), None);
        assert_eq!(cgroup_quota(&t.0.join("missing"), &t.0.join("root")), None);
    }

    #[test]
    fn this_process_has_a_budget_of_at_least_one_thread() {
        let b = CpuBudget::detect(None);
        assert!(b.threads >= 1 && b.affinity >= 1);
    }
}
