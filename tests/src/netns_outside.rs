//! What lies outside a task: a second network namespace behind a veth pair, as the VPC and
//! the internet are outside a Fargate task's ENI.
//!
//! The task's side of the pair is its ENI (`eth0`, the address its hostname names,
//! `10.0.1.23`), with a default route to the outside side (`10.0.1.1`). The outside namespace
//! holds the "internet" addresses on its loopback, so anything a test serves there is reached
//! from the task only over the veth pair: a connection to it is a real connection out of the
//! task, which the shim's `[net]` hooks decide (the task's own loopback is always allowed).

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::netns::{NetNs, ip};

/// The task's ENI address (the `ip-10-0-1-23` of its hostname).
pub const TASK_ENI_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 23);
/// The outside end of the pair: the task's default gateway.
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The IPv6 ends of the pair (a ULA prefix), for dual-stack tests.
pub const TASK_ENI_IP6: &str = "fd00:10:0:1::23";
pub const GATEWAY_IP6: &str = "fd00:10:0:1::1";

/// The outside namespace, linked to a task namespace. Deleted (with everything in it) on drop.
pub struct Outside {
    pub netns: NetNs,
}

impl Outside {
    /// Creates `PREFIX-PID-N` (the task's prefix: what cleans up the task's namespaces after
    /// an interrupted run cleans this one too), links it to `task` and puts `hosts` (IPv4 or
    /// IPv6 address texts) on its loopback, routable from the task.
    pub fn link(task: &NetNs, prefix: &str, hosts: &[String]) -> Result<Outside> {
        let netns = NetNs::create(prefix)?;
        let outside = Outside { netns };
        let (t, o) = (task.name(), outside.netns.name());
        ip(&[
            "-n", t, "link", "add", "eth0", "type", "veth", "peer", "name", "gw0", "netns", o,
        ])?;
        // IPv6 duplicate address detection would hold the addresses back for a second or two.
        for ns in [t, o] {
            sysctl(ns, "net.ipv6.conf.all.accept_dad=0")?;
            sysctl(ns, "net.ipv6.conf.default.accept_dad=0")?;
        }
        let eni = format!("{TASK_ENI_IP}/24");
        let gw = format!("{GATEWAY_IP}/24");
        let eni6 = format!("{TASK_ENI_IP6}/64");
        let gw6 = format!("{GATEWAY_IP6}/64");
        ip(&["-n", t, "addr", "add", &eni, "dev", "eth0"])?;
        ip(&["-n", t, "addr", "add", &eni6, "dev", "eth0", "nodad"])?;
        ip(&["-n", o, "addr", "add", &gw, "dev", "gw0"])?;
        ip(&["-n", o, "addr", "add", &gw6, "dev", "gw0", "nodad"])?;
        ip(&["-n", t, "link", "set", "eth0", "up"])?;
        ip(&["-n", o, "link", "set", "gw0", "up"])?;
        ip(&[
            "-n",
            t,
            "route",
            "add",
            "default",
            "via",
            &GATEWAY_IP.to_string(),
        ])?;
        ip(&["-n", t, "-6", "route", "add", "default", "via", GATEWAY_IP6])?;
        for host in hosts {
            let cidr = if host.contains(':') {
                format!("{host}/128")
            } else {
                format!("{host}/32")
            };
            ip(&["-n", o, "addr", "add", &cidr, "dev", "lo"])?;
        }
        Ok(outside)
    }
}

fn sysctl(netns: &str, setting: &str) -> Result<()> {
    let output = Command::new("ip")
        .args(["netns", "exec", netns, "sysctl", "-q", "-w", setting])
        .output()
        .with_context(|| format!("running sysctl {setting} in {netns}"))?;
    if !output.status.success() {
        bail!(
            "sysctl -w {setting} in {netns} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
