//! The embed flags as values, checked the same way for the command line and the HTTP API
//! (`guard-embed serve` takes them as query parameters), so both give the same messages.

use crate::{FailMode, ImageConfig, Options, PolicySource, Selection};

/// `guard-embed embed`'s flags, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub sidecar_image: String,
    pub policy_url: Option<String>,
    pub policy_file: Option<String>,
    pub sidecar_name: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `NAME=FILE` specs.
    pub image_config: Vec<String>,
    pub ptrace: bool,
    pub fail: Option<FailMode>,
    pub no_resolver: bool,
    pub no_supervise: bool,
}

/// A flag that cannot be used: which one, and the message (starting with the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FlagError {
    /// The flag as typed on the command line, e.g. `--policy-url`.
    pub flag: &'static str,
    pub message: String,
}

fn err(flag: &'static str, message: String) -> FlagError {
    FlagError { flag, message }
}

impl Flags {
    /// The selection of `--include` and `--exclude`.
    pub fn selection(&self) -> Selection {
        Selection {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
        }
    }

    /// Checked options. `read` reads an `--image-config` FILE (the API refuses to).
    pub fn options(
        &self,
        read: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Options, FlagError> {
        let mut options = Options::new(self.sidecar_image.clone());
        if self.sidecar_image.trim().is_empty() {
            return Err(err(
                "--sidecar-image",
                "--sidecar-image: expected an image reference".into(),
            ));
        }
        let name = &self.sidecar_name;
        let valid = !name.is_empty()
            && name.len() <= 255
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(err(
                "--sidecar-name",
                format!(
                    "--sidecar-name {name}: expected 1 to 255 letters, digits, hyphens or underscores (an ECS container name)"
                ),
            ));
        }
        options.sidecar_name = name.clone();
        if self.policy_url.is_some() && self.policy_file.is_some() {
            return Err(err(
                "--policy-url",
                "--policy-url cannot be used with --policy-file".into(),
            ));
        }
        if let Some(url) = &self.policy_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(err(
                    "--policy-url",
                    format!("--policy-url {url}: expected an http:// or https:// URL"),
                ));
            }
            options.policy = PolicySource::Url(url.clone());
        } else if let Some(path) = &self.policy_file {
            if !path.starts_with('/') {
                return Err(err(
                    "--policy-file",
                    format!(
                        "--policy-file {path}: expected an absolute path inside the sidecar image"
                    ),
                ));
            }
            options.policy = PolicySource::File(path.clone());
        }
        options.selection = self.selection();
        for spec in &self.image_config {
            let Some((name, file)) = spec.split_once('=') else {
                return Err(err(
                    "--image-config",
                    format!("--image-config {spec}: expected NAME=FILE"),
                ));
            };
            let text = read(file).map_err(|e| {
                err(
                    "--image-config",
                    format!("--image-config {spec}: cannot read {file}: {e}"),
                )
            })?;
            let config = ImageConfig::parse(&text)
                .map_err(|e| err("--image-config", format!("{file}: {e}")))?;
            options.image_configs.push((name.to_string(), config));
        }
        options.ptrace = self.ptrace;
        options.resolver = !self.no_resolver;
        options.supervise = !self.no_supervise;
        options.fail = self.fail;
        Ok(options)
    }
}
