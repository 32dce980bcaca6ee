//! Process-path globs: `*` within one path segment, `**` across segments, `?` one character.
