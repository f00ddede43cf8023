/*
 * wskcons.sys — a kernel consumer of wsksock, in C, with mingw-w64's DDK headers and the
 * generated wsksock.h. It opens \Device\WskSock and talks to it only through
 * IRP_MJ_INTERNAL_DEVICE_CONTROL requests built with IoBuildDeviceIoControlRequest:
 * CLIENT_INFO, SOCKET, BIND, CONNECT, SEND (direct I/O) and SEND_KERNEL (a kernel buffer),
 * RECEIVE until the peer's FIN, CLOSE (graceful, waiting for the teardown). As a check of the
 * driver, not as an example, it also sends one request without a file object, and *_KERNEL
 * requests naming buffers no kernel caller may name (a user-range address, an unmapped one),
 * which must all fail.
 *
 * It runs its scenario in DriverEntry against 127.0.0.1:<PeerPort>; the parameters and the
 * results are values of its service key (what `cargo xtask wine-test` sets and reads):
 *   in:  PeerPort (DWORD), SendBytes (DWORD), ExpectBytes (DWORD)
 *   out: Result (NTSTATUS of the first failure, 0 if none), FailedStep (DWORD), Received (DWORD),
 *        Intact (1 if every received byte was the pattern byte[i] = i % 251), Opened (1: through
 *        IoGetDeviceObjectPointer; 2: through ZwCreateFile, Wine's path — see open_wsksock),
 *        NoFileObject (the NTSTATUS of a request sent without a file object, which must be
 *        STATUS_INVALID_DEVICE_REQUEST — see scenario), BadKernelBuffer (the first NTSTATUS of
 *        the *_KERNEL requests with bad buffers that was not STATUS_INVALID_USER_BUFFER, 0 if
 *        none — see scenario), OldCode (the NTSTATUS of a STATISTICS sent with its ABI
 *        version-2 code, which a kernel caller may still use — see scenario).
 *
 * Build (see xtask/src/wine_test/build.rs):
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -I<ddk> -I abi/include -shared -nostdlib \
 *     -Wl,--subsystem,native -Wl,--entry,DriverEntry -o wskcons_c.sys wskcons.c -lntoskrnl -lgcc
 *
 * Buffered requests use one buffer as both input and output: Windows copies the reply from its
 * system buffer to the output buffer, Wine's IoBuildDeviceIoControlRequest hands the input
 * buffer itself to the driver as the system buffer. One buffer large enough for both works on both.
 */
#include <ntddk.h>
#include "wsksock.h"

#define TAG 0x736E4357u /* 'WCns' */
#define RECV_CHUNK 4096

/* mingw's headers lack this one (it is in ntifs.h on the WDK). */
NTSYSAPI NTSTATUS NTAPI ZwSetValueKey(HANDLE, PUNICODE_STRING, ULONG, ULONG, PVOID, ULONG);

typedef struct CONSUMER {
    PFILE_OBJECT file;
    PDEVICE_OBJECT device;
    HANDLE handle; /* only when opened through ZwCreateFile */
    ULONG opened;
} CONSUMER;

static UCHAR pattern_byte(ULONG i) { return (UCHAR)(i % 251); }

/*
 * Opens \Device\WskSock. On Windows, IoGetDeviceObjectPointer does it all. On Wine 8 that
 * function is a stub: it returns STATUS_SUCCESS with a dummy device and *no* file object. The
 * fallback is what IoGetDeviceObjectPointer does inside Windows: ZwCreateFile, then the file
 * object from the handle. Three Wine details:
 * - Wine's ZwCreateFile returns before the driver has seen IRP_MJ_CREATE (the create IRP is only
 *   queued), and the file object exists only once it has: one request through the handle
 *   (CLIENT_INFO, synchronous) completes after the create, so the file object is there after it.
 * - ObReferenceObjectByHandle finds that file object only when both drivers live in the same
 *   winedevice.exe, i.e. their services have the same load-order group (`sc create ... group=`).
 * - `*IoFileObjectType` is not the file object type on Wine (one indirection less): no type is
 *   passed, the object's Type is checked instead.
 * - IoGetRelatedDeviceObject is a stub too, so the device is the file object's DeviceObject
 *   (ours has nothing attached on top).
 */
static NTSTATUS open_wsksock(CONSUMER *c)
{
    UNICODE_STRING name;
    OBJECT_ATTRIBUTES oa;
    IO_STATUS_BLOCK iosb;
    union {
        WSKSOCK_CLIENT_INFO_REQUEST req;
        WSKSOCK_CLIENT_INFO_REPLY reply;
    } info;
    NTSTATUS st;

    RtlInitUnicodeString(&name, WSKSOCK_DEVICE_NAME);
    st = IoGetDeviceObjectPointer(&name, FILE_READ_DATA | FILE_WRITE_DATA, &c->file, &c->device);
    if (NT_SUCCESS(st) && c->file != NULL) {
        c->opened = 1;
        return st;
    }
    c->file = NULL;
    c->device = NULL;
    InitializeObjectAttributes(&oa, &name, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
    st = ZwCreateFile(&c->handle, SYNCHRONIZE | FILE_READ_DATA | FILE_WRITE_DATA, &oa, &iosb, NULL, 0,
                      FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, FILE_SYNCHRONOUS_IO_NONALERT, NULL, 0);
    if (!NT_SUCCESS(st))
        return st;
    RtlZeroMemory(&info, sizeof(info));
    info.req.header.size = sizeof(info.req);
    info.req.header.version = WSKSOCK_ABI_VERSION;
    st = ZwDeviceIoControlFile(c->handle, NULL, NULL, NULL, &iosb, WSKSOCK_IOCTL_CLIENT_INFO, &info,
                               sizeof(info.req), &info, sizeof(info.reply));
    if (!NT_SUCCESS(st)) {
        ZwClose(c->handle);
        c->handle = NULL;
        return st;
    }
    /* No type: Wine exports IoFileObjectType with one indirection less than Windows, so
     * `*IoFileObjectType` is not the file type there. The result is checked by hand instead. */
    st = ObReferenceObjectByHandle(c->handle, 0, NULL, KernelMode, (PVOID *)&c->file, NULL);
    if (NT_SUCCESS(st) && c->file->Type != IO_TYPE_FILE) {
        ObDereferenceObject(c->file);
        c->file = NULL;
        st = STATUS_OBJECT_TYPE_MISMATCH;
    }
    if (!NT_SUCCESS(st)) {
        ZwClose(c->handle);
        c->handle = NULL;
        return st;
    }
    c->device = c->file->DeviceObject;
    c->opened = 2;
    return c->device ? STATUS_SUCCESS : STATUS_NO_SUCH_DEVICE;
}

static void close_wsksock(CONSUMER *c)
{
    if (c->file)
        ObDereferenceObject(c->file);
    if (c->handle)
        ZwClose(c->handle);
    c->file = NULL;
    c->handle = NULL;
}

/* One internal device-control request on behalf of `file`, waited for. Returns the final
 * status; *info gets IoStatus.Information. */
static NTSTATUS call_as(CONSUMER *c, PFILE_OBJECT file, ULONG code, PVOID in, ULONG in_len, PVOID out,
                        ULONG out_len, ULONG_PTR *info)
{
    KEVENT done;
    IO_STATUS_BLOCK iosb;
    PIRP irp;
    NTSTATUS st;

    KeInitializeEvent(&done, NotificationEvent, FALSE);
    irp = IoBuildDeviceIoControlRequest(code, c->device, in, in_len, out, out_len,
                                        TRUE /* IRP_MJ_INTERNAL_DEVICE_CONTROL */, &done, &iosb);
    if (!irp)
        return STATUS_INSUFFICIENT_RESOURCES;
    /* The client is the file object: IoBuildDeviceIoControlRequest does not set it. */
    IoGetNextIrpStackLocation(irp)->FileObject = file;
    st = IoCallDriver(c->device, irp);
    if (st == STATUS_PENDING) {
        KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
        st = iosb.Status;
    }
    if (info)
        *info = NT_SUCCESS(st) ? iosb.Information : 0;
    return st;
}

/* What every request of this consumer goes through: on behalf of its own file object. */
static NTSTATUS call(CONSUMER *c, ULONG code, PVOID in, ULONG in_len, PVOID out, ULONG out_len,
                     ULONG_PTR *info)
{
    return call_as(c, c->file, code, in, in_len, out, out_len, info);
}

static WSKSOCK_HEADER header(ULONG size)
{
    WSKSOCK_HEADER h;
    h.size = size;
    h.version = WSKSOCK_ABI_VERSION;
    h.reserved = 0;
    return h;
}

typedef struct RESULT {
    NTSTATUS status;
    ULONG step;
    ULONG received;
    ULONG intact;
    NTSTATUS no_file_object; /* the answer to the request without a file object */
    NTSTATUS bad_kernel_buffer; /* the first wrong answer to a *_KERNEL request with a bad buffer */
    NTSTATUS old_code; /* the answer to a request with an ABI version-2 control code */
} RESULT;

#define STEP(n, expr)                  \
    do {                               \
        r->step = (n);                 \
        r->status = (expr);            \
        if (!NT_SUCCESS(r->status))    \
            goto out;                  \
    } while (0)

static void scenario(CONSUMER *c, USHORT port, ULONG send_bytes, ULONG expect, RESULT *r)
{
    union {
        WSKSOCK_CLIENT_INFO_REQUEST info_req;
        WSKSOCK_CLIENT_INFO_REPLY info;
        WSKSOCK_SOCKET_REQUEST sock_req;
        WSKSOCK_HANDLE_REPLY handle_reply;
        WSKSOCK_ADDRESSED_REQUEST addressed;
        WSKSOCK_CLOSE_REQUEST close_req;
        WSKSOCK_CLOSE_REPLY close_reply;
        WSKSOCK_HANDLE_REQUEST handle_req;
        WSKSOCK_STATISTICS_REPLY stats;
    } b;
    WSKSOCK_DATA_REQUEST data;
    WSKSOCK_HANDLE h = { 0, 0 };
    UCHAR *buf = NULL;
    ULONG_PTR n = 0;
    ULONG i, half;

    r->intact = 1;
    buf = ExAllocatePoolWithTag(NonPagedPool, send_bytes > RECV_CHUNK ? send_bytes : RECV_CHUNK, TAG);
    STEP(1, buf ? open_wsksock(c) : STATUS_INSUFFICIENT_RESOURCES);

    RtlZeroMemory(&b, sizeof(b));
    b.info_req.header = header(sizeof(b.info_req));
    STEP(2, call(c, WSKSOCK_IOCTL_CLIENT_INFO, &b, sizeof(b.info_req), &b, sizeof(b.info), &n));
    STEP(3, b.info.abi_version == WSKSOCK_ABI_VERSION ? STATUS_SUCCESS : STATUS_REVISION_MISMATCH);

    RtlZeroMemory(&b, sizeof(b));
    b.sock_req.header = header(sizeof(b.sock_req));
    b.sock_req.family = WSKSOCK_AF_INET;
    b.sock_req.kind = WSKSOCK_SOCKET_KIND_STREAM;
    STEP(4, call(c, WSKSOCK_IOCTL_SOCKET, &b, sizeof(b.sock_req), &b, sizeof(b.handle_reply), &n));
    h = b.handle_reply.handle;

    RtlZeroMemory(&b, sizeof(b));
    b.addressed.header = header(sizeof(b.addressed));
    b.addressed.handle = h;
    b.addressed.addr.family = WSKSOCK_AF_INET; /* 0.0.0.0:0 */
    STEP(5, call(c, WSKSOCK_IOCTL_BIND, &b, sizeof(b.addressed), NULL, 0, NULL));

    b.addressed.addr.port = port;
    b.addressed.addr.addr[0] = 127;
    b.addressed.addr.addr[3] = 1;
    STEP(6, call(c, WSKSOCK_IOCTL_CONNECT, &b, sizeof(b.addressed), NULL, 0, NULL));

    for (i = 0; i < send_bytes; i++)
        buf[i] = pattern_byte(i);
    half = send_bytes / 2;
    RtlZeroMemory(&data, sizeof(data));
    data.header = header(sizeof(data));
    data.handle = h;

    /*
     * Not something a consumer does: a SEND in an IRP that carries no file object, as
     * IoBuildDeviceIoControlRequest leaves it when the caller forgets to set one (see call_as).
     * wsksock knows its clients only by their file objects, so it must refuse the request with
     * STATUS_INVALID_DEVICE_REQUEST -- not crash, not guess a client, not send -- and keep serving
     * this client: the steps after it show that, and the peer would see any stray bytes. It is
     * here so that `cargo xtask wine-test` checks both of the driver's front ends (WDM and KMDF).
     */
    r->no_file_object = call_as(c, NULL, WSKSOCK_IOCTL_SEND, &data, sizeof(data), buf, half, &n);
    STEP(7, r->no_file_object == STATUS_INVALID_DEVICE_REQUEST ? STATUS_SUCCESS
            : NT_SUCCESS(r->no_file_object)                    ? STATUS_UNSUCCESSFUL
                                                               : r->no_file_object);

    /* SEND: the first half through direct I/O (the output buffer is the data)... */
    STEP(8, call(c, WSKSOCK_IOCTL_SEND, &data, sizeof(data), buf, half, &n));
    STEP(9, n == half ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL);
    /* ... the rest through SEND_KERNEL: a non-paged kernel buffer named in the request. */
    data.buffer = (uint64_t)(ULONG_PTR)(buf + half);
    data.length = send_bytes - half;
    STEP(10, call(c, WSKSOCK_IOCTL_SEND_KERNEL, &data, sizeof(data), NULL, 0, &n));
    STEP(11, n == send_bytes - half ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL);

    /*
     * Not something a consumer does either: *_KERNEL requests naming buffers a kernel caller may
     * not name — a user-range address (what a driver forwarding a user's pointer would pass; on
     * Windows below MmSystemRangeStart) and an unmapped one (on Windows a system address with no
     * page behind it; under Wine, where every address is winedevice.exe's, simply unmapped).
     * wsksock must refuse each with STATUS_INVALID_USER_BUFFER before an MDL describes it: no
     * byte sent (the peer would see it), none received (the RECEIVEs below would miss it).
     */
    {
        static const uint64_t bad[] = { 0x1000, 0xFFFF800000001000ull };
        ULONG k;
        for (k = 0; k < 2 * (ULONG)(sizeof(bad) / sizeof(bad[0])) && r->bad_kernel_buffer == 0; k++) {
            NTSTATUS st;
            data.buffer = bad[k / 2];
            data.length = 64;
            st = call(c, k % 2 ? WSKSOCK_IOCTL_RECEIVE_KERNEL : WSKSOCK_IOCTL_SEND_KERNEL, &data,
                      sizeof(data), NULL, 0, &n);
            if (st != STATUS_INVALID_USER_BUFFER)
                r->bad_kernel_buffer = NT_SUCCESS(st) ? STATUS_UNSUCCESSFUL : st;
        }
        STEP(12, r->bad_kernel_buffer == 0 ? STATUS_SUCCESS : r->bad_kernel_buffer);
    }

    /* RECEIVE until the peer's FIN (a 0-byte receive). */
    data.buffer = 0;
    data.length = 0;
    for (;;) {
        STEP(13, call(c, WSKSOCK_IOCTL_RECEIVE, &data, sizeof(data), buf, RECV_CHUNK, &n));
        if (n == 0)
            break;
        for (i = 0; i < n; i++)
            if (buf[i] != pattern_byte(r->received + i))
                r->intact = 0;
        r->received += (ULONG)n;
        STEP(14, r->received <= expect ? STATUS_SUCCESS : STATUS_BUFFER_OVERFLOW);
    }
    STEP(15, r->received == expect ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL);

    /*
     * A consumer built against a header older than ABI version 3 sends the codes it knew, all
     * FILE_ANY_ACCESS: STATISTICS was CTL_CODE(0x8A5C, 0x810, METHOD_BUFFERED, FILE_ANY_ACCESS).
     * A kernel caller's old code is served as today's (docs/ABI.md, "Versions"), headed version 2.
     */
    RtlZeroMemory(&b, sizeof(b));
    b.handle_req.header = header(sizeof(b.handle_req));
    b.handle_req.header.version = 2;
    r->old_code = call(c, 0x8A5C2040u, &b, sizeof(b.handle_req), &b, sizeof(b.stats), &n);
    STEP(17, r->old_code);

out:
    if (h.generation != 0) {
        NTSTATUS st;
        RtlZeroMemory(&b, sizeof(b));
        b.close_req.header = header(sizeof(b.close_req));
        b.close_req.handle = h;
        b.close_req.mode = WSKSOCK_CLOSE_MODE_GRACEFUL;
        b.close_req.flags = WSKSOCK_CLOSE_FLAG_WAIT_FOR_TEARDOWN;
        st = call(c, WSKSOCK_IOCTL_CLOSE, &b, sizeof(b.close_req), &b, sizeof(b.close_reply), &n);
        if (NT_SUCCESS(r->status) && !NT_SUCCESS(st)) {
            r->status = st;
            r->step = 16;
        }
    }
    close_wsksock(c);
    if (buf)
        ExFreePoolWithTag(buf, TAG);
}

static ULONG get_dword(HANDLE key, PCWSTR name, ULONG dflt)
{
    UNICODE_STRING n;
    UCHAR raw[sizeof(KEY_VALUE_PARTIAL_INFORMATION) + sizeof(ULONG)];
    PKEY_VALUE_PARTIAL_INFORMATION v = (PKEY_VALUE_PARTIAL_INFORMATION)raw;
    ULONG len;

    RtlInitUnicodeString(&n, name);
    if (!NT_SUCCESS(ZwQueryValueKey(key, &n, KeyValuePartialInformation, v, sizeof(raw), &len)) ||
        v->Type != REG_DWORD || v->DataLength != sizeof(ULONG))
        return dflt;
    return *(ULONG *)v->Data;
}

static void set_dword(HANDLE key, PCWSTR name, ULONG value)
{
    UNICODE_STRING n;
    RtlInitUnicodeString(&n, name);
    ZwSetValueKey(key, &n, 0, REG_DWORD, &value, sizeof(value));
}

static VOID NTAPI unload(PDRIVER_OBJECT driver)
{
    (void)driver;
    DbgPrint("wskcons_c: unloaded\n");
}

NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry)
{
    OBJECT_ATTRIBUTES oa;
    HANDLE key;
    CONSUMER c;
    RESULT r;
    ULONG port, send_bytes, expect;

    driver->DriverUnload = unload;
    InitializeObjectAttributes(&oa, registry, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
    if (!NT_SUCCESS(ZwOpenKey(&key, KEY_READ | KEY_WRITE, &oa)))
        return STATUS_UNSUCCESSFUL;
    port = get_dword(key, L"PeerPort", 0);
    send_bytes = get_dword(key, L"SendBytes", 64 * 1024);
    expect = get_dword(key, L"ExpectBytes", 0);

    RtlZeroMemory(&c, sizeof(c));
    RtlZeroMemory(&r, sizeof(r));
    if (port == 0 || port > 0xFFFF || send_bytes < 2) {
        r.status = STATUS_INVALID_PARAMETER;
    } else {
        scenario(&c, (USHORT)port, send_bytes, expect, &r);
    }
    DbgPrint("wskcons_c: opened %lu, result 0x%08lx at step %lu, received %lu (intact %lu)\n",
             c.opened, (ULONG)r.status, r.step, r.received, r.intact);
    set_dword(key, L"Result", (ULONG)r.status);
    set_dword(key, L"FailedStep", NT_SUCCESS(r.status) ? 0 : r.step);
    set_dword(key, L"Received", r.received);
    set_dword(key, L"Intact", r.intact);
    set_dword(key, L"Opened", c.opened);
    set_dword(key, L"NoFileObject", (ULONG)r.no_file_object);
    set_dword(key, L"BadKernelBuffer", (ULONG)r.bad_kernel_buffer);
    set_dword(key, L"OldCode", (ULONG)r.old_code);
    ZwClose(key);
    return STATUS_SUCCESS;
}
