//! Prints every error of a policy file, or its canonical JSON: `cargo run -p guard-policy
//! --example validate -- FILE`. (`dns-guard validate` is the user-facing command.)
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: validate POLICY_FILE");
        std::process::exit(2);
    };
    match guard_policy::Policy::load(std::path::Path::new(&path)) {
        Ok(policy) => print!("{}", policy.compile().to_json()),
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(1);
        }
    }
}
