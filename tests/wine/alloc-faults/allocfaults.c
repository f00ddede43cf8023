/*
 * allocfaults.exe FROM TO GREET QUIET
 *
 * The workload of the Wine suite's `alloc-faults` scenario (docs/WINE.md), run once for every N
 * from FROM to TO in this one process, so that a run costs a driver load, the workload and an
 * unload — not four wine processes:
 *
 *   1. the service key's AllocFailAt = N (the test build of wsksock.sys fails its Nth pool
 *      allocation, counted from DriverEntry; 0: none);
 *   2. StartService(wsksock) — DriverEntry may fail for want of memory: reported, not an error;
 *   3. the workload, every request with a deadline (a request that never completes is reported
 *      "hung", and fails the scenario):
 *        client A: four connections, c1 to the GREET peer (100 bytes, then its FIN), the others
 *          to the QUIET peer (nothing: unread data at a close would make the close a reset) —
 *          c1: SOCKET BIND CONNECT, SEND 4000, RECEIVE the greeting, CLOSE graceful + wait;
 *          c2: SOCKET BIND CONNECT, SEND 2000, CLOSE abortive;
 *          c3: SOCKET BIND CONNECT, SET_OPTION SO_LINGER {1,1}, SEND 1000, CLOSE default;
 *          c4: SOCKET BIND CONNECT (QUIET), RECEIVE cancelled with CancelIoEx, RECEIVE
 *              cancelled with CANCEL, CLOSE linger 1 s + wait (which ends both under Wine,
 *              whose WSK ignores cancels);
 *        a CLOSE refused for want of memory (a waiting CLOSE reserves room) is sent again, as a
 *        client would ("cN.close-again");
 *        client B: c5 to QUIET with a RECEIVE pending, then the client's exit: CancelIoEx of
 *          everything and CloseHandle with the receive and the socket still open;
 *        client A's CloseHandle;
 *   4. ControlService(STOP) and the wait for STOPPED (unload).
 *
 * Output: one JSON line per N:
 *   {"n":N,"load":"ok"|"refused","requests":[["c1.socket","0x00000000"],...],"open":"ok"|"refused",
 *    "hung":["c4.recv1",...],"unload":"ok"|"timeout"|"abandoned","ms":T}
 * The data sent is the pattern byte[i] = i % 251 from offset 0 on each connection (the peers
 * check it); the greeting c1 receives is checked against it here (a corrupt one is recorded as
 * "c1.recv-corrupt" with its status).
 *
 * A request still pending at the end of its step (15 s) is reported in "hung". Its OVERLAPPED
 * and buffers must outlive it: a synchronous one is cancelled and waited for once more, the
 * receives (static storage) once their client's handle is closed; one still pending then ends
 * the line ("abandoned") and the process, since the next run would reuse its storage.
 *
 * Built with mingw-w64 against abi/include/wsksock.h (xtask/src/wine_test/build.rs).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winioctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "wsksock.h"

#define SERVICE L"wsksock"
#define STEP_MS 15000

static char out[16384];
static size_t out_len;
static int first_request;

static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + out_len, sizeof out - out_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_len += (size_t)n < sizeof out - out_len ? (size_t)n : sizeof out - out_len - 1;
}

static void record(const char *name, int32_t status)
{
    emit("%s[\"%s\",\"0x%08X\"]", first_request ? "" : ",", name, (unsigned)status);
    first_request = 0;
}

static char hung[2048];
/* Whether client A's first open was refused ("ok", "refused"). */
static const char *open_state = "ok";

static void record_hung(const char *name)
{
    size_t l = strlen(hung);
    snprintf(hung + l, sizeof hung - l, "%s\"%s\"", l ? "," : "", name);
}

static uint8_t pattern(uint64_t i) { return (uint8_t)(i % 251); }

static void header(WSKSOCK_HEADER *h, uint32_t size)
{
    h->size = size;
    h->version = WSKSOCK_ABI_VERSION;
    h->reserved = 0;
}

/* One request in flight: its OVERLAPPED and event. */
struct op {
    OVERLAPPED ov;
    BOOL sync_failed;
    DWORD error;
};

/* Issues an overlapped DeviceIoControl. */
static void start(HANDLE dev, struct op *o, DWORD code, void *in, DWORD in_len, void *outb, DWORD out_len_)
{
    memset(o, 0, sizeof *o);
    o->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    o->ov.Internal = (ULONG_PTR)STATUS_PENDING;
    DWORD got = 0;
    if (!DeviceIoControl(dev, code, in, in_len, outb, out_len_, &got, &o->ov)) {
        DWORD e = GetLastError();
        if (e != ERROR_IO_PENDING) {
            /* Refused before it pended (Wine leaves STATUS_PENDING in the OVERLAPPED then). */
            o->sync_failed = TRUE;
            o->error = e;
        }
    }
}

/* Waits for it; the NTSTATUS, or STATUS_PENDING if it did not complete within `ms`. */
static int32_t finish(struct op *o, DWORD ms)
{
    int32_t st;
    if (o->sync_failed) {
        switch (o->error) {
        case ERROR_NO_SYSTEM_RESOURCES: st = STATUS_INSUFFICIENT_RESOURCES; break;
        case ERROR_INVALID_HANDLE: st = STATUS_INVALID_HANDLE; break;
        case ERROR_INVALID_PARAMETER: st = STATUS_INVALID_PARAMETER; break;
        case ERROR_OPERATION_ABORTED: st = STATUS_CANCELLED; break;
        case ERROR_NOT_READY: st = STATUS_DEVICE_NOT_READY; break;
        case ERROR_INVALID_FUNCTION: st = STATUS_INVALID_DEVICE_REQUEST; break;
        default: st = STATUS_UNSUCCESSFUL; break;
        }
    } else if (WaitForSingleObject(o->ov.hEvent, ms) == WAIT_OBJECT_0) {
        st = (int32_t)o->ov.Internal;
    } else {
        st = STATUS_PENDING;
    }
    if (st != STATUS_PENDING)
        CloseHandle(o->ov.hEvent);
    return st;
}

/* Ends the line of a run that cannot go on (a request still pending whose OVERLAPPED and
 * buffers cannot be released: a late completion would write into them) and the process: the
 * sweep stops there, and the suite reports the run's hung requests. */
static void abandon(void)
{
    emit("],\"open\":\"%s\",\"hung\":[%s],\"unload\":\"abandoned\",\"ms\":0}", open_state, hung);
    printf("%s\n", out);
    fflush(stdout);
    ExitProcess(1);
}

/* A request of `dev` that did not complete within its step (already reported in `hung`), whose
 * storage its caller is about to release: cancelled and waited for once more, or abandoned. */
static void settle(HANDLE dev, struct op *o)
{
    CancelIoEx(dev, &o->ov);
    if (WaitForSingleObject(o->ov.hEvent, STEP_MS) != WAIT_OBJECT_0)
        abandon();
    CloseHandle(o->ov.hEvent);
}

/* Receives that did not complete within their step. Their storage is static; they are waited
 * for once their client's handle is closed (which ends every request of the client), before
 * the next run reuses that storage. */
static struct op *late[8];
static int late_count;

static void defer(struct op *o)
{
    if (late_count < (int)(sizeof late / sizeof late[0]))
        late[late_count++] = o;
    else
        abandon();
}

static void drain_late(void)
{
    for (int i = 0; i < late_count; i++) {
        if (WaitForSingleObject(late[i]->ov.hEvent, STEP_MS) != WAIT_OBJECT_0)
            abandon();
        CloseHandle(late[i]->ov.hEvent);
    }
    late_count = 0;
}

/* A receive started with static storage: its status recorded under `name`, or, if it did not
 * complete within its step, reported hung and deferred. */
static int32_t finish_receive(struct op *o, const char *name)
{
    int32_t st = finish(o, STEP_MS);
    if (st == STATUS_PENDING) {
        record_hung(name);
        defer(o);
    }
    return st;
}

/* A synchronous request: issued, waited for, recorded under `name`. */
static int32_t call(HANDLE dev, const char *name, DWORD code, void *in, DWORD in_len, void *outb, DWORD out_len_)
{
    struct op o;
    start(dev, &o, code, in, in_len, outb, out_len_);
    int32_t st = finish(&o, STEP_MS);
    if (st == STATUS_PENDING) {
        record_hung(name);
        settle(dev, &o);
    } else {
        record(name, st);
    }
    return st;
}

/* Opens a client and asks for its CLIENT_INFO: under Wine CreateFile returns before the driver
 * saw IRP_MJ_CREATE, so an open the driver refused shows at the first request. INVALID_HANDLE_VALUE
 * if refused. */
static HANDLE open_client(void)
{
    HANDLE h = CreateFileA(WSKSOCK_USER_PATH, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                           NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return h;
    WSKSOCK_CLIENT_INFO_REQUEST q = {0};
    header(&q.header, sizeof q);
    WSKSOCK_CLIENT_INFO_REPLY r = {0};
    struct op o;
    start(h, &o, WSKSOCK_IOCTL_CLIENT_INFO, &q, sizeof q, &r, sizeof r);
    int32_t st = finish(&o, STEP_MS);
    if (st == STATUS_PENDING) {
        record_hung("client_info");
        settle(h, &o);
    }
    if (st != STATUS_SUCCESS) {
        CloseHandle(h);
        return INVALID_HANDLE_VALUE;
    }
    return h;
}

static void loopback(WSKSOCK_SOCK_ADDR *a, uint16_t port)
{
    memset(a, 0, sizeof *a);
    a->family = WSKSOCK_AF_INET;
    a->port = port;
    if (port) {
        a->addr[0] = 127;
        a->addr[3] = 1;
    }
}

/* SOCKET, BIND, CONNECT to 127.0.0.1:port; the handle, or a null one. */
static WSKSOCK_HANDLE connect_to(HANDLE dev, const char *c, uint16_t port)
{
    char name[32];
    WSKSOCK_HANDLE none = {0, 0};
    WSKSOCK_SOCKET_REQUEST s = {0};
    header(&s.header, sizeof s);
    s.family = WSKSOCK_AF_INET;
    s.kind = WSKSOCK_SOCKET_KIND_STREAM;
    WSKSOCK_HANDLE_REPLY r = {0};
    snprintf(name, sizeof name, "%s.socket", c);
    if (call(dev, name, WSKSOCK_IOCTL_SOCKET, &s, sizeof s, &r, sizeof r) != STATUS_SUCCESS)
        return none;
    WSKSOCK_ADDRESSED_REQUEST b = {0};
    header(&b.header, sizeof b);
    b.handle = r.handle;
    loopback(&b.addr, 0);
    b.addr.addr[0] = 0;
    snprintf(name, sizeof name, "%s.bind", c);
    if (call(dev, name, WSKSOCK_IOCTL_BIND, &b, sizeof b, NULL, 0) != STATUS_SUCCESS)
        return r.handle;
    WSKSOCK_ADDRESSED_REQUEST k = {0};
    header(&k.header, sizeof k);
    k.handle = r.handle;
    loopback(&k.addr, port);
    snprintf(name, sizeof name, "%s.connect", c);
    call(dev, name, WSKSOCK_IOCTL_CONNECT, &k, sizeof k, NULL, 0);
    return r.handle;
}

static void send_pattern(HANDLE dev, const char *c, WSKSOCK_HANDLE h, DWORD len)
{
    char name[32];
    uint8_t *buf = malloc(len);
    for (DWORD i = 0; i < len; i++)
        buf[i] = pattern(i);
    WSKSOCK_DATA_REQUEST d = {0};
    header(&d.header, sizeof d);
    d.handle = h;
    snprintf(name, sizeof name, "%s.send", c);
    call(dev, name, WSKSOCK_IOCTL_SEND, &d, sizeof d, buf, len);
    free(buf);
}

static void close_handle(HANDLE dev, const char *c, WSKSOCK_HANDLE h, uint32_t mode, uint32_t secs, int wait)
{
    char name[32];
    WSKSOCK_CLOSE_REQUEST q = {0};
    header(&q.header, sizeof q);
    q.handle = h;
    q.mode = mode;
    q.linger_seconds = secs;
    q.flags = wait ? WSKSOCK_CLOSE_FLAG_WAIT_FOR_TEARDOWN : 0;
    WSKSOCK_CLOSE_REPLY r = {0};
    snprintf(name, sizeof name, "%s.close", c);
    if (call(dev, name, WSKSOCK_IOCTL_CLOSE, &q, sizeof q, &r, sizeof r) == STATUS_INSUFFICIENT_RESOURCES) {
        /* Refused for want of memory (a waiting CLOSE reserves room first): the handle is still
         * open, nothing changed; the client closes again, as one would. */
        snprintf(name, sizeof name, "%s.close-again", c);
        call(dev, name, WSKSOCK_IOCTL_CLOSE, &q, sizeof q, &r, sizeof r);
    }
}

static void receive_start(HANDLE dev, struct op *o, WSKSOCK_DATA_REQUEST *d, WSKSOCK_HANDLE h, uint8_t *buf,
                          DWORD len)
{
    memset(d, 0, sizeof *d);
    header(&d->header, sizeof *d);
    d->handle = h;
    start(dev, o, WSKSOCK_IOCTL_RECEIVE, d, sizeof *d, buf, len);
}

/* Client A's workload. */
static void client_a(HANDLE a, uint16_t greet, uint16_t quiet)
{
    /* c1: data both ways, graceful close with the wait flag. */
    WSKSOCK_HANDLE c1 = connect_to(a, "c1", greet);
    send_pattern(a, "c1", c1, 4000);
    static uint8_t g[100];
    static struct op o;
    static WSKSOCK_DATA_REQUEST d;
    receive_start(a, &o, &d, c1, g, sizeof g);
    int32_t st = finish_receive(&o, "c1.recv");
    if (st != STATUS_PENDING) {
        int intact = 1;
        for (ULONG_PTR i = 0; st == STATUS_SUCCESS && i < o.ov.InternalHigh && i < sizeof g; i++)
            intact &= g[i] == pattern(i);
        record(intact ? "c1.recv" : "c1.recv-corrupt", st);
    }
    close_handle(a, "c1", c1, WSKSOCK_CLOSE_MODE_GRACEFUL, 0, 1);

    /* c2: abortive close. */
    WSKSOCK_HANDLE c2 = connect_to(a, "c2", quiet);
    send_pattern(a, "c2", c2, 2000);
    close_handle(a, "c2", c2, WSKSOCK_CLOSE_MODE_ABORTIVE, 0, 0);

    /* c3: SO_LINGER {1,1}, default close (lingering). */
    WSKSOCK_HANDLE c3 = connect_to(a, "c3", quiet);
    WSKSOCK_OPTION_REQUEST l = {0};
    header(&l.header, sizeof l);
    l.handle = c3;
    l.option = WSKSOCK_SOCKET_OPTION_LINGER;
    l.value = 1;
    l.value2 = 1;
    call(a, "c3.linger", WSKSOCK_IOCTL_SET_OPTION, &l, sizeof l, NULL, 0);
    send_pattern(a, "c3", c3, 1000);
    close_handle(a, "c3", c3, WSKSOCK_CLOSE_MODE_DEFAULT, 0, 0);

    /* c4: two receives on a quiet peer, cancelled two ways, then the close (linger mode,
     * waiting) ends them. */
    WSKSOCK_HANDLE c4 = connect_to(a, "c4", quiet);
    static uint8_t r1[64], r2[64];
    static struct op o1, o2;
    static WSKSOCK_DATA_REQUEST d1, d2;
    receive_start(a, &o1, &d1, c4, r1, sizeof r1);
    CancelIoEx(a, &o1.ov);
    receive_start(a, &o2, &d2, c4, r2, sizeof r2);
    WSKSOCK_HANDLE_REQUEST cq = {0};
    header(&cq.header, sizeof cq);
    cq.handle = c4;
    WSKSOCK_CANCEL_REPLY cr = {0};
    call(a, "c4.cancel", WSKSOCK_IOCTL_CANCEL, &cq, sizeof cq, &cr, sizeof cr);
    close_handle(a, "c4", c4, WSKSOCK_CLOSE_MODE_LINGER, 1, 1);
    st = finish_receive(&o1, "c4.recv1");
    if (st != STATUS_PENDING)
        record("c4.recv1", st);
    st = finish_receive(&o2, "c4.recv2");
    if (st != STATUS_PENDING)
        record("c4.recv2", st);
}

/* Client B: a socket with a receive pending when the client goes away. */
static void client_b(uint16_t quiet)
{
    HANDLE b = open_client();
    if (b == INVALID_HANDLE_VALUE) {
        /* Refused (for want of memory: the only reason here): once more, as a client would. */
        record("b.open", STATUS_INSUFFICIENT_RESOURCES);
        b = open_client();
        if (b == INVALID_HANDLE_VALUE)
            return;
    }
    WSKSOCK_HANDLE c5 = connect_to(b, "c5", quiet);
    static uint8_t r[64];
    static struct op o;
    static WSKSOCK_DATA_REQUEST d;
    receive_start(b, &o, &d, c5, r, sizeof r);
    /* The exit: what the process's end does to its requests and its handle. */
    CancelIoEx(b, NULL);
    CloseHandle(b);
    int32_t st = finish_receive(&o, "c5.recv");
    if (st != STATUS_PENDING)
        record("c5.recv", st);
}

static DWORD service_state(SC_HANDLE svc)
{
    SERVICE_STATUS s;
    return QueryServiceStatus(svc, &s) ? s.dwCurrentState : 0;
}

/* Waits until the service is `want` (or STOPPED, which ends a failed start); the state. */
static DWORD wait_state(SC_HANDLE svc, DWORD want, DWORD ms)
{
    DWORD waited = 0, st = 0;
    while (waited <= ms) {
        st = service_state(svc);
        if (st == want || st == SERVICE_STOPPED)
            return st;
        Sleep(5);
        waited += 5;
    }
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: allocfaults FROM TO GREET_PORT QUIET_PORT\n");
        return 2;
    }
    unsigned long from = strtoul(argv[1], NULL, 10), to = strtoul(argv[2], NULL, 10);
    uint16_t greet = (uint16_t)atoi(argv[3]), quiet = (uint16_t)atoi(argv[4]);
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE svc = scm ? OpenServiceW(scm, SERVICE, SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS) : NULL;
    HKEY key;
    if (!svc || RegOpenKeyExW(HKEY_LOCAL_MACHINE, L"System\\CurrentControlSet\\Services\\wsksock", 0,
                              KEY_SET_VALUE, &key) != ERROR_SUCCESS) {
        fprintf(stderr, "allocfaults: cannot open the wsksock service or its key (error %lu)\n", GetLastError());
        return 1;
    }
    int failed = 0;
    for (unsigned long n = from; n <= to; n++) {
        DWORD t0 = GetTickCount();
        out_len = 0;
        hung[0] = 0;
        first_request = 1;
        DWORD v = (DWORD)n;
        RegSetValueExW(key, L"AllocFailAt", 0, REG_DWORD, (const BYTE *)&v, sizeof v);
        emit("{\"n\":%lu,", n);
        int running = StartServiceW(svc, 0, NULL) && wait_state(svc, SERVICE_RUNNING, STEP_MS) == SERVICE_RUNNING;
        if (!running) {
            emit("\"load\":\"refused\",\"requests\":[],\"hung\":[],\"unload\":\"none\",\"ms\":%lu}",
                 (unsigned long)(GetTickCount() - t0));
            printf("%s\n", out);
            fflush(stdout);
            /* A failed DriverEntry leaves it STOPPED; wait for that before the next start. */
            wait_state(svc, SERVICE_STOPPED, STEP_MS);
            continue;
        }
        emit("\"load\":\"ok\",\"requests\":[");
        open_state = "ok";
        HANDLE a = open_client();
        if (a == INVALID_HANDLE_VALUE) {
            open_state = "refused";
            a = open_client();
        }
        if (a != INVALID_HANDLE_VALUE) {
            client_a(a, greet, quiet);
            client_b(quiet);
            CloseHandle(a);
            drain_late();
        }
        SERVICE_STATUS ss;
        ControlService(svc, SERVICE_CONTROL_STOP, &ss);
        int stopped = wait_state(svc, SERVICE_STOPPED, 60000) == SERVICE_STOPPED;
        emit("],\"open\":\"%s\",\"hung\":[%s],\"unload\":\"%s\",\"ms\":%lu}", open_state, hung,
             stopped ? "ok" : "timeout", (unsigned long)(GetTickCount() - t0));
        printf("%s\n", out);
        fflush(stdout);
        if (!stopped) {
            failed = 1;
            break;
        }
    }
    RegCloseKey(key);
    return failed;
}
