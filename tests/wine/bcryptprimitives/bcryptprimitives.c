/*
 * bcryptprimitives.dll for Wine 8.0, which does not ship it.
 *
 * Rust's std (>= 1.78) on Windows gets its random bytes (HashMap keys) from
 * bcryptprimitives.dll!ProcessPrng. Wine 8.0 has bcrypt.dll but not this DLL, so a Rust
 * program fails to start there. This stub, placed next to the .exe, forwards to
 * BCryptGenRandom with the system RNG. Built by `cargo xtask wine-test` with mingw-w64:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *       bcryptprimitives.c bcryptprimitives.def -lbcrypt
 * Not needed on Windows 10+ or Wine >= 9.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* BCryptGenRandom takes a ULONG length: feed it in pieces. */
    while (len) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
