/*
 * wine_smoke.exe PORT — a user-mode smoke client for wsksock.sys under Wine (built by
 * `cargo xtask cross --wine` with x86_64-w64-mingw32-gcc).
 *
 * Opens \\.\WskSock and runs: CLIENT_INFO, SOCKET(stream, IPv4), BIND(0.0.0.0:0),
 * CONNECT(127.0.0.1:PORT), SEND, RECEIVE (the peer echoes), a bad request (must fail cleanly),
 * a pending RECEIVE cancelled with CancelIoEx, CLOSE(default mode, wait for teardown) — which
 * must complete that receive with STATUS_CANCELLED — then a request on the closed handle (must be
 * STATUS_INVALID_HANDLE). Prints one "step status" line per step; exit code 0 only if every
 * step gave the expected status.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include "../../abi/include/wsksock.h"

static HANDLE dev;
static int failures;

/* The device is opened for overlapped I/O: start a request, returning ERROR_IO_PENDING or its result. */
static DWORD start(DWORD code, void *in, DWORD in_len, void *out, DWORD out_len, OVERLAPPED *ov)
{
    memset(ov, 0, sizeof *ov);
    ov->hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (DeviceIoControl(dev, code, in, in_len, out, out_len, NULL, ov)) return 0;
    return GetLastError();
}

/* Waits for a started request; returns its Win32 status. */
static DWORD finish(OVERLAPPED *ov, DWORD *got)
{
    DWORD n = 0;
    BOOL ok = GetOverlappedResult(dev, ov, &n, TRUE);
    DWORD err = ok ? 0 : GetLastError();
    if (got) *got = n;
    CloseHandle(ov->hEvent);
    return err;
}

static DWORD ioctl(DWORD code, void *in, DWORD in_len, void *out, DWORD out_len, DWORD *got)
{
    OVERLAPPED ov;
    DWORD err = start(code, in, in_len, out, out_len, &ov);
    if (err != 0 && err != ERROR_IO_PENDING) {
        CloseHandle(ov.hEvent);
        return err;
    }
    return finish(&ov, got);
}

static void expect(const char *step, DWORD err, DWORD want)
{
    printf("%s %lu%s\n", step, (unsigned long)err, err == want ? "" : " UNEXPECTED");
    if (err != want) failures++;
}

#define HDR(T) { sizeof(T), WSKSOCK_ABI_VERSION, 0 }

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5555;
    dev = CreateFileW(L"\\\\.\\WskSock", GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                      FILE_FLAG_OVERLAPPED, NULL);
    if (dev == INVALID_HANDLE_VALUE) {
        printf("open %lu UNEXPECTED\n", (unsigned long)GetLastError());
        return 2;
    }
    printf("open 0\n");

    WSKSOCK_CLIENT_INFO_REQUEST ci = { HDR(WSKSOCK_CLIENT_INFO_REQUEST) };
    WSKSOCK_CLIENT_INFO_REPLY cir;
    memset(&cir, 0, sizeof cir);
    expect("client_info", ioctl(WSKSOCK_IOCTL_CLIENT_INFO, &ci, sizeof ci, &cir, sizeof cir, NULL), 0);
    printf("abi_version %u\n", (unsigned)cir.abi_version);

    WSKSOCK_SOCKET_REQUEST sr = { HDR(WSKSOCK_SOCKET_REQUEST), WSKSOCK_AF_INET, WSKSOCK_SOCKET_KIND_STREAM, 0 };
    WSKSOCK_HANDLE_REPLY hr;
    memset(&hr, 0, sizeof hr);
    expect("socket", ioctl(WSKSOCK_IOCTL_SOCKET, &sr, sizeof sr, &hr, sizeof hr, NULL), 0);

    WSKSOCK_ADDRESSED_REQUEST br;
    memset(&br, 0, sizeof br);
    br.header = (WSKSOCK_HEADER)HDR(WSKSOCK_ADDRESSED_REQUEST);
    br.handle = hr.handle;
    br.addr.family = WSKSOCK_AF_INET;
    expect("bind", ioctl(WSKSOCK_IOCTL_BIND, &br, sizeof br, NULL, 0, NULL), 0);

    WSKSOCK_ADDRESSED_REQUEST cr = br;
    cr.addr.port = (uint16_t)port;
    cr.addr.addr[0] = 127; cr.addr.addr[3] = 1;
    expect("connect", ioctl(WSKSOCK_IOCTL_CONNECT, &cr, sizeof cr, NULL, 0, NULL), 0);

    static char msg[] = "hello-from-wsksock\n";
    WSKSOCK_DATA_REQUEST dr;
    memset(&dr, 0, sizeof dr);
    dr.header = (WSKSOCK_HEADER)HDR(WSKSOCK_DATA_REQUEST);
    dr.handle = hr.handle;
    DWORD sent = 0;
    expect("send", ioctl(WSKSOCK_IOCTL_SEND, &dr, sizeof dr, msg, (DWORD)strlen(msg), &sent), 0);
    printf("sent_bytes %lu\n", (unsigned long)sent);

    char buf[256];
    memset(buf, 0, sizeof buf);
    DWORD got = 0;
    expect("receive", ioctl(WSKSOCK_IOCTL_RECEIVE, &dr, sizeof dr, buf, sizeof buf - 1, &got), 0);
    printf("received_bytes %lu\n", (unsigned long)got);
    if (got != strlen(msg) || memcmp(buf, msg, got) != 0) { printf("echo UNEXPECTED\n"); failures++; }
    else printf("echo 0\n");

    /* A truncated request must fail with a status, not crash anything. */
    expect("short_request", ioctl(WSKSOCK_IOCTL_SOCKET, &sr, 3, &hr, sizeof hr, NULL), ERROR_INSUFFICIENT_BUFFER);

    /* A receive that pends (the peer sends nothing more), cancelled with CancelIoEx: the driver's
       cancel routine asks the engine, which asks WSK (Wine ignores IoCancelIrp on WSK IRPs), so
       the receive stays pending until the CLOSE below aborts it. */
    OVERLAPPED rov;
    char buf2[64];
    DWORD err = start(WSKSOCK_IOCTL_RECEIVE, &dr, sizeof dr, buf2, sizeof buf2, &rov);
    expect("pending_receive", err, ERROR_IO_PENDING);
    printf("cancel_io_ex %d\n", (int)CancelIoEx(dev, &rov));
    Sleep(200);

    WSKSOCK_CLOSE_REQUEST clr;
    memset(&clr, 0, sizeof clr);
    clr.header = (WSKSOCK_HEADER)HDR(WSKSOCK_CLOSE_REQUEST);
    clr.handle = hr.handle;
    clr.flags = WSKSOCK_CLOSE_FLAG_WAIT_FOR_TEARDOWN;
    WSKSOCK_CLOSE_REPLY clrr;
    memset(&clrr, 0, sizeof clrr);
    expect("close", ioctl(WSKSOCK_IOCTL_CLOSE, &clr, sizeof clr, &clrr, sizeof clrr, NULL), 0);
    printf("teardown_status 0x%08lx last_reference %lu\n", (unsigned long)clrr.teardown_status,
           (unsigned long)clrr.last_reference);

    if (err == ERROR_IO_PENDING) expect("receive_after_close", finish(&rov, NULL), ERROR_OPERATION_ABORTED);

    expect("stale_handle", ioctl(WSKSOCK_IOCTL_SEND, &dr, sizeof dr, msg, 1, NULL), ERROR_INVALID_HANDLE);

    CloseHandle(dev);
    printf("failures %d\n", failures);
    return failures ? 1 : 0;
}
