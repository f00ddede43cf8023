//! The host backend: the real engine in-process over the WSK emulator (or any provider whose
//! buffers are [`EmuBuffer`]s, such as the fault injector around it).
//!
//! A request here is what an IRP is to the driver: code, input buffer, output buffer, requestor
//! mode. Direct-I/O output buffers become [`EmuBuffer`] windows (no copy); the completion writes
//! the reply at the start of the output buffer, as the driver's front ends do. A channel opened
//! with restricted access ([`HostDevice::open_with_access`]) refuses, as the I/O manager does,
//! the codes whose access bits its "handle" lacks, before the engine sees them.

use crate::channel::{Canceller, Channel, Completed, Output, Pending, Slot};
use std::sync::Arc;
use std::time::Duration;
use wsksock_abi::ioctl::access_of;
use wsksock_abi::NtStatus;
use wsksock_core::{
    CancelArm, CancelToken, ClientRef, Config, DataSource, Engine, Provider, Request, RequestorMode,
};
use wsksock_emu::{EmuBuffer, HostProvider, Profile};

/// One request in host mode.
pub struct HostRequest {
    code: u32,
    input: Vec<u8>,
    output: Option<Output>,
    output_len: usize,
    mode: RequestorMode,
    process: u64,
    slot: Slot,
}

struct TokenCanceller(CancelToken);

impl Canceller for TokenCanceller {
    fn cancel(&self) {
        self.0.cancel();
    }
}

impl<P: Provider<Buffer = EmuBuffer>> Request<P> for HostRequest {
    fn code(&self) -> u32 {
        self.code
    }

    fn requestor(&self) -> RequestorMode {
        self.mode
    }

    fn process(&self) -> u64 {
        self.process
    }

    fn input(&self) -> &[u8] {
        &self.input
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn take_buffer(&mut self, source: DataSource, _write: bool) -> Result<EmuBuffer, NtStatus> {
        match source {
            DataSource::Direct { offset } => match self.output.take() {
                Some(Output::Data(v)) => {
                    let len = v.len();
                    EmuBuffer::window(v, offset..len).ok_or(NtStatus::STATUS_BUFFER_TOO_SMALL)
                }
                other => {
                    self.output = other;
                    Err(NtStatus::STATUS_INVALID_BUFFER_SIZE)
                }
            },
            // No kernel addresses in a user-mode process.
            DataSource::Kernel { .. } => Err(NtStatus::STATUS_INVALID_PARAMETER),
        }
    }

    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        self.slot.set_canceller(Box::new(TokenCanceller(token)));
        CancelArm::Armed
    }

    fn complete(self, status: NtStatus, reply: &[u8], information: usize, buffer: Option<EmuBuffer>) {
        let mut output = match (buffer, self.output) {
            (Some(b), _) => b.into_vec(),
            (None, Some(Output::Data(v))) => v,
            (None, _) => Vec::new(),
        };
        if output.len() < reply.len() {
            output.resize(reply.len(), 0);
        }
        output[..reply.len()].copy_from_slice(reply);
        self.slot.complete(Completed {
            status,
            info: information,
            output,
        });
    }
}

/// The engine over a provider, as a device that hands out channels.
pub struct HostDevice<P: Provider<Buffer = EmuBuffer> = HostProvider> {
    engine: Engine<P, HostRequest>,
}

impl HostDevice<HostProvider> {
    /// The engine over a fresh emulator with `profile`.
    pub fn new(profile: Profile) -> std::io::Result<Self> {
        HostDevice::with_provider(HostProvider::with_profile(profile)?, Config::default())
    }
}

impl<P: Provider<Buffer = EmuBuffer>> HostDevice<P> {
    /// The engine over `provider` (`OutOfMemory` if there is no memory for it).
    pub fn with_provider(provider: P, config: Config) -> std::io::Result<Self> {
        let engine = Engine::new(provider, config)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        Ok(HostDevice { engine })
    }

    /// The engine (statistics, tests).
    pub fn engine(&self) -> &Engine<P, HostRequest> {
        &self.engine
    }

    /// Opens a channel (IRP_MJ_CREATE) whose requests come from this process, in user mode,
    /// with read and write access.
    pub fn open(&self) -> Result<HostChannel<P>, NtStatus> {
        self.open_as_process(u64::from(std::process::id()))
    }

    /// Opens a user-mode channel whose requests name `process` as their sender (as the driver
    /// names the requesting process: sockets it creates are attributed to it).
    pub fn open_as_process(&self, process: u64) -> Result<HostChannel<P>, NtStatus> {
        self.open_with(process, FILE_READ_DATA | FILE_WRITE_DATA)
    }

    /// Opens a channel whose "handle" was granted only `granted` of `FILE_READ_DATA` (1) and
    /// `FILE_WRITE_DATA` (2): the I/O manager's access check on the control codes' access bits.
    pub fn open_with_access(&self, granted: u32) -> Result<HostChannel<P>, NtStatus> {
        self.open_with(u64::from(std::process::id()), granted)
    }

    fn open_with(&self, process: u64, granted: u32) -> Result<HostChannel<P>, NtStatus> {
        Ok(HostChannel {
            engine: self.engine.clone(),
            client: self.engine.open_client()?,
            kernel: false,
            granted,
            process,
        })
    }

    /// Opens a channel whose requests come from "kernel mode" (like IRP_MJ_INTERNAL_DEVICE_CONTROL).
    pub fn open_kernel(&self) -> Result<HostChannel<P>, NtStatus> {
        let mut c = self.open()?;
        c.kernel = true;
        Ok(c)
    }

    /// Unloads the engine and waits up to `timeout` for it to report idle; `true` if it did.
    pub fn unload(&self, timeout: Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        self.engine.unload(Box::new(move || {
            let _ = tx.send(());
        }));
        rx.recv_timeout(timeout).is_ok()
    }
}

/// `FILE_READ_DATA`, as an access bit of a control code (`FILE_READ_ACCESS`).
pub const FILE_READ_DATA: u32 = 1;
/// `FILE_WRITE_DATA`, as an access bit of a control code (`FILE_WRITE_ACCESS`).
pub const FILE_WRITE_DATA: u32 = 2;

/// One open file object in host mode. Dropping it runs IRP_MJ_CLEANUP.
pub struct HostChannel<P: Provider<Buffer = EmuBuffer> = HostProvider> {
    engine: Engine<P, HostRequest>,
    client: ClientRef<P, HostRequest>,
    kernel: bool,
    /// The data access the "handle" was granted (user mode only: the I/O manager does not check
    /// an IRP a kernel caller builds).
    granted: u32,
    process: u64,
}

impl<P: Provider<Buffer = EmuBuffer>> HostChannel<P> {
    /// The client id (DUPLICATE's target).
    pub fn client_id(&self) -> u64 {
        self.client.id()
    }

    /// IRP_MJ_CLEANUP now (dropping the channel does it too).
    pub fn cleanup(&self) {
        self.engine.cleanup_client(&self.client);
    }
}

impl<P: Provider<Buffer = EmuBuffer>> Drop for HostChannel<P> {
    fn drop(&mut self) {
        self.engine.cleanup_client(&self.client);
    }
}

impl<P: Provider<Buffer = EmuBuffer>> Channel for HostChannel<P> {
    fn submit(&self, code: u32, input: Vec<u8>, output: Output) -> Pending {
        let wanted = access_of(code);
        if !self.kernel && wanted & self.granted != wanted {
            // The I/O manager's refusal: the driver never sees the request.
            return Pending::done(Completed {
                status: NtStatus::STATUS_ACCESS_DENIED,
                info: 0,
                output: Vec::new(),
            });
        }
        let slot = Slot::default();
        let output_len = match &output {
            Output::Reply(n) => *n,
            Output::Data(v) => v.len(),
        };
        let mode = if self.kernel {
            RequestorMode::Kernel
        } else {
            RequestorMode::User
        };
        let req = HostRequest {
            code,
            input,
            output: Some(output),
            output_len,
            mode,
            process: self.process,
            slot: slot.clone(),
        };
        self.engine.dispatch(&self.client, req);
        Pending::new(slot)
    }

    fn is_kernel(&self) -> bool {
        self.kernel
    }
}

/// Shares a channel between threads.
impl<C: Channel + ?Sized> Channel for Arc<C> {
    fn submit(&self, code: u32, input: Vec<u8>, output: Output) -> Pending {
        (**self).submit(code, input, output)
    }

    fn is_kernel(&self) -> bool {
        (**self).is_kernel()
    }
}
