//! The guard-embed command line; the work is in the library.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use guard_contract::SIDECAR_NAME;
use guard_embed::{FailMode, ImageConfig, Options, PolicySource, Selection};

/// Embeds the TaskGuard sidecar into ECS task definitions, checks them, takes it out again.
#[derive(Parser)]
#[command(name = "guard-embed", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add the sidecar and wrap every app container.
    Embed(EmbedArgs),
    /// List each container and whether it is protected; exit 1 if an app container is not.
    Check(CheckArgs),
    /// Take the guard out again.
    Remove(RemoveArgs),
}

#[derive(Args)]
struct EmbedArgs {
    /// Task definition file, `-` or nothing for stdin.
    input: Option<PathBuf>,
    /// Where to write the result (default stdout); written only on success.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The sidecar image (with dns-guard, guard-exec and the preload library in /guard).
    #[arg(long, value_name = "IMAGE")]
    sidecar_image: String,
    /// Policy served over http(s), polled by dns-guard.
    #[arg(long, value_name = "URL", conflicts_with = "policy_file")]
    policy_url: Option<String>,
    /// Policy file inside the sidecar image [default: /guard/policy.toml].
    #[arg(long, value_name = "PATH")]
    policy_file: Option<String>,
    /// Container name of the sidecar.
    #[arg(long, value_name = "NAME", default_value = SIDECAR_NAME)]
    sidecar_name: String,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Image configuration of a container without entryPoint: `docker inspect IMAGE` output
    /// or an OCI image config. Repeatable.
    #[arg(long, value_name = "NAME=FILE")]
    image_config: Vec<String>,
    /// Add SYS_PTRACE to the app containers.
    #[arg(long)]
    ptrace: bool,
    /// Set GUARD_FAIL: what the app containers do without a valid policy.
    #[arg(long, value_enum, value_name = "MODE")]
    fail: Option<Fail>,
    /// Leave GUARD_RESOLVER out: guard-exec then keeps the containers' /etc/resolv.conf, and
    /// resolvers that bypass libc (dig, Go, c-ares) do not ask the sidecar.
    #[arg(long)]
    no_resolver: bool,
    /// Set GUARD_SUPERVISE=off: guard-exec then replaces itself with the app instead of
    /// supervising its launches with seccomp (static programs and raw system calls are then
    /// not guarded).
    #[arg(long)]
    no_supervise: bool,
}

#[derive(Args)]
struct SelectionArgs {
    /// Protect only these containers (comma-separated; repeatable).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    include: Vec<String>,
    /// Never protect these containers (comma-separated; repeatable).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    exclude: Vec<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// Task definition file, `-` or nothing for stdin.
    input: Option<PathBuf>,
    #[command(flatten)]
    selection: SelectionArgs,
}

#[derive(Args)]
struct RemoveArgs {
    /// Task definition file, `-` or nothing for stdin.
    input: Option<PathBuf>,
    /// Where to write the result (default stdout); written only on success.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Fail {
    Open,
    Closed,
}

/// Exit status for an input or usage error (clap uses 2 for usage errors too).
const EXIT_ERROR: u8 = 2;
/// Exit status of `check` when an app container is not protected.
const EXIT_UNPROTECTED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("guard-embed: error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Embed(args) => {
            let options = options(&args)?;
            let (name, text) = read_input(args.input.as_deref())?;
            let output = guard_embed::embed(&text, &options).map_err(|e| format!("{name}: {e}"))?;
            finish(&name, output, args.output.as_deref())
        }
        Command::Remove(args) => {
            let (name, text) = read_input(args.input.as_deref())?;
            let output = guard_embed::remove(&text).map_err(|e| format!("{name}: {e}"))?;
            finish(&name, output, args.output.as_deref())
        }
        Command::Check(args) => {
            let (name, text) = read_input(args.input.as_deref())?;
            let report = guard_embed::check(&text, &selection(&args.selection))
                .map_err(|e| format!("{name}: {e}"))?;
            print!("{}", report.render());
            Ok(if report.all_protected() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_UNPROTECTED)
            })
        }
    }
}

fn selection(args: &SelectionArgs) -> Selection {
    Selection {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    }
}

fn options(args: &EmbedArgs) -> Result<Options, String> {
    let mut options = Options::new(args.sidecar_image.clone());
    if args.sidecar_image.trim().is_empty() {
        return Err("--sidecar-image: expected an image reference".into());
    }
    let name = &args.sidecar_name;
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(format!(
            "--sidecar-name {name}: expected 1 to 255 letters, digits, hyphens or underscores (an ECS container name)"
        ));
    }
    options.sidecar_name = name.clone();
    if let Some(url) = &args.policy_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "--policy-url {url}: expected an http:// or https:// URL"
            ));
        }
        options.policy = PolicySource::Url(url.clone());
    } else if let Some(path) = &args.policy_file {
        if !path.starts_with('/') {
            return Err(format!(
                "--policy-file {path}: expected an absolute path inside the sidecar image"
            ));
        }
        options.policy = PolicySource::File(path.clone());
    }
    options.selection = selection(&args.selection);
    for spec in &args.image_config {
        let Some((name, file)) = spec.split_once('=') else {
            return Err(format!("--image-config {spec}: expected NAME=FILE"));
        };
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("--image-config {spec}: cannot read {file}: {e}"))?;
        let config = ImageConfig::parse(&text).map_err(|e| format!("{file}: {e}"))?;
        options.image_configs.push((name.to_string(), config));
    }
    options.ptrace = args.ptrace;
    options.resolver = !args.no_resolver;
    options.supervise = !args.no_supervise;
    options.fail = args.fail.map(|f| match f {
        Fail::Open => FailMode::Open,
        Fail::Closed => FailMode::Closed,
    });
    Ok(options)
}

fn read_input(input: Option<&Path>) -> Result<(String, String), String> {
    match input {
        None => read_stdin(),
        Some(path) if path == Path::new("-") => read_stdin(),
        Some(path) => {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
            Ok((name, text))
        }
    }
}

fn read_stdin() -> Result<(String, String), String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("<stdin>: cannot read: {e}"))?;
    Ok(("<stdin>".to_string(), text))
}

fn finish(name: &str, output: guard_embed::Output, to: Option<&Path>) -> Result<ExitCode, String> {
    for warning in &output.warnings {
        eprintln!("guard-embed: warning: {name}: {warning}");
    }
    match to {
        None => std::io::stdout()
            .write_all(output.text.as_bytes())
            .map_err(|e| format!("<stdout>: cannot write: {e}"))?,
        Some(path) => write_atomically(path, output.text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes next to the target and renames, so OUTPUT is either the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let file_name = path
        .file_name()
        .ok_or_else(|| format!("{shown}: expected a file path"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".guard-embed-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("{shown}: cannot write: {e}")
    })
}
