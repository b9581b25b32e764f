//! How a value is written into each syntax the compiler renders, one module per target:
//! systemd units and sysusers.d/tmpfiles.d lines, nginx, PostgreSQL DSNs and environment
//! files, plus the names and paths they share. Each module holds the check of what cannot
//! be written there (validation calls it, so such a config is refused with the key named)
//! and the escaping of everything else (the renderers call it). The tests generate values
//! and read the rendered files back with each target's own parser.

pub mod dsn;
pub mod env_file;
pub mod names;
pub mod nginx;
pub mod paths;
pub mod systemd;
