//! The `pond` command-line tool: argument parsing and output only; every
//! action is a call into the `pond` engine library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
