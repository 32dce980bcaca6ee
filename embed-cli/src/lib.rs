//! Rewrites ECS task definitions to run under TaskGuard.
