//! Links `orca` as a position-dependent executable: every pod's shim is this binary
//! re-executed, and a PIE's relocated pages (about 1 MB per process) would count against
//! the 2 MB per-pod memory budget.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
