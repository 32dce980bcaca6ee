//! guard-embed never panics on input (the workspace builds with panic=abort, so a panic would
//! kill a deploy pipeline with no message): arbitrary JSON and YAML documents, and task
//! definitions whose fields have arbitrary types, give a result or an error, for all three
//! commands. And JSON and YAML are two spellings of the same rewrite.

mod embed_support;

use guard_embed::{ImageConfig, Options, Selection};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "taskguard",
            "/guard/bin/guard-exec",
            "--",
            "/guard/bin/dns-guard",
            "LD_PRELOAD",
            "GUARD_POLICY",
            "FARGATE",
            "awsvpc",
            "awslogs",
            "awsfirelens",
            "WINDOWS_SERVER_2019_CORE",
            "1 vcpu",
            "2 gb",
            "taskguard.original",
            "entryPoint=absent",
            "HEALTHY",
            "x",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "name",
                        "image",
                        "entryPoint",
                        "command",
                        "environment",
                        "value",
                        "volumesFrom",
                        "sourceContainer",
                        "dependsOn",
                        "containerName",
                        "dockerLabels",
                        "taskguard.original",
                        "linuxParameters",
                        "capabilities",
                        "add",
                        "firelensConfiguration",
                        "logConfiguration",
                        "logDriver",
                        "options",
                        "runtimePlatform",
                        "operatingSystemFamily",
                        "memory",
                        "cpu",
                        "mountPoints",
                        "containerPath",
                        "Name",
                        "EntryPoint",
                        "Type",
                        "Properties",
                        "ContainerDefinitions",
                        "Ref",
                    ]),
                    inner,
                ),
                0..6,
            )
            .prop_map(|entries| Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

/// A document in one of the four forms, with arbitrary content where the fields go.
fn document() -> impl Strategy<Value = Value> {
    (prop::collection::vec(any_json(), 0..4), any_json(), 0u8..4).prop_map(|(containers, extra, form)| {
        let containers = Value::Array(containers);
        match form {
            0 => json!({ "family": "f", "containerDefinitions": containers, "extra": extra }),
            1 => json!({ "taskDefinition": { "containerDefinitions": containers, "runtimePlatform": extra }, "tags": [] }),
            2 => containers,
            _ => json!({ "Resources": { "T": { "Type": "AWS::ECS::TaskDefinition", "Properties": { "ContainerDefinitions": containers, "Memory": extra } } } }),
        }
    })
}

fn options() -> Options {
    let mut options = Options::new("img:1");
    options.ptrace = true;
    options.image_configs.push((
        "x".into(),
        ImageConfig {
            entrypoint: vec!["/e".into()],
            cmd: vec!["c".into()],
        },
    ));
    options
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_it_panic(doc in document(), yaml in any::<bool>()) {
        let text = if yaml { guard_embed::yaml::emit(&doc) } else { doc.to_string() };
        if let Ok(out) = guard_embed::embed(&text, &options()) {
            let _ = guard_embed::embed(&out.text, &options());
            let _ = guard_embed::remove(&out.text);
            let _ = guard_embed::check(&out.text, &Selection::default());
        }
        let _ = guard_embed::remove(&text);
        let _ = guard_embed::check(&text, &Selection::default());
    }

    #[test]
    fn arbitrary_text_is_an_error_not_a_crash(text in any::<String>()) {
        let _ = guard_embed::embed(&text, &options());
        let _ = guard_embed::remove(&text);
        let _ = guard_embed::check(&text, &Selection::default());
    }
}

#[test]
fn a_yaml_template_embeds_exactly_like_the_same_template_in_json() {
    let Some(files) = embed_support::corpus_files("a_yaml_template_embeds_like_json") else {
        return;
    };
    let cfn = files
        .iter()
        .find(|f| f.ends_with("cfn-kilt-ref-image.json"))
        .expect("CloudFormation sample");
    let json_text = std::fs::read_to_string(cfn).expect("read");
    let tree: Value = serde_json::from_str(&json_text).expect("JSON");
    let yaml_text = guard_embed::yaml::emit(&tree);
    assert!(
        yaml_text.contains("Image:\n") && yaml_text.contains("Ref: Parameter\n"),
        "{yaml_text}"
    );
    let mut options = Options::new("img:1");
    options.image_configs.push((
        "app".into(),
        ImageConfig {
            entrypoint: vec![],
            cmd: vec!["/bin/sh".into()],
        },
    ));
    let from_json = guard_embed::embed(&json_text, &options)
        .expect("embeds JSON")
        .text;
    let from_yaml = guard_embed::embed(&yaml_text, &options)
        .expect("embeds YAML")
        .text;
    assert!(
        from_yaml.starts_with("Resources:\n"),
        "YAML stays YAML:\n{from_yaml}"
    );
    assert_eq!(
        embed_support::tree(&from_yaml),
        embed_support::tree(&from_json)
    );
}
