//! What a container's init process does last: libcontainer's default executor (PATH
//! lookup, execve), after resetting the signal dispositions inherited from the shim.

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

/// libcontainer's default executor with clean signal dispositions.
#[derive(Clone, Debug, Default)]
pub(super) struct CleanSignalsExecutor;

impl Executor for CleanSignalsExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        crate::sys::reset_signals();
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
