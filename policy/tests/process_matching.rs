//! Process decisions: path globs, file-name patterns and their precedence.

mod common;
use common::*;

const ISSUE_EXAMPLE: &str = r#"
[process]
default = "allow"
allow = []
deny  = ["/usr/bin/nc", "ncat", "/tmp/*"]
alert = ["curl"]
"#;

#[test]
fn exact_path_matches_that_path() {
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/usr/bin/nc"),
        "deny process.deny:/usr/bin/nc"
    );
}

#[test]
fn exact_path_does_not_match_the_same_name_elsewhere() {
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/bin/nc"),
        "allow process.default"
    );
}

#[test]
fn file_name_matches_in_any_directory() {
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/usr/bin/ncat"),
        "deny process.deny:ncat"
    );
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/opt/x/ncat"),
        "deny process.deny:ncat"
    );
}

#[test]
fn file_name_must_match_whole() {
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/usr/bin/ncat2"),
        "allow process.default"
    );
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/usr/bin/xcurl"),
        "allow process.default"
    );
}

#[test]
fn alert_rule_gives_alert() {
    assert_eq!(
        process(&policy(ISSUE_EXAMPLE), "/usr/bin/curl"),
        "alert process.alert:curl"
    );
}

#[test]
fn single_star_stays_within_one_segment() {
    let p = policy(ISSUE_EXAMPLE);
    assert_eq!(process(&p, "/tmp/payload"), "deny process.deny:/tmp/*");
    assert_eq!(process(&p, "/tmp/dir/payload"), "allow process.default");
}

#[test]
fn double_star_crosses_segments() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"/tmp/**\"]\n");
    assert_eq!(process(&p, "/tmp/payload"), "deny process.deny:/tmp/**");
    assert_eq!(
        process(&p, "/tmp/a/b/c/payload"),
        "deny process.deny:/tmp/**"
    );
    assert_eq!(process(&p, "/tmpfoo/x"), "allow process.default");
}

#[test]
fn double_star_segment_matches_zero_or_more_directories() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"/opt/**/bin/tool\"]\n");
    assert_eq!(
        process(&p, "/opt/bin/tool"),
        "deny process.deny:/opt/**/bin/tool"
    );
    assert_eq!(
        process(&p, "/opt/a/b/bin/tool"),
        "deny process.deny:/opt/**/bin/tool"
    );
    assert_eq!(process(&p, "/opt/abin/tool"), "allow process.default");
}

#[test]
fn question_mark_matches_one_character_but_not_a_slash() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"/usr/bin/python3.?\"]\n");
    assert_eq!(
        process(&p, "/usr/bin/python3.9"),
        "deny process.deny:/usr/bin/python3.?"
    );
    assert_eq!(process(&p, "/usr/bin/python3.11"), "allow process.default");
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"/usr/bin?nc\"]\n");
    assert_eq!(process(&p, "/usr/bin/nc"), "allow process.default");
}

#[test]
fn star_within_a_segment() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"/usr/*/python*\"]\n");
    assert_eq!(
        process(&p, "/usr/bin/python3"),
        "deny process.deny:/usr/*/python*"
    );
    assert_eq!(
        process(&p, "/usr/local/bin/python3"),
        "allow process.default"
    );
}

#[test]
fn file_name_globs_match_the_file_name_only() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"*.sh\", \"python3*\"]\n");
    assert_eq!(process(&p, "/tmp/x/run.sh"), "deny process.deny:*.sh");
    assert_eq!(
        process(&p, "/usr/bin/python3.11"),
        "deny process.deny:python3*"
    );
    assert_eq!(process(&p, "/python3.d/tool"), "allow process.default");
}

#[test]
fn matching_is_case_sensitive() {
    let p = policy("[process]\ndefault = \"allow\"\ndeny = [\"nc\", \"/Tmp/*\"]\n");
    assert_eq!(process(&p, "/usr/bin/NC"), "allow process.default");
    assert_eq!(process(&p, "/tmp/x"), "allow process.default");
}

#[test]
fn exact_file_name_beats_path_glob() {
    let p = policy("[process]\ndefault = \"deny\"\nallow = [\"/usr/bin/*\"]\ndeny = [\"nc\"]\n");
    assert_eq!(process(&p, "/usr/bin/nc"), "deny process.deny:nc");
    assert_eq!(process(&p, "/usr/bin/ls"), "allow process.allow:/usr/bin/*");
}

#[test]
fn exact_path_beats_exact_file_name() {
    let p =
        policy("[process]\ndefault = \"allow\"\nallow = [\"/opt/tools/nc\"]\ndeny = [\"nc\"]\n");
    assert_eq!(
        process(&p, "/opt/tools/nc"),
        "allow process.allow:/opt/tools/nc"
    );
    assert_eq!(process(&p, "/bin/nc"), "deny process.deny:nc");
}

#[test]
fn path_glob_beats_file_name_glob() {
    let p = policy("[process]\ndefault = \"allow\"\nallow = [\"/opt/*\"]\ndeny = [\"*.sh\"]\n");
    assert_eq!(process(&p, "/opt/run.sh"), "allow process.allow:/opt/*");
    assert_eq!(process(&p, "/srv/run.sh"), "deny process.deny:*.sh");
}

#[test]
fn more_literal_glob_wins() {
    let p = policy(
        "[process]\ndefault = \"allow\"\ndeny = [\"/usr/**\"]\nallow = [\"/usr/bin/*\"]\nalert = [\"/usr/bin/py*\"]\n",
    );
    assert_eq!(
        process(&p, "/usr/bin/python3"),
        "alert process.alert:/usr/bin/py*"
    );
    assert_eq!(process(&p, "/usr/bin/ls"), "allow process.allow:/usr/bin/*");
    assert_eq!(process(&p, "/usr/lib/x/y"), "deny process.deny:/usr/**");
}

#[test]
fn more_literal_wins_between_prefix_and_suffix_globs() {
    // One glob is indexed by its literal prefix, the other by its literal suffix.
    let p = policy("[process]\ndefault = \"allow\"\nallow = [\"/a/*\"]\ndeny = [\"/**/run-me\"]\n");
    assert_eq!(process(&p, "/a/run-me"), "deny process.deny:/**/run-me");
    assert_eq!(process(&p, "/a/other"), "allow process.allow:/a/*");
}

#[test]
fn tie_between_globs_deny_beats_alert_beats_allow() {
    let p = policy(
        "[process]\ndefault = \"allow\"\nallow = [\"/opt/*/x\"]\nalert = [\"/opt/x/*\"]\ndeny = [\"/opt/?/x\"]\n",
    );
    // All three have seven literal characters.
    assert_eq!(process(&p, "/opt/x/x"), "deny process.deny:/opt/?/x");
    let p =
        policy("[process]\ndefault = \"deny\"\nallow = [\"/opt/*/x\"]\nalert = [\"/opt/x/*\"]\n");
    assert_eq!(process(&p, "/opt/x/x"), "alert process.alert:/opt/x/*");
}

#[test]
fn tie_on_the_same_pattern_deny_wins() {
    let p = policy(
        "[process]\ndefault = \"allow\"\nallow = [\"nc\", \"/bin/*\"]\ndeny = [\"nc\", \"/bin/*\"]\n",
    );
    assert_eq!(process(&p, "/usr/bin/nc"), "deny process.deny:nc");
    assert_eq!(process(&p, "/bin/ls"), "deny process.deny:/bin/*");
}

#[test]
fn unmatched_program_gets_the_default() {
    let p = policy("[process]\ndefault = \"deny\"\nallow = [\"/usr/bin/*\"]\n");
    assert_eq!(process(&p, "/tmp/x"), "deny process.default");
}

#[test]
fn absent_process_section_allows_everything() {
    assert_eq!(process(&policy(""), "/tmp/x"), "allow process.default");
}

#[test]
fn stricter_combines_candidate_paths() {
    let c = policy(ISSUE_EXAMPLE).compile();
    let v = c.view();
    let symlink = v.decide_process(b"/usr/local/bin/netcat");
    let target = v.decide_process(b"/usr/bin/nc");
    let d = symlink.stricter(target);
    assert_eq!(d.rule.to_string(), "process.deny:/usr/bin/nc");
}

#[test]
fn relative_pattern_with_slash_is_an_error() {
    let e = process_rule_error("bin/nc");
    assert!(
        e.contains("policy.toml:4: process.deny[0]: `bin/nc`: a path pattern must be absolute"),
        "{e}"
    );
}

#[test]
fn dot_segments_are_errors() {
    for bad in ["/usr/bin/../bin/nc", "/usr/./bin/nc", "/usr/bin/.."] {
        let e = process_rule_error(bad);
        assert!(e.contains("policy.toml:4: process.deny[0]:"), "{e}");
        assert!(
            e.contains("segment; expected a normalised absolute path"),
            "{e}"
        );
    }
}

#[test]
fn double_slash_is_an_error() {
    let e = process_rule_error("/usr//bin/nc");
    assert!(e.contains("empty path segment (`//`)"), "{e}");
}

#[test]
fn trailing_slash_is_an_error() {
    let e = process_rule_error("/usr/bin/");
    assert!(e.contains("cannot end with `/`"), "{e}");
}

#[test]
fn triple_star_is_an_error() {
    let e = process_rule_error("/usr/***");
    assert!(e.contains("more than two `*` in a row"), "{e}");
}

#[test]
fn empty_and_dot_file_names_are_errors() {
    assert!(process_rule_error("").contains("empty pattern"));
    assert!(process_rule_error("..").contains("is not a file name"));
}

/// The glob indexes skip probing when no key starts (or ends) like the text; keys shorter
/// than the filter's head, and texts sharing only part of a head, must still match.
#[test]
fn glob_index_head_filter_keeps_every_match() {
    let p = policy(
        "[process]\ndefault = \"allow\"\ndeny = [\"/srv/job*/run\", \"/a*\", \"/srv/x?\", \"*.sh\", \"x*\", \"*-v2\"]\n",
    );
    let c = p.compile();
    let view = c.view();
    let denied =
        |path: &str| view.decide_process(path.as_bytes()).verdict == guard_policy::Verdict::Deny;
    assert!(denied("/srv/job12/run"));
    assert!(denied("/ab"));
    assert!(!denied("/ab/c"));
    assert!(denied("/a"));
    assert!(denied("/srv/xy"));
    assert!(denied("/usr/bin/deploy.sh"));
    assert!(denied("/usr/bin/xtool"));
    assert!(denied("/opt/tool-v2"));
    assert!(!denied("/srv/jo"));
    assert!(!denied("/usr/bin/true"));
    assert!(!denied("/sr/job1/run"));
    assert!(!denied("/usr/bin/tool-v3"));
}

/// The file-name table also marks the file names of exact path rules; a name that is only
/// such a mark must not decide anything by itself, and an exact path still beats a name.
#[test]
fn file_names_of_path_rules_only_route_to_the_path_table() {
    let p = policy(
        "[process]\ndefault = \"allow\"\ndeny = [\"/opt/tools/nc\", \"/srv/app/run\"]\nalert = [\"nc\"]\nallow = [\"/usr/bin/nc\"]\n",
    );
    let c = p.compile();
    let view = c.view();
    let decide = |path: &str| {
        let d = view.decide_process(path.as_bytes());
        (d.verdict, d.rule.to_string())
    };
    use guard_policy::Verdict::{Alert, Allow, Deny};
    assert_eq!(
        decide("/opt/tools/nc"),
        (Deny, "process.deny:/opt/tools/nc".into())
    );
    assert_eq!(
        decide("/usr/bin/nc"),
        (Allow, "process.allow:/usr/bin/nc".into())
    );
    assert_eq!(decide("/bin/nc"), (Alert, "process.alert:nc".into()));
    assert_eq!(
        decide("/srv/app/run"),
        (Deny, "process.deny:/srv/app/run".into())
    );
    // "run" is in the file-name table only as the mark of /srv/app/run.
    assert_eq!(decide("/usr/bin/run"), (Allow, "process.default".into()));
    assert_eq!(decide("/usr/bin/true"), (Allow, "process.default".into()));
}
