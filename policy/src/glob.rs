//! Process-path globs: `*` within one path segment, `**` across segments, `?` one character.
//!
//! `*` matches any run of bytes without `/`; `?` one byte that is not `/`; `**` any run of
//! bytes including `/`. Written as a whole segment (`/**/`), `**/` matches zero or more whole
//! segments, so `/usr/**/bin/x` matches `/usr/bin/x` too. Every other byte matches itself
//! (case-sensitive; there are no character classes or escapes).
//!
//! The matcher is iterative with two backtrack points (the last `*` and the last `**`), so it
//! runs in O(pattern × text) at worst, without recursion or allocation: a later `*` can absorb
//! anything an earlier `*` of the same stretch could, and a `**` anything at all, so only the
//! latest of each needs to be remembered.

/// Whether `pattern` matches all of `text`.
pub(crate) fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index after the `*`, text index where the `*`'s match currently ends)
    let mut star: Option<(usize, usize)> = None;
    // (pattern index after the `**`, text index where its match ends, whole-segment form)
    let mut globstar: Option<(usize, usize, bool)> = None;
    loop {
        if let Some(&c) = pattern.get(p) {
            if c == b'*' {
                if pattern.get(p + 1) == Some(&b'*') {
                    let segment =
                        (p == 0 || pattern[p - 1] == b'/') && pattern.get(p + 2) == Some(&b'/');
                    let next = if segment { p + 3 } else { p + 2 };
                    globstar = Some((next, t, segment));
                    star = None;
                    p = next;
                } else {
                    star = Some((p + 1, t));
                    p += 1;
                }
                continue;
            }
            if let Some(&b) = text.get(t) {
                let ok = if c == b'?' { b != b'/' } else { b == c };
                if ok {
                    p += 1;
                    t += 1;
                    continue;
                }
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the latest `*` take one more byte, else the latest `**`.
        if let Some((sp, st)) = star
            && let Some(&b) = text.get(st)
            && b != b'/'
        {
            star = Some((sp, st + 1));
            p = sp;
            t = st + 1;
            continue;
        }
        if let Some((gp, gt, segment)) = globstar
            && gt < text.len()
        {
            let next = if segment {
                match text[gt..].iter().position(|&b| b == b'/') {
                    Some(i) => gt + i + 1,
                    None => return false,
                }
            } else {
                gt + 1
            };
            globstar = Some((gp, next, segment));
            star = None;
            p = gp;
            t = next;
            continue;
        }
        return false;
    }
}

#[cfg(feature = "compile")]
/// Whether a pattern has glob characters at all (else it is matched by table lookup).
pub(crate) fn is_glob(pattern: &[u8]) -> bool {
    pattern.iter().any(|&b| b == b'*' || b == b'?')
}

#[cfg(feature = "compile")]
/// How specific a glob is: the number of bytes that must match literally.
pub(crate) fn literal_count(pattern: &[u8]) -> usize {
    pattern.iter().filter(|&&b| b != b'*' && b != b'?').count()
}
