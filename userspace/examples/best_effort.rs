//! Installs Ingo Molnar's pairs as a layer, best effort, and says what is
//! enforced: `cargo run -p strbox --example best_effort`.
//!
//! Without the strbox module the status is `Enforced::None` (nothing is
//! installed, and the program says so instead of pretending).

use strbox::{Compatibility, Enforced, Policy, Sandbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Policy::from_pairs(&[
        ("sys_read", "fd == 0"),
        ("sys_write", "fd == 1 || fd == 2"),
        ("sys_sigaltstack", "1"),
        ("sys_munmap", "1"),
        ("sys_exit_group", "1"),
    ])?;
    // Check it on the host first: errors point into the pairs' text.
    let _ = policy.compile(strbox::policy::arch(None)?)?;
    let status = Sandbox::from_policy(&policy)
        .no_new_privs(true)
        .compatibility(Compatibility::BestEffort)
        .apply()?;
    match &status.enforced {
        Enforced::Full => println!("sandboxed (strbox ABI {:?})", status.abi),
        Enforced::Partial(why) => println!("partly sandboxed: {why}"),
        Enforced::None(why) => println!("NOT sandboxed: {why}"),
    }
    Ok(())
}
