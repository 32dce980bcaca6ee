//! Detection and false positives on our own corpora (`data/attacks.tsv`, `data/benign-texts.txt`
//! and generated API traffic), with the engine as a user runs it: CRS v4.28.0 at PL1, the
//! default threshold, every protection preventing.
//!
//! The floors beat what nginx + ModSecurity + CRS did on a collection like this one (issue 13:
//! about 63% of attacks detected, about 69% of the tricky benign texts let through); the
//! realistic traffic may be blocked at most 0.5% of the time.

mod common;

use std::collections::BTreeMap;

use common::corpus::{self, Sample};
use guard_waf::Engine;

/// Realistic benign traffic blocked, at most.
const TRAFFIC_BLOCKED_MAX: f64 = 0.005;
/// Tricky benign texts let through, at least (issue 13: about 69% with Debian CRS 3.3; 97.9%
/// for libmodsecurity 3.0.9 + CRS v4.28.0 on these texts, bench/waf-engine.sh). The floor is
/// a ratchet just under today's 97.9%; beating libmodsecurity here is the goal, not yet met.
const TEXTS_PASSED_MIN: f64 = 0.975;
/// Attacks blocked over the whole corpus, at least (issue 13: about 63%; 68.8% for
/// libmodsecurity 3.0.9 + CRS v4.28.0 on this corpus). The floor beats the 63% and is a
/// ratchet just under today's 67.9%; beating libmodsecurity's 68.8% (and reaching 70%) is the
/// goal, not yet met (multipart fields, XML and the 990xxx detectors are not in the
/// evaluation yet: docs/waf-quality.md).
const ATTACKS_BLOCKED_MIN: f64 = 0.67;

fn blocked(engine: &Engine, s: &Sample) -> bool {
    // A request our parser refuses is refused by the proxy too (400, `protocol`).
    common::inspect(engine, &s.request).map_or(true, |v| v.blocks())
}

fn rate(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

#[test]
fn benign_traffic_is_not_blocked() {
    let Some(crs) = common::crs_dir("benign_traffic_is_not_blocked") else {
        return;
    };
    let engine = common::engine(&crs, 1);
    // An engine that blocks nothing would pass this test: it must block a plain attack first.
    let probe = corpus::place("query", "1' UNION SELECT password FROM users--");
    assert!(
        common::inspect(&engine, &probe).is_ok_and(|v| v.blocks()),
        "the engine does not block a plain SQL injection; the benign figures would mean nothing"
    );
    let uas = crs.join("tests/regression/utils/data/popularUAs.data");
    let samples = corpus::benign_traffic(Some(&uas));
    assert!(
        samples.len() > 1_500,
        "only {} benign requests",
        samples.len()
    );
    assert_eq!(
        samples.iter().filter(|s| s.class == "ua").count(),
        588,
        "popularUAs.data should hold 588 User-Agents"
    );
    let mut per_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut examples = Vec::new();
    for s in &samples {
        let b = blocked(&engine, s);
        let e = per_class.entry(&s.class).or_default();
        e.0 += 1;
        e.1 += b as usize;
        if b && examples.len() < 20 {
            let v = common::inspect(&engine, &s.request);
            examples.push(format!(
                "{} {}: {}\n    rules: {:?}",
                s.class,
                s.placement,
                String::from_utf8_lossy(&s.request[..s.request.len().min(200)]),
                v.map(|v| v.matches.iter().map(|m| m.id).collect::<Vec<_>>())
            ));
        }
    }
    let total_blocked: usize = per_class.values().map(|c| c.1).sum();
    println!("benign traffic at PL1, threshold 5:");
    for (class, (n, b)) in &per_class {
        println!("  {class:10} {b}/{n} blocked");
    }
    println!(
        "  total      {total_blocked}/{} blocked ({:.2}%)",
        samples.len(),
        100.0 * rate(total_blocked, samples.len())
    );
    assert!(
        rate(total_blocked, samples.len()) <= TRAFFIC_BLOCKED_MAX,
        "{total_blocked} of {} benign requests blocked (max {:.1}%); first ones:\n{}",
        samples.len(),
        TRAFFIC_BLOCKED_MAX * 100.0,
        examples.join("\n")
    );
}

#[test]
fn attacks_are_detected_and_tricky_texts_pass() {
    let Some(crs) = common::crs_dir("attacks_are_detected_and_tricky_texts_pass") else {
        return;
    };
    let engine = common::engine(&crs, 1);

    let attacks = corpus::attacks();
    assert!(
        attacks.len() > 2_000,
        "only {} attack requests",
        attacks.len()
    );
    let mut per_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut per_place: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut missed = Vec::new();
    for s in &attacks {
        let b = blocked(&engine, s);
        for (map, key) in [
            (&mut per_class, s.class.as_str()),
            (&mut per_place, s.placement),
        ] {
            let e = map.entry(key).or_default();
            e.0 += 1;
            e.1 += b as usize;
        }
        if !b && missed.len() < 30 {
            missed.push(format!("{} {}", s.class, s.placement));
        }
    }
    println!("attack corpus at PL1, threshold 5 (detected/total):");
    for (k, (n, b)) in per_class.iter().chain(per_place.iter()) {
        println!("  {k:10} {b}/{n} ({:.1}%)", 100.0 * rate(*b, *n));
    }
    let detected: usize = per_class.values().map(|c| c.1).sum();
    let detection = rate(detected, attacks.len());
    println!(
        "  all        {detected}/{} ({:.1}%)",
        attacks.len(),
        100.0 * detection
    );

    let texts = corpus::tricky_benign();
    assert!(texts.len() >= 400, "only {} benign texts", texts.len());
    let mut flagged = Vec::new();
    for s in &texts {
        if blocked(&engine, s) {
            flagged.push(s);
        }
    }
    let passed = rate(texts.len() - flagged.len(), texts.len());
    println!(
        "tricky benign texts: {}/{} pass ({:.1}%)",
        texts.len() - flagged.len(),
        texts.len(),
        100.0 * passed
    );
    for s in flagged.iter().take(15) {
        let body = String::from_utf8_lossy(&s.request);
        println!(
            "  blocked {}: {}",
            s.placement,
            body.lines().next().unwrap_or("")
        );
    }

    assert!(
        detection >= ATTACKS_BLOCKED_MIN,
        "attacks detected {:.1}% < {:.0}%; some missed: {missed:?}",
        100.0 * detection,
        100.0 * ATTACKS_BLOCKED_MIN
    );
    assert!(
        passed >= TEXTS_PASSED_MIN,
        "tricky benign texts passed {:.1}% < {:.0}%",
        100.0 * passed,
        100.0 * TEXTS_PASSED_MIN
    );
    // Every class is detected at least sometimes: a class at 0% is a missing detector.
    let dead: Vec<&str> = per_class
        .iter()
        .filter(|(_, (_, b))| *b == 0)
        .map(|(k, _)| *k)
        .collect();
    assert!(dead.is_empty(), "classes never detected: {dead:?}");
}
