//! The README's reference sections are the docs' sections, word for word
//! (`scripts/sync-readme` copies them), and its two opening commands exist.

use guard_tests::artifacts::workspace_root;

/// The section of `text` that starts at the line `heading` and runs to the next heading of the
/// same or a higher level (outside code blocks).
fn section(text: &str, heading: &str) -> Option<String> {
    let level = heading.len() - heading.trim_start_matches('#').len();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|line| line.trim_end_matches('\n') == heading)?;
    let mut in_code = false;
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !in_code && (1..=level).contains(&hashes) && line[hashes..].starts_with(' ') {
            end = i;
            break;
        }
    }
    Some(format!(
        "{}\n",
        lines[start..end].concat().trim_end_matches('\n')
    ))
}

#[test]
fn every_included_reference_section_matches_its_doc() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut blocks = 0;
    for (at, _) in readme.match_indices("<!-- begin ") {
        let rest = &readme[at + "<!-- begin ".len()..];
        let marker_end = rest.find(" -->").expect("unterminated begin marker");
        let marker = &rest[..marker_end];
        let (file, heading) = marker.split_once('#').expect("marker is FILE#HEADING");
        let body_start = marker_end + " -->\n".len();
        let end_marker = format!("<!-- end {marker} -->");
        let body_len = rest[body_start..]
            .find(&end_marker)
            .expect("missing end marker");
        let body = &rest[body_start..body_start + body_len];
        let doc = std::fs::read_to_string(root.join(file)).expect(file);
        let expected = section(&doc, heading)
            .unwrap_or_else(|| panic!("{file} has no heading line {heading:?}"));
        assert_eq!(
            body, expected,
            "README's copy of {file} {heading} is stale: run scripts/sync-readme"
        );
        blocks += 1;
    }
    assert!(
        blocks >= 5,
        "the README lost its reference sections ({blocks} found)"
    );
}

#[test]
fn the_readme_opens_with_the_demo_and_test_commands_and_they_exist() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let opening: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .take(4)
        .collect();
    assert!(
        opening.iter().any(|l| l.starts_with("sudo ./scripts/demo")),
        "{opening:?}"
    );
    assert!(
        opening.iter().any(|l| l.starts_with("sudo ./scripts/test")),
        "{opening:?}"
    );
    for script in ["scripts/demo", "scripts/test"] {
        let meta = std::fs::metadata(root.join(script)).expect(script);
        assert!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0);
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("./scripts/test"),
        ".ci/run must run the README's test command"
    );
}
