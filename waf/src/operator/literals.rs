//! Required literals of a regex, for the engine's multi-pattern prefilter.
//!
//! `required(hir)` returns a set of byte strings such that every match of the regex contains
//! at least one of them. That is what lets one Aho-Corasick pass over a value rule out most
//! rules before any regex runs. The strings are ASCII-lowercased (and deduplicated), so the
//! prefilter must search case-insensitively; that keeps the set small for `(?i)` patterns,
//! whose literals otherwise expand into every case variant, and stays correct (a superset)
//! for case-sensitive ones.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Largest finite set kept while expanding a sub-expression exactly.
const EXACT_LIMIT: usize = 64;
/// Largest class expanded into single bytes.
const CLASS_LIMIT: usize = 8;
/// Largest set returned for an alternation of required sets.
const REQUIRED_LIMIT: usize = 4096;

/// A set of literals, ASCII-lowercased.
pub(crate) type Literals = Vec<Vec<u8>>;

pub(crate) fn required(hir: &Hir) -> Option<Literals> {
    let set = required_inner(hir)?;
    if set.is_empty() || set.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(set)
}

fn lower(mut v: Vec<u8>) -> Vec<u8> {
    v.make_ascii_lowercase();
    v
}

fn dedup(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v.dedup();
    v
}

/// Every string the expression can match, when that set is finite and small.
fn exact(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(l) => Some(vec![lower(l.0.to_vec())]),
        HirKind::Class(Class::Bytes(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                if (r.end() - r.start()) as usize > 2 * CLASS_LIMIT {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.push(vec![b.to_ascii_lowercase()]);
                }
            }
            let out = dedup(out);
            (out.len() <= CLASS_LIMIT).then_some(out)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                if (r.end() as u32 - r.start() as u32) as usize > 2 * CLASS_LIMIT {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    out.push(lower(ch.encode_utf8(&mut buf).as_bytes().to_vec()));
                }
            }
            let out = dedup(out);
            (out.len() <= CLASS_LIMIT).then_some(out)
        }
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Repetition(r) => {
            if Some(r.min) != r.max || r.min > 8 {
                return None;
            }
            let sub = exact(&r.sub)?;
            let mut acc = vec![Vec::new()];
            for _ in 0..r.min {
                acc = cross(&acc, &sub)?;
            }
            Some(acc)
        }
        HirKind::Concat(subs) => {
            let mut acc = vec![Vec::new()];
            for s in subs {
                acc = cross(&acc, &exact(s)?)?;
            }
            Some(acc)
        }
        HirKind::Alternation(subs) => {
            let mut out = Vec::new();
            for s in subs {
                out.extend(exact(s)?);
                if out.len() > EXACT_LIMIT {
                    return None;
                }
            }
            Some(dedup(out))
        }
    }
}

fn cross(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > EXACT_LIMIT {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut v = x.clone();
            v.extend_from_slice(y);
            out.push(v);
        }
    }
    Some(dedup(out))
}

/// How good a required set is as a prefilter: longer shortest literal first, then fewer.
fn score(set: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
    let min = set.iter().map(Vec::len).min().unwrap_or(0);
    (min, std::cmp::Reverse(set.len()))
}

fn usable(set: &[Vec<u8>]) -> bool {
    !set.is_empty() && set.iter().all(|l| !l.is_empty())
}

fn better(best: &mut Option<Vec<Vec<u8>>>, cand: Vec<Vec<u8>>) {
    if !usable(&cand) {
        return;
    }
    match best {
        Some(b) if score(b) >= score(&cand) => {}
        _ => *best = Some(cand),
    }
}

fn required_inner(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(set) = exact(hir).filter(|s| usable(s)) {
        return Some(set);
    }
    match hir.kind() {
        HirKind::Capture(c) => required_inner(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required_inner(&r.sub),
        HirKind::Alternation(subs) => {
            let mut out = Vec::new();
            for s in subs {
                out.extend(required(s)?);
                if out.len() > REQUIRED_LIMIT {
                    return None;
                }
            }
            Some(dedup(out))
        }
        HirKind::Concat(subs) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            // Runs of adjacent exactly-known children concatenate into longer literals.
            let mut run: Option<Vec<Vec<u8>>> = None;
            for s in subs {
                match exact(s) {
                    Some(e) => {
                        let next = match &run {
                            Some(r) => cross(r, &e),
                            None => Some(e.clone()),
                        };
                        run = match next {
                            Some(n) => Some(n),
                            None => {
                                if let Some(r) = run.take() {
                                    better(&mut best, r);
                                }
                                Some(e)
                            }
                        };
                    }
                    None => {
                        if let Some(r) = run.take() {
                            better(&mut best, r);
                        }
                        if let Some(req) = required(s) {
                            better(&mut best, req);
                        }
                    }
                }
            }
            if let Some(r) = run {
                better(&mut best, r);
            }
            best
        }
        _ => None,
    }
}
