//! A queue's presentation bookkeeping (`FxIoQueue`'s dispatch rule for parallel and sequential
//! queues): a request goes to the driver if fewer than the queue's limit are with the driver and
//! none is waiting before it; otherwise it waits, in order. A limit of 0 presents nothing, ever —
//! which is what the framework does with a parallel queue whose `NumberOfPresentedRequests` was
//! left at 0 instead of `WDF_IO_QUEUE_CONFIG_INIT`'s `(ULONG)-1`.

use alloc::collections::VecDeque;

/// Where an arriving request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// To the driver now.
    Present,
    /// It waits in the queue.
    Held,
}

/// The queue's requests: how many the driver has, and the ones waiting.
#[derive(Debug)]
pub struct Presenter<T> {
    limit: u32,
    presented: u32,
    held: VecDeque<T>,
}

impl<T: PartialEq + Copy> Presenter<T> {
    /// A queue presenting at most `limit` requests at once.
    pub fn new(limit: u32) -> Self {
        Presenter {
            limit,
            presented: 0,
            held: VecDeque::new(),
        }
    }

    /// A request arrives. `Err(request)` if it could not be queued (no memory): the caller fails it.
    pub fn arrive(&mut self, request: T) -> Result<Arrival, T> {
        if self.held.is_empty() && self.presented < self.limit {
            self.presented += 1;
            return Ok(Arrival::Present);
        }
        if self.held.try_reserve(1).is_err() {
            return Err(request);
        }
        self.held.push_back(request);
        Ok(Arrival::Held)
    }

    /// A presented request completed: the next request to present, if one waits and the limit
    /// allows it.
    pub fn completed(&mut self) -> Option<T> {
        self.presented = self.presented.saturating_sub(1);
        if self.presented < self.limit {
            let next = self.held.pop_front()?;
            self.presented += 1;
            return Some(next);
        }
        None
    }

    /// A waiting request was cancelled: `true` if it was still waiting (then it is the caller's
    /// to complete).
    pub fn withdraw(&mut self, request: T) -> bool {
        match self.held.iter().position(|r| *r == request) {
            Some(i) => self.held.remove(i).is_some(),
            None => false,
        }
    }

    /// Requests with the driver.
    pub fn presented(&self) -> u32 {
        self.presented
    }

    /// Requests waiting.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_presents_everything() {
        let mut p = Presenter::new(u32::MAX);
        for i in 0..1000 {
            assert_eq!(p.arrive(i), Ok(Arrival::Present));
        }
        assert_eq!(p.presented(), 1000);
        assert_eq!(p.completed(), None);
    }

    #[test]
    fn a_limit_holds_the_rest_in_order() {
        let mut p = Presenter::new(2);
        assert_eq!(p.arrive(1), Ok(Arrival::Present));
        assert_eq!(p.arrive(2), Ok(Arrival::Present));
        assert_eq!(p.arrive(3), Ok(Arrival::Held));
        assert_eq!(p.arrive(4), Ok(Arrival::Held));
        assert!(p.withdraw(3));
        assert!(!p.withdraw(3));
        assert_eq!(p.completed(), Some(4));
        assert_eq!(p.completed(), None);
        assert_eq!((p.presented(), p.held()), (1, 0));
    }

    /// Defect 3 of issue 10: a zeroed WDF_IO_QUEUE_CONFIG leaves the limit at 0.
    #[test]
    fn a_zero_limit_never_presents() {
        let mut p = Presenter::new(0);
        for i in 0..10 {
            assert_eq!(p.arrive(i), Ok(Arrival::Held));
        }
        assert_eq!(p.completed(), None);
        assert_eq!((p.presented(), p.held()), (0, 10));
    }
}
