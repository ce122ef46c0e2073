//! The sanitizer's canary (`make sanitize`): with `RSUV_SANITIZE_CANARY=leak` this test leaks
//! a timer handle on purpose, and LeakSanitizer must report it, or the target fails. Without
//! the variable it leaks nothing, and passes everywhere (valgrind included).

use rsuv::{Loop, Timer};

#[test]
fn a_forgotten_handle_is_a_leak_only_when_asked() {
    let lp = Loop::new().unwrap();
    let timer = Timer::new(&lp).unwrap();
    if std::env::var_os("RSUV_SANITIZE_CANARY").is_some_and(|v| v == "leak") {
        // Neither closed nor freed: libuv's handle memory and its state are lost.
        std::mem::forget(timer);
        std::mem::forget(lp);
        return;
    }
    drop(timer);
    lp.run(rsuv::RunMode::Default).unwrap();
    lp.close().unwrap();
}
