//! Pond's engine: everything the `pond` CLI and the desktop app do, with no
//! GUI dependency.
//!
//! - [`config`]: the project file `pond.json` (model, schema, validation).
//! - [`plan`]: pure plans — rendered bash templates and API requests as
//!   values, built and inspected without I/O.
//!
//! Later layers (SSH, the DigitalOcean client, tasks) execute plans. The
//! lab (an offline DigitalOcean) is its own crate, `pond-lab`.

pub mod config;
pub mod delegation;
pub mod digitalocean;
pub mod logging;
pub mod plan;
pub mod platform;
pub mod project;
pub mod settings;
pub mod ssh;
pub mod tasks;

/// Pond's version, as shown by `pond --version` and the app.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
