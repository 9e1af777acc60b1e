//! Unit and property tests of the filter engine (host only).

use std::boxed::Box;
use std::string::String;

use crate::uapi::tables::Arch;
use crate::{compile, Error, ErrorCode, Program, Scratch, Verdict, REJECT};

mod actions;
mod arch;
mod events;
mod ftrace;
mod property;
mod real_tables;
mod reference;
mod unit;
mod view;
mod worked_example;

pub(crate) use arch::TEST_ARCH;

/// Compiles `src` for `arch` into a fresh boxed program.
pub(crate) fn compile_for(arch: &'static Arch, src: &str) -> Result<Box<Program>, Error> {
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    compile(src.as_bytes(), arch, &mut scratch, &mut prog)?;
    Ok(prog)
}

/// Compiles for the test arch, panicking with the error on failure.
pub(crate) fn ok(src: &str) -> Box<Program> {
    match compile_for(&TEST_ARCH, src) {
        Ok(p) => p,
        Err(e) => panic!("{src:?}: {e} ({:?})", e.code),
    }
}

/// The error code of a policy that must be rejected.
pub(crate) fn err(src: &str) -> Error {
    match compile_for(&TEST_ARCH, src) {
        Ok(_) => panic!("{src:?} should be rejected"),
        Err(e) => e,
    }
}

pub(crate) fn code(src: &str) -> ErrorCode {
    err(src).code
}

/// Canonical text.
pub(crate) fn print_for(arch: &'static Arch, p: &Program) -> String {
    let mut s = String::new();
    p.print(arch, &mut s).expect("print");
    s
}

pub(crate) fn print(p: &Program) -> String {
    print_for(&TEST_ARCH, p)
}

/// Evaluates syscall `name` of the test arch.
pub(crate) fn eval(p: &Program, name: &str, args: &[u64]) -> Verdict {
    let nr = TEST_ARCH.syscall(name).expect("test syscall").nr;
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    p.evaluate(nr, &a)
}

/// `allowed(rule, syscall, args)`: whether one rule allows the call.
pub(crate) fn allows(src: &str, name: &str, args: &[u64]) -> bool {
    eval(&ok(src), name, args) == Verdict::Allow
}
