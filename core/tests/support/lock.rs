//! Raw locks for the scripted provider: parking_lot's normally, a loom-visible spin lock under
//! loom (loom's atomics cannot be const-initialised, so `INIT` is never used there).

#[cfg(not(loom))]
pub type TestRawLock = parking_lot::RawMutex;

#[cfg(not(loom))]
pub fn new_lock() -> TestRawLock {
    <parking_lot::RawMutex as lock_api::RawMutex>::INIT
}

#[cfg(loom)]
pub use loom_lock::{new_lock, TestRawLock};

#[cfg(loom)]
mod loom_lock {
    use loom::sync::atomic::{AtomicBool, Ordering};

    pub struct TestRawLock(AtomicBool);

    pub fn new_lock() -> TestRawLock {
        TestRawLock(AtomicBool::new(false))
    }

    // SAFETY:
    // 1. `lock` returns only after swapping the flag from false to true with Acquire, so there is
    //    at most one holder;
    // 2. `unlock` stores false with Release, publishing the holder's writes to the next holder.
    unsafe impl lock_api::RawMutex for TestRawLock {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: TestRawLock = panic!("loom locks are made with new_lock()");
        type GuardMarker = lock_api::GuardSend;

        fn lock(&self) {
            while !self.try_lock() {
                loom::thread::yield_now();
            }
        }

        fn try_lock(&self) -> bool {
            self.0
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }

        unsafe fn unlock(&self) {
            self.0.store(false, Ordering::Release);
        }
    }
}
