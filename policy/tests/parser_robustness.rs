//! Whatever text arrives as a policy (a half-written file, a corrupted download), parsing
//! gives a policy or errors, never a panic; and every error names the origin and a field.

use guard_policy::Policy;
use proptest::prelude::*;

fn check(result: Result<Policy, guard_policy::PolicyErrors>) -> Result<(), TestCaseError> {
    match result {
        Ok(policy) => {
            // A policy that parses compiles and reads back to itself.
            let compiled = policy.compile();
            let back = Policy::from_json(compiled.to_json(), "back.json");
            prop_assert_eq!(back.as_ref().ok(), Some(&policy));
        }
        Err(errors) => {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert_eq!(e.origin.as_str(), "fuzz");
                prop_assert!(!e.field.is_empty());
                prop_assert!(!e.reason.is_empty());
            }
        }
    }
    Ok(())
}

/// Fragments of real policies, so random documents often get past the syntax.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mode = \"audit\"\n".to_string()),
        Just("[dns]\n".to_string()),
        Just("[process]\n".to_string()),
        Just("default = \"deny\"\n".to_string()),
        Just("default = \"allow\"\n".to_string()),
        Just("block_ttl = 7\n".to_string()),
        Just("answer = \"refused\"\n".to_string()),
        "[a-z*./_\\\\ü-]{0,12}".prop_map(|p| format!("deny = [{p:?}]\n")),
        "[a-z*?/._ -]{0,12}".prop_map(|p| format!("allow = [{p:?}, \"x\"]\n")),
        "\\PC{0,20}".prop_map(|s| format!("{s}\n")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check(Policy::from_toml(&text, "fuzz"))?;
        check(Policy::from_json(&text, "fuzz"))?;
    }

    #[test]
    fn random_policy_shaped_documents_never_panic(parts in prop::collection::vec(fragment(), 0..12)) {
        let text: String = parts.concat();
        check(Policy::from_text(&text, "fuzz"))?;
    }

    #[test]
    fn random_json_documents_never_panic(
        deny in prop::collection::vec("\\PC{0,16}", 0..5),
        ttl in any::<i64>(),
        default in "[a-z]{0,6}",
    ) {
        let json = serde_json::json!({
            "dns": {"default": default, "deny": deny, "block_ttl": ttl},
            "process": {"default": "allow", "deny": deny},
        });
        check(Policy::from_json(&json.to_string(), "fuzz"))?;
    }
}
