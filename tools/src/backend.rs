//! Backend selection: the engine in-process over the emulator, or the Windows device.

use std::time::Duration;
use wsksock_emu::Profile;
use wsksock_tools::{Client, HostDevice};

/// Which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The engine in this process over the WSK emulator.
    Host,
    /// The driver, through `\\.\WskSock` (Windows only).
    Device,
}

impl Default for Kind {
    fn default() -> Self {
        if cfg!(windows) {
            Kind::Device
        } else {
            Kind::Host
        }
    }
}

/// The emulator's profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    /// Windows' WSK.
    Windows,
    /// Wine 8's netio.sys.
    Wine8,
}

/// An open backend.
pub struct Session {
    device: Option<HostDevice>,
    pub client: Client,
}

impl Session {
    /// Opens the backend.
    pub fn open(kind: Kind, profile: ProfileArg) -> Result<Session, String> {
        match kind {
            Kind::Host => {
                let p = match profile {
                    ProfileArg::Windows => Profile::Windows,
                    ProfileArg::Wine8 => Profile::Wine8,
                };
                let device = HostDevice::new(p).map_err(|e| format!("cannot start the emulator: {e}"))?;
                let chan = device
                    .open()
                    .map_err(|s| format!("cannot open the engine: {s}"))?;
                Ok(Session {
                    client: Client::new(chan),
                    device: Some(device),
                })
            }
            Kind::Device => {
                Err("the device backend needs Windows and the wsksock driver (see README)".into())
            }
        }
    }

    /// Closes the backend: host mode unloads the engine and waits for it.
    pub fn close(self) -> Result<(), String> {
        let Session { device, client } = self;
        drop(client);
        if let Some(d) = device {
            if !d.unload(Duration::from_secs(30)) {
                return Err("the engine did not finish unloading within 30 s".into());
            }
        }
        Ok(())
    }
}
