//! `qconv-lens`: the engine in a terminal. Native only: the wasm build of the
//! crate is the page's library, and `cargo test --target wasm32-unknown-unknown`
//! builds this target too, so there it is an empty program.
#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
