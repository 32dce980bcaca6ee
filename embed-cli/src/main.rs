//! The guard-embed command line; the work is in the library.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use guard_contract::SIDECAR_NAME;
use guard_embed::flags::Flags;
use guard_embed::{FailMode, Options, Selection};

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
    /// Serve the embed, remove and check API over HTTP, and a page for people (docs/embed.md).
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8084")]
    listen: std::net::SocketAddr,
    /// Default sidecar image (a request's `sidecar-image` parameter wins).
    #[arg(long, value_name = "IMAGE", default_value = "")]
    sidecar_image: String,
    /// Default policy URL.
    #[arg(long, value_name = "URL", conflicts_with = "policy_file")]
    policy_url: Option<String>,
    /// Default policy file inside the sidecar image.
    #[arg(long, value_name = "PATH")]
    policy_file: Option<String>,
    /// Default container name of the sidecar.
    #[arg(long, value_name = "NAME", default_value = SIDECAR_NAME)]
    sidecar_name: String,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Add SYS_PTRACE by default.
    #[arg(long)]
    ptrace: bool,
    /// Default GUARD_FAIL.
    #[arg(long, value_enum, value_name = "MODE")]
    fail: Option<Fail>,
    /// Leave GUARD_RESOLVER out by default.
    #[arg(long)]
    no_resolver: bool,
    /// Set GUARD_SUPERVISE=off by default.
    #[arg(long)]
    no_supervise: bool,
    /// Require `Authorization: Bearer TOKEN` on the API, TOKEN being this file's first line.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_body: usize,
    /// Seconds a request may take to arrive (its head, then its body).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    request_timeout: u64,
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
    /// Also check this policy file: warn when its [net] section would refuse the ECS
    /// endpoints a task needs (169.254.170.2:80, credentials and task metadata).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
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
        Command::Serve(args) => serve(args),
        Command::Check(args) => {
            let (name, text) = read_input(args.input.as_deref())?;
            let report = guard_embed::check(&text, &selection(&args.selection))
                .map_err(|e| format!("{name}: {e}"))?;
            print!("{}", report.render());
            if let Some(path) = &args.policy {
                let policy = guard_policy::Policy::load(path).map_err(|e| e.to_string())?;
                for w in guard_embed::check::net_warnings(&policy, &path.display().to_string()) {
                    eprintln!("guard-embed: warning: {w}");
                }
            }
            Ok(if report.all_protected() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_UNPROTECTED)
            })
        }
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let token = match &args.token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: cannot read: {e}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_string();
            if token.is_empty() {
                return Err(format!(
                    "--token-file {}: expected the token on the first line",
                    path.display()
                ));
            }
            Some(token)
        }
    };
    let defaults = Flags {
        sidecar_image: args.sidecar_image,
        policy_url: args.policy_url,
        policy_file: args.policy_file,
        sidecar_name: args.sidecar_name,
        include: args.selection.include,
        exclude: args.selection.exclude,
        image_config: vec![],
        ptrace: args.ptrace,
        fail: args.fail.map(|f| match f {
            Fail::Open => FailMode::Open,
            Fail::Closed => FailMode::Closed,
        }),
        no_resolver: args.no_resolver,
        no_supervise: args.no_supervise,
    };
    let timeout = std::time::Duration::from_secs(args.request_timeout.max(1));
    guard_embed::serve::run(guard_embed::serve::Config {
        listen: args.listen,
        defaults,
        token,
        max_body: args.max_body.max(1),
        header_timeout: timeout,
        request_timeout: timeout,
    })
    .map_err(|e| format!("serve {}: {e}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}

fn selection(args: &SelectionArgs) -> Selection {
    Selection {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    }
}

fn options(args: &EmbedArgs) -> Result<Options, String> {
    let flags = Flags {
        sidecar_image: args.sidecar_image.clone(),
        policy_url: args.policy_url.clone(),
        policy_file: args.policy_file.clone(),
        sidecar_name: args.sidecar_name.clone(),
        include: args.selection.include.clone(),
        exclude: args.selection.exclude.clone(),
        image_config: args.image_config.clone(),
        ptrace: args.ptrace,
        fail: args.fail.map(|f| match f {
            Fail::Open => FailMode::Open,
            Fail::Closed => FailMode::Closed,
        }),
        no_resolver: args.no_resolver,
        no_supervise: args.no_supervise,
    };
    flags
        .options(|file| std::fs::read_to_string(file).map_err(|e| e.to_string()))
        .map_err(|e| e.message)
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
