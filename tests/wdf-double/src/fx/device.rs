//! Control devices: `WdfControlDeviceInitAllocate`, the `WdfDeviceInit*` setters,
//! `WdfDeviceCreate`, `WdfDeviceCreateSymbolicLink`, `WdfDeviceWdmGetDeviceObject`,
//! `WdfControlFinishInitializing`, and deletion (`WdfObjectDelete`, or the driver's unload).
//!
//! The WDM device is created with `IoCreateDevice` (name, type, characteristics), secured with the
//! SDDL string (what `IoCreateDeviceSecure` does: [`wsksock_nt::sddl`],
//! [`wsksock_nt::security`]) and stays `DO_DEVICE_INITIALIZING` until
//! `WdfControlFinishInitializing`. Its extension holds the `Device`'s address.

use super::driver::{driver, Driver};
use super::file::File;
use super::loader::{globals, Globals};
use super::object::{get, try_box, Header, Kind, Object, SpinMutex};
use super::queue::Queue;
use super::report::{fatal, note, verifier, Who};
use super::unicode;
use crate::logic::validate::{self, status, AttributeRules};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use wdk_sys_standin::{
    _WDF_FILEOBJECT_CLASS, BOOLEAN, DEVICE_TYPE, NTSTATUS, PCUNICODE_STRING, PDEVICE_OBJECT, PWDFDEVICE_INIT,
    PWDF_DRIVER_GLOBALS, PWDF_FILEOBJECT_CONFIG, PWDF_OBJECT_ATTRIBUTES, ULONG,
    UNICODE_STRING as WdfUnicodeString, WDFDEVICE, WDFDRIVER, WDF_FILEOBJECT_CLASS, WDF_FILEOBJECT_CONFIG,
    WDF_OBJECT_ATTRIBUTES,
};
use wsksock_nt::sddl;
use wsksock_nt::sys::imports::{IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink};
use wsksock_nt::sys::inline::DeviceExtension;
use wsksock_nt::sys::{DEVICE_OBJECT, DO_DEVICE_INITIALIZING, FALSE, UNICODE_STRING};

/// `FILE_DEVICE_UNKNOWN`, the type of a device whose driver set none.
const FILE_DEVICE_UNKNOWN: u32 = 0x22;
/// The device extension: the `Device`'s address.
#[expect(clippy::cast_possible_truncation, reason = "8 bytes")]
const EXTENSION_BYTES: u32 = size_of::<*const Device>() as u32;

/// The slot of our devices' extension.
///
/// # Safety
/// `wdm` is a live device the double created.
unsafe fn extension(wdm: *mut DEVICE_OBJECT) -> *mut *const Device {
    // SAFETY: 1. caller contract: its extension holds one pointer.
    unsafe { DeviceExtension(wdm) }.cast()
}

/// A device's file-object settings.
#[derive(Clone, Copy)]
pub struct FileSettings {
    /// The callbacks.
    pub config: WDF_FILEOBJECT_CONFIG,
    /// The class without `WdfFileObjectCanBeOptional`.
    pub class: WDF_FILEOBJECT_CLASS,
    /// `WdfFileObjectCanBeOptional`.
    pub optional: bool,
    /// The file objects' attributes.
    pub attributes: Option<WDF_OBJECT_ATTRIBUTES>,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            config: WDF_FILEOBJECT_CONFIG::default(),
            class: _WDF_FILEOBJECT_CLASS::WdfFileObjectNotRequired,
            optional: false,
            attributes: None,
        }
    }
}

/// A `PWDFDEVICE_INIT` of a control device.
pub struct DeviceInit {
    globals: NonNull<Globals>,
    driver: NonNull<Driver>,
    sddl: Vec<u16>,
    name: Option<Vec<u16>>,
    device_type: u32,
    characteristics: u32,
    file: FileSettings,
    request_attributes: Option<WDF_OBJECT_ATTRIBUTES>,
}

/// A `WDFDEVICE` (a control device).
#[repr(C)]
pub struct Device {
    header: Header,
    /// The WDM device.
    pub wdm: NonNull<DEVICE_OBJECT>,
    driver: NonNull<Driver>,
    name: Vec<u16>,
    sddl: Vec<u16>,
    link: SpinMutex<Option<Vec<u16>>>,
    finished: AtomicBool,
    /// File-object settings.
    pub file: FileSettings,
    /// Attributes of the requests the framework creates for the device.
    pub request_attributes: Option<WDF_OBJECT_ATTRIBUTES>,
    /// The default queue.
    pub queue: AtomicPtr<Queue>,
    /// Its open file objects.
    pub files: SpinMutex<Vec<NonNull<File>>>,
    /// The WDM file objects (addresses) of creates the driver refused lately: Wine still sends
    /// their IRP_MJ_CLEANUP and IRP_MJ_CLOSE, which Windows never does (`file::refused`).
    pub refused: SpinMutex<Vec<usize>>,
    /// Requests created and not yet completed.
    pub outstanding: AtomicUsize,
}

// SAFETY: 1. `#[repr(C)]`, header first.
unsafe impl Object for Device {
    const KIND: Kind = Kind::Device;
    fn header(&self) -> &Header {
        &self.header
    }
}

// SAFETY: 1. shared state is atomic or locked; the pointers are to objects that outlive it.
unsafe impl Send for Device {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Device {}

impl Device {
    /// The driver's name in reports.
    pub fn who(&self) -> Who<'_> {
        self.header.who()
    }

    /// `WdfControlFinishInitializing` ran: the device may be opened.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// The `Device` of a WDM device the double created.
///
/// # Safety
/// `wdm` is a device object of a driver bound to the double.
pub unsafe fn of_wdm<'a>(wdm: *mut DEVICE_OBJECT) -> Option<&'a Device> {
    // SAFETY: 1. caller contract.
    let slot = unsafe { extension(wdm) };
    // SAFETY: 1. our devices' extensions hold one pointer.
    let d = unsafe { slot.read() };
    // SAFETY: 1. null (being deleted) or the live `Device`.
    unsafe { d.as_ref() }
}

/// The `Device` behind a handle, checked.
///
/// # Safety
/// See [`get`].
pub unsafe fn device<'a>(g: &Globals, handle: WDFDEVICE, function: &str) -> &'a Device {
    // SAFETY: 1. caller contract.
    unsafe { get::<Device>(handle.cast(), g.who(), function) }
}

/// The `DeviceInit` behind a `PWDFDEVICE_INIT`, checked for NULL.
///
/// # Safety
/// `init` is NULL or what `WdfControlDeviceInitAllocate` returned and was not freed.
unsafe fn init<'a>(g: &Globals, init: PWDFDEVICE_INIT, function: &str) -> &'a mut DeviceInit {
    if init.is_null() {
        fatal(g.who(), function, "NULL PWDFDEVICE_INIT");
    }
    // SAFETY: 1. a live `DeviceInit` (caller contract).
    let i = unsafe { &mut *init.cast::<DeviceInit>() };
    if i.globals != NonNull::from(g) {
        fatal(g.who(), function, "a PWDFDEVICE_INIT of another driver");
    }
    i
}

fn copy(chars: &[u16]) -> Option<Vec<u16>> {
    let mut v = Vec::new();
    v.try_reserve_exact(chars.len()).ok()?;
    v.extend_from_slice(chars);
    Some(v)
}

/// `WdfControlDeviceInitAllocate`.
pub unsafe extern "C" fn wdf_control_device_init_allocate(
    g: PWDF_DRIVER_GLOBALS,
    driver_handle: WDFDRIVER,
    sddl: *const WdfUnicodeString,
) -> PWDFDEVICE_INIT {
    const F: &str = "WdfControlDeviceInitAllocate";
    // SAFETY: 1. the driver's globals argument.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. the driver's handle argument.
    let d = unsafe { driver(g, driver_handle, F) };
    if sddl.is_null() {
        fatal(g.who(), F, "NULL SDDLString");
    }
    // SAFETY: 1. the driver's string, read now.
    let Some(sddl) = copy(unsafe { super::chars(sddl.cast()) }) else {
        return core::ptr::null_mut();
    };
    if sddl.is_empty() {
        verifier(g.who(), F, "empty SDDLString");
        return core::ptr::null_mut();
    }
    try_box(DeviceInit {
        globals: NonNull::from(g),
        driver: NonNull::from(d),
        sddl,
        name: None,
        device_type: FILE_DEVICE_UNKNOWN,
        characteristics: 0,
        file: FileSettings::default(),
        request_attributes: None,
    })
    .map_or(core::ptr::null_mut(), |b| Box::into_raw(b).cast())
}

/// `WdfDeviceInitSetDeviceType`.
pub unsafe extern "C" fn wdf_device_init_set_device_type(
    g: PWDF_DRIVER_GLOBALS,
    i: PWDFDEVICE_INIT,
    device_type: DEVICE_TYPE,
) {
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, "WdfDeviceInitSetDeviceType") };
    // SAFETY: 1. as above.
    unsafe { init(g, i, "WdfDeviceInitSetDeviceType") }.device_type = device_type;
}

/// `WdfDeviceInitSetCharacteristics`.
pub unsafe extern "C" fn wdf_device_init_set_characteristics(
    g: PWDF_DRIVER_GLOBALS,
    i: PWDFDEVICE_INIT,
    characteristics: ULONG,
    or_in: BOOLEAN,
) {
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, "WdfDeviceInitSetCharacteristics") };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, i, "WdfDeviceInitSetCharacteristics") };
    i.characteristics = if or_in != 0 {
        i.characteristics | characteristics
    } else {
        characteristics
    };
}

/// `WdfDeviceInitAssignName`.
pub unsafe extern "C" fn wdf_device_init_assign_name(
    g: PWDF_DRIVER_GLOBALS,
    i: PWDFDEVICE_INIT,
    name: PCUNICODE_STRING,
) -> NTSTATUS {
    const F: &str = "WdfDeviceInitAssignName";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, i, F) };
    // SAFETY: 1. NULL (removes the name) or the driver's string, copied now.
    let chars = unsafe { super::chars(name.cast()) };
    if name.is_null() {
        i.name = None;
        return status::SUCCESS;
    }
    if chars.is_empty() {
        verifier(g.who(), F, "empty DeviceName");
        return status::INVALID_PARAMETER;
    }
    match copy(chars) {
        Some(v) => {
            i.name = Some(v);
            status::SUCCESS
        }
        None => status::INSUFFICIENT_RESOURCES,
    }
}

/// Checked attributes of the driver (`None` for NULL), or the violation reported.
///
/// # Safety
/// `a` is NULL or the driver's attributes.
pub unsafe fn checked_attributes<'a>(
    who: Who<'_>,
    function: &str,
    a: PWDF_OBJECT_ATTRIBUTES,
    rules: AttributeRules,
) -> Result<Option<&'a WDF_OBJECT_ATTRIBUTES>, NTSTATUS> {
    // SAFETY: 1. caller contract.
    let a = unsafe { a.as_ref() };
    // SAFETY: 1. NULL or the driver's static type info.
    let t = a.and_then(|a| unsafe { a.ContextTypeInfo.as_ref() });
    match validate::object_attributes(a, t, rules) {
        Ok(()) => Ok(a),
        Err(v) => {
            verifier(who, function, v.why);
            Err(v.status)
        }
    }
}

/// `WdfDeviceInitSetFileObjectConfig`: on a bad configuration the framework reports it and keeps
/// the previous settings.
pub unsafe extern "C" fn wdf_device_init_set_file_object_config(
    g: PWDF_DRIVER_GLOBALS,
    i: PWDFDEVICE_INIT,
    config: PWDF_FILEOBJECT_CONFIG,
    attributes: PWDF_OBJECT_ATTRIBUTES,
) {
    const F: &str = "WdfDeviceInitSetFileObjectConfig";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, i, F) };
    // SAFETY: 1. NULL or the driver's configuration.
    let Some(config) = (unsafe { config.as_ref() }) else {
        fatal(g.who(), F, "NULL FileObjectConfig");
    };
    let (class, optional) = match validate::file_object_config(config) {
        Ok(c) => c,
        Err(v) => return verifier(g.who(), F, v.why),
    };
    // SAFETY: 1. NULL or the driver's attributes.
    let Ok(attributes) = (unsafe { checked_attributes(g.who(), F, attributes, AttributeRules::TOP_LEVEL) })
    else {
        return;
    };
    i.file = FileSettings {
        config: *config,
        class,
        optional,
        attributes: attributes.copied(),
    };
}

/// `WdfDeviceInitSetRequestAttributes`: on bad attributes the framework reports them and keeps
/// none — its requests then have no context.
pub unsafe extern "C" fn wdf_device_init_set_request_attributes(
    g: PWDF_DRIVER_GLOBALS,
    i: PWDFDEVICE_INIT,
    attributes: PWDF_OBJECT_ATTRIBUTES,
) {
    const F: &str = "WdfDeviceInitSetRequestAttributes";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, i, F) };
    if attributes.is_null() {
        fatal(g.who(), F, "NULL RequestAttributes");
    }
    // SAFETY: 1. the driver's attributes.
    if let Ok(a) = unsafe { checked_attributes(g.who(), F, attributes, AttributeRules::REQUEST) } {
        i.request_attributes = a.copied();
    }
}

/// `WdfDeviceInitFree`.
pub unsafe extern "C" fn wdf_device_init_free(g: PWDF_DRIVER_GLOBALS, i: PWDFDEVICE_INIT) {
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, "WdfDeviceInitFree") };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, i, "WdfDeviceInitFree") };
    // SAFETY: 1. `Box::into_raw` in WdfControlDeviceInitAllocate; the driver gives it up now.
    drop(unsafe { Box::from_raw(core::ptr::from_mut(i)) });
}

/// `WdfDeviceCreate` (control devices): on success `*DeviceInit` is consumed and set to NULL.
pub unsafe extern "C" fn wdf_device_create(
    g: PWDF_DRIVER_GLOBALS,
    device_init: *mut PWDFDEVICE_INIT,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFDEVICE,
) -> NTSTATUS {
    const F: &str = "WdfDeviceCreate";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    if device_init.is_null() || out.is_null() {
        fatal(g.who(), F, "NULL DeviceInit or Device");
    }
    // SAFETY: 1. the driver's out parameter.
    unsafe { out.write(core::ptr::null_mut()) };
    // SAFETY: 1. the driver's in/out parameter.
    let raw_init = unsafe { device_init.read() };
    // SAFETY: 1. as above.
    let i = unsafe { init(g, raw_init, F) };
    // SAFETY: 1. NULL or the driver's attributes.
    let attributes = match unsafe { checked_attributes(g.who(), F, attributes, AttributeRules::TOP_LEVEL) } {
        Ok(a) => a,
        Err(st) => return st,
    };
    let Some(name) = i.name.as_deref() else {
        verifier(g.who(), F, "a control device with an SDDL string needs a name");
        return status::INVALID_SECURITY_DESCR;
    };
    let dacl = match sddl::parse(&i.sddl) {
        Ok(d) => d,
        Err(e) => {
            let why = match e {
                sddl::SddlError::Unsupported { .. } => {
                    "(double) the SDDL string is outside the subset the double implements"
                }
                _ => "the SDDL string does not parse",
            };
            verifier(g.who(), F, why);
            return status::INVALID_PARAMETER;
        }
    };
    let name_us = unicode(name);
    let mut wdm: *mut DEVICE_OBJECT = core::ptr::null_mut();
    // SAFETY: 1. the bound driver's object; 2. the name outlives the call; 3. one pointer of
    // extension, written below before the device can be opened (DO_DEVICE_INITIALIZING).
    let st = unsafe {
        IoCreateDevice(
            g.driver_object,
            EXTENSION_BYTES,
            &raw const name_us,
            i.device_type,
            i.characteristics,
            FALSE,
            &raw mut wdm,
        )
    };
    let Some(wdm) = NonNull::new(wdm).filter(|_| st >= 0) else {
        return if st < 0 {
            st
        } else {
            status::INSUFFICIENT_RESOURCES
        };
    };
    // SAFETY: 1. our new device at PASSIVE_LEVEL.
    if let Err(st) = unsafe { wsksock_nt::security::apply_dacl(wdm.cast(), &dacl) } {
        // SAFETY: 1. the device created above, unused.
        unsafe { IoDeleteDevice(wdm.as_ptr()) };
        return st;
    }
    let mut header = Header::new(Kind::Device, NonNull::from(g));
    if let Err(st) = header.adopt(attributes) {
        // SAFETY: 1. as above.
        unsafe { IoDeleteDevice(wdm.as_ptr()) };
        return st;
    }
    let dev = try_box(Device {
        header,
        wdm,
        driver: i.driver,
        name: core::mem::take(&mut i.name).unwrap_or_default(),
        sddl: core::mem::take(&mut i.sddl),
        link: SpinMutex::new(None),
        finished: AtomicBool::new(false),
        file: i.file,
        request_attributes: i.request_attributes,
        queue: AtomicPtr::new(core::ptr::null_mut()),
        files: SpinMutex::new(Vec::new()),
        refused: SpinMutex::new(Vec::new()),
        outstanding: AtomicUsize::new(0),
    });
    // SAFETY: 1. the driver of the init, alive while it creates devices.
    let driver = unsafe { i.driver.as_ref() };
    let mut devices = driver.devices.lock();
    let (Some(dev), Ok(())) = (dev, devices.try_reserve(1)) else {
        drop(devices);
        // SAFETY: 1. as above.
        unsafe { IoDeleteDevice(wdm.as_ptr()) };
        return status::INSUFFICIENT_RESOURCES;
    };
    let dev = NonNull::from(Box::leak(dev));
    devices.push(dev);
    drop(devices);
    // SAFETY: 1. our new device.
    let slot = unsafe { extension(wdm.as_ptr()) };
    // SAFETY: 1. its extension: one pointer (created with that size above).
    unsafe { slot.write(dev.as_ptr()) };
    // SAFETY: 1. live (just created).
    let d = unsafe { dev.as_ref() };
    note(
        g.who(),
        format_args!("control device {} secured by {}", Utf16(&d.name), Utf16(&d.sddl)),
    );
    // SAFETY: 1. `Box::into_raw` of WdfControlDeviceInitAllocate, consumed here, once.
    drop(unsafe { Box::from_raw(core::ptr::from_mut(i)) });
    // SAFETY: 1. the driver's in/out and out parameters.
    unsafe { device_init.write(core::ptr::null_mut()) };
    // SAFETY: 1. as above.
    unsafe { out.write(d.handle().cast()) };
    status::SUCCESS
}

/// ASCII view of UTF-16 for the lines.
struct Utf16<'a>(&'a [u16]);

impl core::fmt::Display for Utf16<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &c in self.0 {
            let c = char::from_u32(u32::from(c)).filter(char::is_ascii).unwrap_or('?');
            core::fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// `WdfDeviceCreateSymbolicLink`.
pub unsafe extern "C" fn wdf_device_create_symbolic_link(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
    link: PCUNICODE_STRING,
) -> NTSTATUS {
    const F: &str = "WdfDeviceCreateSymbolicLink";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let d = unsafe { device(g, handle, F) };
    // SAFETY: 1. NULL or the driver's string, copied now.
    let chars = unsafe { super::chars(link.cast()) };
    if link.is_null() || chars.is_empty() {
        fatal(g.who(), F, "NULL or empty SymbolicLinkName");
    }
    let mut slot = d.link.lock();
    if slot.is_some() {
        verifier(g.who(), F, "the device already has a symbolic link");
        return status::INVALID_DEVICE_STATE;
    }
    let Some(v) = copy(chars) else {
        return status::INSUFFICIENT_RESOURCES;
    };
    let (link_us, name_us) = (unicode(&v), unicode(&d.name));
    // SAFETY: 1. two valid strings over live buffers.
    let st = unsafe { IoCreateSymbolicLink(&raw const link_us, &raw const name_us) };
    if st >= 0 {
        *slot = Some(v);
    }
    st
}

/// `WdfDeviceWdmGetDeviceObject`.
pub unsafe extern "C" fn wdf_device_wdm_get_device_object(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
) -> PDEVICE_OBJECT {
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, "WdfDeviceWdmGetDeviceObject") };
    // SAFETY: 1. as above.
    unsafe { device(g, handle, "WdfDeviceWdmGetDeviceObject") }
        .wdm
        .as_ptr()
        .cast()
}

/// `WdfControlFinishInitializing`: the device may be opened from now on.
pub unsafe extern "C" fn wdf_control_finish_initializing(g: PWDF_DRIVER_GLOBALS, handle: WDFDEVICE) {
    const F: &str = "WdfControlFinishInitializing";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let d = unsafe { device(g, handle, F) };
    if d.finished.swap(true, Ordering::AcqRel) {
        verifier(g.who(), F, "called twice");
        return;
    }
    // SAFETY: 1. our live WDM device; the flag is the driver's to clear once set up.
    unsafe { (*d.wdm.as_ptr()).Flags &= !DO_DEVICE_INITIALIZING };
}

/// Deletes a device: its queue, its link, the WDM device. A device with requests or file
/// objects still outstanding is reported and left alone (freeing it would let the kernel and the
/// driver use freed memory later).
///
/// # Safety
/// `dev` is a live device no longer in its driver's list.
pub unsafe fn delete(dev: NonNull<Device>, function: &str) {
    // SAFETY: 1. live (caller contract).
    let d = unsafe { dev.as_ref() };
    let (outstanding, files) = (d.outstanding.load(Ordering::Acquire), d.files.lock().len());
    if outstanding != 0 || files != 0 {
        verifier(
            d.who(),
            function,
            "deleting a device with requests not completed or file objects not closed (the driver unloads under them)",
        );
        return;
    }
    if let Some(q) = NonNull::new(d.queue.swap(core::ptr::null_mut(), Ordering::AcqRel)) {
        // SAFETY: 1. the device's queue, with no request left (outstanding == 0).
        unsafe { super::object::destroy(q) };
    }
    if let Some(link) = d.link.lock().take() {
        let us: UNICODE_STRING = unicode(&link);
        // SAFETY: 1. the link created for this device.
        unsafe { IoDeleteSymbolicLink(&raw const us) };
    }
    let wdm = d.wdm;
    // SAFETY: 1. our live device.
    let slot = unsafe { extension(wdm.as_ptr()) };
    // SAFETY: 1. its extension: nobody finds the `Device` through it any more.
    unsafe { slot.write(core::ptr::null()) };
    // SAFETY: 1. `Box::leak` in WdfDeviceCreate; its handle is dead now.
    unsafe { super::object::destroy(dev) };
    // SAFETY: 1. our WDM device, with nothing of ours left on it.
    unsafe { IoDeleteDevice(wdm.as_ptr()) };
}

/// `WdfObjectDelete` of a device: only control devices can be deleted by their driver.
///
/// # Safety
/// `d` is a live device of `g`'s driver.
pub unsafe fn delete_by_driver(g: &Globals, d: &Device) {
    let dev = NonNull::from(d);
    // SAFETY: 1. the device's driver is alive while its devices are.
    let driver = unsafe { d.driver.as_ref() };
    let mut devices = driver.devices.lock();
    let Some(i) = devices.iter().position(|p| *p == dev) else {
        drop(devices);
        return verifier(g.who(), "WdfObjectDelete", "device already deleted");
    };
    devices.remove(i);
    drop(devices);
    // SAFETY: 1. live, out of the list now.
    unsafe { delete(dev, "WdfObjectDelete") };
}
