//! The delivery pool of [`crate::CompletionMode::Concurrent`]: a few threads that run
//! completions and timer callbacks concurrently, each picking a random one of those waiting — so
//! completions of one socket arrive reordered and at once on several threads, as IRP completion
//! routines and DPCs do on a multiprocessor.
//!
//! # Invariants
//! - Every job pushed runs exactly once: by a pool thread, or — once the pool is stopping — by
//!   the thread that pushes it or stops the pool. A pool thread exits only when the queue is
//!   empty and the pool is stopping.
//!
//! # Lock order
//! The queue's mutex is a leaf: no job runs while it is held.

use crate::fault::SplitMix64;
use parking_lot::{Condvar, Mutex};
use std::thread::JoinHandle;

/// A completion or timer callback to run.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: Vec<Job>,
    rng: SplitMix64,
    stopping: bool,
}

/// The pool.
pub(crate) struct Pool {
    queue: Mutex<Queue>,
    cv: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    /// A pool of `threads` delivery threads (at least one).
    pub fn start(threads: usize, seed: u64) -> std::sync::Arc<Pool> {
        let pool = std::sync::Arc::new(Pool {
            queue: Mutex::new(Queue {
                jobs: Vec::new(),
                rng: SplitMix64::new(seed),
                stopping: false,
            }),
            cv: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        for i in 0..threads.max(1) {
            let p = std::sync::Arc::clone(&pool);
            let spawned = std::thread::Builder::new()
                .name(format!("wsksock-emu-deliver-{i}"))
                .spawn(move || p.run());
            match spawned {
                Ok(t) => pool.threads.lock().push(t),
                // Fewer threads, or none: jobs then run where they are pushed.
                Err(e) => eprintln!("wsksock-emu: cannot start a delivery thread: {e}"),
            }
        }
        if pool.threads.lock().is_empty() {
            pool.queue.lock().stopping = true;
        }
        pool
    }

    /// Hands `job` to the pool (runs it here if the pool is stopping).
    pub fn push(&self, job: Job) {
        {
            let mut q = self.queue.lock();
            if !q.stopping {
                q.jobs.push(job);
                drop(q);
                self.cv.notify_one();
                return;
            }
        }
        job();
    }

    fn run(&self) {
        loop {
            let job = {
                let mut q = self.queue.lock();
                loop {
                    if !q.jobs.is_empty() {
                        let n = q.jobs.len() as u64;
                        let i = usize::try_from(q.rng.up_to(n - 1)).unwrap_or(0);
                        break q.jobs.swap_remove(i);
                    }
                    if q.stopping {
                        return;
                    }
                    self.cv.wait(&mut q);
                }
            };
            job();
        }
    }

    /// Stops the pool: the threads run what is queued and exit; joined unless called from one of
    /// them. Jobs pushed from now on run where they are pushed.
    pub fn stop(&self) {
        self.queue.lock().stopping = true;
        self.cv.notify_all();
        let me = std::thread::current().id();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // Left by a thread that stopped the pool from inside a job.
        let left = std::mem::take(&mut self.queue.lock().jobs);
        for job in left {
            job();
        }
    }
}
