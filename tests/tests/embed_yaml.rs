//! guard-embed's YAML writer against its reader (serde_yaml): whatever tree it writes reads
//! back as the same tree, tags (`!Ref`, `!Sub`, `!If [...]`) included, and no string comes back
//! as a boolean, number, date or null under YAML 1.1 rules (which CloudFormation follows).

use guard_embed::yaml;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn scalar_string() -> impl Strategy<Value = String> {
    prop_oneof![
        // Words YAML 1.1 or 1.2 would read as something other than a string when plain.
        prop::sample::select(vec![
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "n",
            "true",
            "False",
            "null",
            "~",
            "NULL",
            "0x1F",
            "0o17",
            "017",
            "1_000",
            "1:20",
            ".inf",
            "-.INF",
            ".nan",
            "1e3",
            "+1",
            "-1",
            "2010-09-09",
            "2001-12-14t21:59:43.10-05:00",
            "=",
            "<<",
            "-",
            "--",
            "---",
            "...",
            "? x",
            "- x",
            ": x",
            "x:",
            "x: y",
            "x #y",
            "#x",
            "!Ref",
            "&a",
            "*a",
            "|",
            ">",
            "'",
            "\"",
            "%x",
            "@x",
            "`x",
            "{a}",
            "[a]",
            "a,b",
            " ",
            " x",
            "x ",
            "",
            "\t",
            "a\nb",
            "\u{85}",
            "\u{2028}",
            "é",
            "${AWS::Region}-x",
            "/bin/sh",
            "-c",
            "--userspace",
        ])
        .prop_map(str::to_string),
        any::<String>(),
        "[ -~]{0,12}",
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        scalar_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((scalar_string(), inner.clone()), 0..4).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with('\u{0}'))
                        .collect::<Map<_, _>>(),
                )
            }),
            (
                prop::sample::select(vec!["!Ref", "!Sub", "!GetAtt", "!If", "!Join", "!Select"]),
                inner
            )
                // A YAML node has at most one tag (`!Base64 !Sub x` is not YAML either).
                .prop_filter("one tag per node", |(_, v)| yaml::as_tagged(v).is_none())
                .prop_map(|(tag, v)| json!({ format!("\u{0}{tag}"): v })),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn what_is_written_reads_back_the_same(value in tree()) {
        let doc = json!({ "Resources": value });
        let text = yaml::emit(&doc);
        let back = yaml::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &doc, "{}", text);
        prop_assert_eq!(yaml::emit(&back), text);
    }
}

#[test]
fn short_form_intrinsics_round_trip_as_written() {
    let text = "Resources:\n  T:\n    Image: !Ref Image\n    Name: !Sub ${AWS::StackName}-app\n    Arn: !GetAtt Role.Arn\n    Q: !If\n      - Prod\n      - a\n      - !Ref AWS::NoValue\n";
    assert_eq!(yaml::emit(&yaml::parse(text).expect("parses")), text);
}

#[test]
fn strings_yaml_1_1_would_misread_are_quoted() {
    for word in [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "2010-09-09",
        "0777",
        "1e3",
        "1:20",
        "null",
        "~",
    ] {
        let text = yaml::emit(&json!({ "V": word }));
        assert_eq!(text, format!("V: \"{word}\"\n"), "{word}");
    }
}
