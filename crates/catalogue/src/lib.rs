//! The config's schema (`schema.rs`: every key, its type, default and documentation), what is
//! generated from it (`reference.rs`, the Markdown reference; `nixos_options.rs`, the NixOS
//! options) and Mattermost's settings per supported version (`catalogue.rs`, from `data/` by
//! `build.rs`).
//! Its own crate so the compiler's largest tables and derives are compiled apart from the
//! rest of the core: a smaller peak of memory when a small host builds the compiler.

pub mod catalogue;
pub mod nixos_options;
pub mod reference;
pub mod schema;
