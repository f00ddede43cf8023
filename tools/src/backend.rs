//! Backend selection: the engine in-process over the emulator, or the Windows device.

#[cfg(not(windows))]
use std::time::Duration;
use wsksock_tools::Client;
#[cfg(not(windows))]
use wsksock_tools::HostDevice;

/// Which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The engine in this process over the WSK emulator (not on Windows).
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
    #[cfg(not(windows))]
    device: Option<HostDevice>,
    pub client: Client,
}

impl Session {
    /// Opens the backend.
    pub fn open(kind: Kind, profile: ProfileArg) -> Result<Session, String> {
        match kind {
            #[cfg(not(windows))]
            Kind::Host => {
                use wsksock_emu::Profile;
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
            #[cfg(windows)]
            Kind::Host => {
                let _ = profile;
                Err(
                    "host mode runs the engine over the emulator, which needs Linux; use --backend device"
                        .into(),
                )
            }
            #[cfg(windows)]
            Kind::Device => Ok(Session {
                client: Client::new(wsksock_tools::device::DeviceChannel::open()?),
            }),
            #[cfg(not(windows))]
            Kind::Device => {
                Err("the device backend needs Windows and the wsksock driver (see README)".into())
            }
        }
    }

    /// What the requests reach, for humans.
    // On Windows there is only the device.
    #[cfg_attr(windows, allow(clippy::unused_self))]
    pub fn describe(&self) -> &'static str {
        #[cfg(not(windows))]
        if self.device.is_some() {
            return "the engine over the WSK emulator";
        }
        "the wsksock driver through \\\\.\\WskSock"
    }

    /// Another client of the same driver (another file object): its handles are its own.
    // On Windows another client is just another open of the device.
    #[cfg_attr(windows, allow(clippy::unused_self))]
    pub fn open_client(&self) -> Result<Client, String> {
        #[cfg(not(windows))]
        {
            let device = self.device.as_ref().ok_or("no device")?;
            let chan = device
                .open()
                .map_err(|s| format!("cannot open the engine: {s}"))?;
            Ok(Client::new(chan))
        }
        #[cfg(windows)]
        {
            Ok(Client::new(wsksock_tools::device::DeviceChannel::open()?))
        }
    }

    /// Another client whose handle may only `read` and/or `write` data (`FILE_READ_DATA`,
    /// `FILE_WRITE_DATA`): the I/O manager refuses the codes whose access bits it lacks. In host
    /// mode the channel makes that check itself.
    #[cfg_attr(windows, allow(clippy::unused_self))]
    pub fn open_client_with(&self, read: bool, write: bool) -> Result<Client, String> {
        let data = u32::from(read) | (u32::from(write) << 1);
        #[cfg(not(windows))]
        {
            let device = self.device.as_ref().ok_or("no device")?;
            let chan = device
                .open_with_access(data)
                .map_err(|s| format!("cannot open the engine: {s}"))?;
            Ok(Client::new(chan))
        }
        #[cfg(windows)]
        {
            // FILE_READ_DATA (1) and FILE_WRITE_DATA (2) are the control codes' access bits;
            // FILE_READ_ATTRIBUTES (0x80) keeps a handle with neither a valid open.
            const FILE_READ_ATTRIBUTES: u32 = 0x80;
            Ok(Client::new(wsksock_tools::device::DeviceChannel::open_with(
                data | FILE_READ_ATTRIBUTES,
            )?))
        }
    }

    /// Closes the backend: host mode unloads the engine and waits for it; device mode closes
    /// the handle (the driver's cleanup closes what is still open).
    // Only host mode can fail to close.
    #[cfg_attr(windows, allow(clippy::unnecessary_wraps))]
    pub fn close(self) -> Result<(), String> {
        #[cfg(not(windows))]
        {
            let Session { device, client } = self;
            drop(client);
            if let Some(d) = device {
                if !d.unload(Duration::from_secs(30)) {
                    return Err("the engine did not finish unloading within 30 s".into());
                }
            }
        }
        #[cfg(windows)]
        drop(self);
        Ok(())
    }
}
