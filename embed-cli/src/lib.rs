//! guard-embed: rewrites Amazon ECS task definitions to run under TaskGuard, and back.
//!
//! `embed` adds the dns-guard sidecar and wraps every app container's entryPoint with
//! guard-exec (the volume paths, variable names and sidecar name come from guard-contract);
//! `remove` undoes exactly that; `check` reports which containers are protected. The input
//! may be register-task-definition input, describe-task-definition output, a bare
//! `containerDefinitions` array or a CloudFormation template (JSON or YAML); the output keeps
//! its form. No AWS calls, no network. docs/embed.md is the reference.

mod capabilities;
pub mod check;
pub mod container;
pub mod embed;
pub mod entrypoint;
mod environment;
pub mod error;
mod fill;
pub mod flags;
pub mod form;
mod keys;
mod links;
pub mod record;
pub mod remove;
pub mod resources;
pub mod serve;
pub mod sidecar;
pub mod yaml;

pub use check::{Report, Status, check};
pub use container::Selection;
pub use embed::{FailMode, Options, embed};
pub use entrypoint::ImageConfig;
pub use error::{EmbedError, ImageConfigError};
pub use remove::remove;
pub use sidecar::PolicySource;

/// A rewritten document and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The document, in the input's format and form (describe output becomes register input).
    pub text: String,
    /// One line each, for stderr.
    pub warnings: Vec<String>,
}
