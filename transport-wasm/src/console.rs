//! [`ConsoleHooks`]: the browser client's observer, which reports failing hooks on the
//! console.

use tether_core::client::{HookFailure, Hooks};

use crate::global::console_warn;

/// Reports every failing hook with `console.warn` (a hook never fails a request, so this is
/// where a broken one shows). Observes nothing else: with no hooks added, the client builds
/// no hook events at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleHooks {
    _private: (),
}

impl Hooks for ConsoleHooks {
    fn observes(&self) -> bool {
        false
    }

    fn on_hook_failure(&self, failure: &HookFailure) {
        console_warn(&format!("tether: {failure}"));
    }
}
